"""Which rule sets are live is kept per process for RULES_LIVE_CACHE_SECONDS (rules.selectors):
no query once warm, a change made here seen at once, a change made elsewhere seen within the
seconds, and nothing kept from a transaction that changed rule sets (it might roll back)."""

import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from points import services as points
from rules import services
from rules.models import RuleSet, RuleSetStatus
from rules.selectors import active_rulebook, forget_live_versions, rulebook_for
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db(transaction=True)


def queries(function):
    with CaptureQueriesContext(connection) as captured:
        result = function()
    return result, len(captured)


def new_version(percent=None):
    """A draft cloned from the published set, published (or put in gray at ``percent``) by a
    second staff member (four eyes)."""
    draft = services.clone_as_draft(RuleSet.objects.get(status=RuleSetStatus.PUBLISHED),
                                    actor=StaffFactory())
    if percent is None:
        return services.publish(draft, actor=StaffFactory())
    return services.start_gray(draft, actor=StaffFactory(), percent=percent)


def test_a_warm_process_reads_the_live_versions_without_a_query():
    forget_live_versions()
    book, cold = queries(active_rulebook)
    again, warm = queries(active_rulebook)
    assert cold >= 1 and warm == 0
    assert again is book


def test_earn_without_an_expiry_costs_what_an_explicit_expiry_costs():
    member = MemberFactory()
    points.earn(member, 10, key="warm", reason="warm up")
    explicit_at = points.earn(member, 10, key="warm-2", reason="x").lots.get().expires_at
    _, plain = queries(lambda: points.earn(member, 10, key="plain", reason="x"))
    _, explicit = queries(lambda: points.earn(member, 10, key="explicit", reason="x",
                                              expires_at=explicit_at))
    assert plain == explicit


def test_a_publish_in_this_process_is_seen_at_once(settings):
    settings.RULES_LIVE_CACHE_SECONDS = 3600
    before = active_rulebook().version
    published = new_version()
    assert published.version != before
    assert active_rulebook().version == published.version


def test_a_gray_release_in_this_process_is_seen_at_once(settings):
    settings.RULES_LIVE_CACHE_SECONDS = 3600
    member = MemberFactory()
    assert rulebook_for(member).version == active_rulebook().version
    candidate = new_version(percent=100)
    assert rulebook_for(member).version == candidate.version


def test_a_change_made_by_another_process_is_seen_within_the_seconds(settings):
    settings.RULES_LIVE_CACHE_SECONDS = 0.2
    first = active_rulebook().version
    published = new_version()
    assert active_rulebook().version == published.version
    # Another process rolls back to the first version: no signal reaches this one.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rules_ruleset SET status = 'retired' WHERE version = %s",
                       [published.version])
        cursor.execute("UPDATE rules_ruleset SET status = 'published' WHERE version = %s", [first])
    assert active_rulebook().version == published.version  # still this process's copy
    time.sleep(0.3)
    assert active_rulebook().version == first


def test_nothing_is_kept_from_a_transaction_that_changed_rule_sets_and_rolled_back(settings):
    settings.RULES_LIVE_CACHE_SECONDS = 3600
    before = active_rulebook().version

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), transaction.atomic():
        published = new_version()
        # Inside, the transaction sees its own publish...
        assert active_rulebook().version == published.version
        raise RolledBack
    # ...and after the rollback nobody does.
    assert active_rulebook().version == before
