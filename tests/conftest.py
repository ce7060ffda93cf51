"""Shared fixtures. Imports of Django code stay inside the fixtures: this file is loaded before
the root conftest has pointed Django at its database."""

import pytest


@pytest.fixture
def member(db):
    from tests.factories import MemberFactory

    return MemberFactory()


@pytest.fixture
def staff(db):
    from tests.factories import StaffFactory

    return StaffFactory()


@pytest.fixture
def ledger_invariants():
    """Check the DESIGN.md 3.1 invariants in SQL for every account; returns the violations."""

    from django.db import connection

    def check():
        with connection.cursor() as cursor:
            cursor.execute(INVARIANT_SQL)
            return cursor.fetchall()

    return check


INVARIANT_SQL = """
SELECT a.id, a.available, a.pending, a.held, a.debt,
       COALESCE(l.available, 0), COALESCE(l.pending, 0), COALESCE(h.held, 0), COALESCE(e.total, 0)
FROM points_account a
LEFT JOIN (
    SELECT account_id,
           SUM(remaining) FILTER (WHERE NOT pending) AS available,
           SUM(remaining) FILTER (WHERE pending) AS pending
    FROM points_lot GROUP BY account_id
) l ON l.account_id = a.id
LEFT JOIN (
    SELECT account_id, SUM(amount) AS held FROM points_hold WHERE status = 'held' GROUP BY account_id
) h ON h.account_id = a.id
LEFT JOIN (SELECT account_id, SUM(delta) AS total FROM points_entry GROUP BY account_id) e
    ON e.account_id = a.id
WHERE a.available <> COALESCE(l.available, 0)
   OR a.pending <> COALESCE(l.pending, 0)
   OR a.held <> COALESCE(h.held, 0)
   OR a.available + a.pending + a.held - a.debt <> COALESCE(e.total, 0)
"""


@pytest.fixture(autouse=True)
def _default_rules_in_transactional_tests(request):
    """Transactional tests flush the database, data migrations' rows included: reinstall the
    default rule set and reward plan for them (other tests see the migrated one)."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        from referrals.services.plans import install_default as install_default_plan
        from rules.services import install_defaults

        install_defaults()
        install_default_plan()


@pytest.fixture(autouse=True)
def _forget_cached_plans():
    """Published reward plans are cached by id (they never change); a test that edits one in
    place (``tests.referrals.helpers.set_plan``) is rolled back, so no test sees another's."""
    yield
    from referrals.services import plans

    plans.forget_cached_plans()


@pytest.fixture
def eager_tasks():
    """Celery tasks queued by the code under test run at once, in this process (a dispatcher's
    chunks one after another); the app as it was afterwards."""
    from mall.celery import app

    saved = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved
