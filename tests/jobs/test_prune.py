"""``mall.jobs.prune``: refusals and hook events past the 30-day key retention, in batches."""

from datetime import timedelta

import pytest
from django.db import connection

from mall import jobs
from mall.models import HookEvent
from mall.services import hook_events
from points import services
from points.errors import InsufficientPoints
from points.models import Account, Entry, Refusal
from points.services import jobs as ledger_jobs
from tests.factories import MemberFactory
from tests.points.ledger import at, clock
from tests.threads import failures, run_together

NOW = at(2026, 3, 1, 4)
CUTOFF = NOW - timedelta(days=30)
# Older than 30 days: the first two; the cutoff itself and later are kept.
TIMES = {"day-early": CUTOFF - timedelta(days=1), "second-early": CUTOFF - timedelta(seconds=1),
         "at-cutoff": CUTOFF, "second-late": CUTOFF + timedelta(seconds=1), "today": NOW}


def refuse(member, key, when, points=1_000_000):
    with clock(when), pytest.raises(InsufficientPoints):
        services.spend(member, points, key=key, reason="r")


def receive(event_id, when):
    with clock(when):
        hook_events.apply_once(event_id=event_id, endpoint="order", payload={"id": event_id},
                               work=lambda: (200, {"ok": True}))


def prepare(member):
    with clock(NOW - timedelta(days=90)):
        services.earn(member, 100, key="old-earning", reason="r")
    for name, when in TIMES.items():
        refuse(member, f"refused-{name}", when)
        receive(f"event-{name}", when)


@pytest.mark.django_db
def test_prune_deletes_exactly_what_is_older_than_30_days_and_runs_twice(member):
    prepare(member)

    assert jobs.prune(now=NOW) == {"refusals": 2, "hook_events": 2}

    kept = ["at-cutoff", "second-late", "today"]
    assert sorted(Refusal.objects.values_list("key", flat=True)) == sorted(f"refused-{k}" for k in kept)
    assert sorted(HookEvent.objects.values_list("event_id", flat=True)) == sorted(f"event-{k}" for k in kept)
    assert list(Entry.objects.values_list("key", flat=True)) == ["old-earning"]  # entries are forever
    assert jobs.prune(now=NOW) == {"refusals": 0, "hook_events": 0}


@pytest.mark.django_db
def test_a_pruned_refusal_no_longer_holds_its_key(member):
    refuse(member, "late-retry", CUTOFF - timedelta(days=1), points=5)
    with clock(NOW):
        services.earn(member, 10, key="e", reason="r")
        with pytest.raises(InsufficientPoints):  # within the retention: refused the same way
            services.spend(member, 5, key="late-retry", reason="r")
    jobs.prune(now=NOW)
    with clock(NOW):
        assert services.spend(member, 5, key="late-retry", reason="r").delta == -5


@pytest.mark.django_db
def test_prune_works_in_batches(member, monkeypatch):
    for n in range(5):
        refuse(member, f"r{n}", CUTOFF - timedelta(hours=n + 1))
        receive(f"e{n}", CUTOFF - timedelta(hours=n + 1))
    refuse(member, "recent", NOW)
    monkeypatch.setattr(ledger_jobs, "PRUNE_BATCH", 2)

    assert jobs.prune(now=NOW) == {"refusals": 5, "hook_events": 5}
    assert list(Refusal.objects.values_list("key", flat=True)) == ["recent"]
    assert HookEvent.objects.count() == 0


def _many_old_rows(account_id, count):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO points_refusal (account_id, key, fingerprint, code, message, created_at) "
            "SELECT %s, 'old-' || g, '', 'insufficient_points', '', %s - g * interval '1 second' "
            "FROM generate_series(1, %s) g",
            [account_id, CUTOFF, count],
        )
        cursor.execute(
            "INSERT INTO mall_hookevent (event_id, endpoint, request_hash, status, response, created_at) "
            "SELECT 'old-' || g, 'order', '', 200, '{}'::jsonb, %s - g * interval '1 second' "
            "FROM generate_series(1, %s) g",
            [CUTOFF, count],
        )


@pytest.mark.django_db(transaction=True)
def test_two_prunes_at_once_delete_each_row_once(monkeypatch):
    member = MemberFactory()
    refuse(member, "recent", NOW)
    receive("recent", NOW)
    _many_old_rows(Account.objects.get(member=member).pk, 3000)
    monkeypatch.setattr(ledger_jobs, "PRUNE_BATCH", 400)

    results = run_together(2, lambda i: jobs.prune(now=NOW))

    assert failures(results) == []
    assert sum(r["refusals"] for r in results) == 3000
    assert sum(r["hook_events"] for r in results) == 3000
    assert list(Refusal.objects.values_list("key", flat=True)) == ["recent"]
    assert list(HookEvent.objects.values_list("event_id", flat=True)) == ["recent"]
