"""mall.jobs.win_back: inactive members get wake-up points and a message, once per cooldown."""

from datetime import timedelta
from decimal import Decimal

import pytest

from mall import jobs
from mall.models import Message
from points import services
from points.models import CheckIn, Entry, Order
from tests.factories import MemberFactory, StaffFactory
from tests.points.ledger import at, clock, totals
from tests.threads import run_together

pytestmark = pytest.mark.django_db

NOW = at(2026, 12, 1, 10)


def joined(days_ago, **fields):
    return MemberFactory(date_joined=NOW - timedelta(days=days_ago), **fields)


def woken():
    return sorted(Message.objects.filter(purpose="win_back").values_list("member__username", flat=True))


def wakeup_entries(member):
    return list(Entry.objects.filter(account__member=member, key__startswith="winback:")
                .values_list("delta", "reason", "reference"))


@pytest.fixture
def population():
    sleeper = joined(200, username="sleeper")
    joined(30, username="newcomer")
    joined(200, username="visitor", last_active_at=NOW - timedelta(days=59))
    joined(200, username="signed_in", last_login=NOW - timedelta(days=10))
    buyer = joined(200, username="buyer")
    Order.objects.create(external_id="o-1", member=buyer, tier="normal", amount=Decimal("10"),
                         paid_at=NOW - timedelta(days=20))
    checker = joined(200, username="checker")
    CheckIn.objects.create(member=checker, day=(NOW - timedelta(days=3)).date(), streak=1)
    old_activity = joined(300, username="old_activity", last_active_at=NOW - timedelta(days=61))
    StaffFactory(date_joined=NOW - timedelta(days=200))
    MemberFactory(date_joined=NOW - timedelta(days=200), is_active=False)
    return sleeper, old_activity


def test_inactive_members_get_points_and_a_message_exactly(population, ledger_invariants):
    sleeper, old_activity = population
    with clock(NOW):
        result = jobs.win_back(now=NOW)
    assert result == {"members": 2, "granted": 2, "messages": 2}
    assert woken() == ["old_activity", "sleeper"]
    assert wakeup_entries(sleeper) == [(50, "唤醒礼：欢迎回来", "win-back")]
    assert totals(sleeper)["available"] == 50
    message = Message.objects.get(member=sleeper)
    assert message.title == "好久不见，送您50积分"
    assert message.body == "您已60天没有来了，我们为您送上50积分，欢迎回来逛逛积分商城。"
    assert ledger_invariants() == []


def test_run_twice_and_the_next_days_do_nothing_until_the_cooldown_ends(population):
    sleeper, _ = population
    with clock(NOW):
        jobs.win_back(now=NOW)
    with clock(NOW):
        assert jobs.win_back(now=NOW) == {"members": 0, "granted": 0, "messages": 0}
    later = NOW + timedelta(days=30)
    with clock(later):  # only the visitor has become inactive since
        assert jobs.win_back(now=later)["granted"] == 1
    assert woken() == ["old_activity", "sleeper", "visitor"]
    # 90 days (the default cooldown) later, still inactive: woken again, once; the visitor (woken
    # 61 days ago) waits; the others' activity is now 60 days old or more.
    after = NOW + timedelta(days=91)
    with clock(after):
        assert jobs.win_back(now=after) == {"members": 6, "granted": 6, "messages": 6}
        assert jobs.win_back(now=after)["granted"] == 0
    assert Message.objects.filter(member__username="visitor").count() == 1
    assert [delta for delta, *_ in wakeup_entries(sleeper)] == [50, 50]
    assert Message.objects.filter(member=sleeper, purpose="win_back").count() == 2


def test_the_rule_set_decides_days_points_and_cooldown(population):
    from rules.models import RuleSet

    RuleSet.objects.filter(status="published").update(inactive_days=15, wakeup_points=7,
                                                       wakeup_cooldown_days=10)
    with clock(NOW):
        result = jobs.win_back(now=NOW)
    # signed in 10 days ago and checked in 3 days ago: still active; the buyer (20 days) is not.
    assert woken() == ["buyer", "newcomer", "old_activity", "sleeper", "visitor"]
    assert result["granted"] == 5
    assert Message.objects.get(member__username="buyer").title == "好久不见，送您7积分"


def test_debt_is_recovered_from_the_wakeup_points_and_new_accounts_are_made(ledger_invariants):
    indebted, fresh = joined(200, username="indebted"), joined(200, username="fresh")
    with clock(NOW - timedelta(days=150)):
        entry = services.earn(indebted, 100, key="e", reason="order")
        services.spend(indebted, 80, key="s", reason="spent")
        services.reverse(entry, key="r", reason="refund")  # 80 spent: 80 debt
    assert totals(indebted)["debt"] == 80
    with clock(NOW):
        assert jobs.win_back(now=NOW)["granted"] == 2
    assert totals(indebted)["debt"] == 30 and totals(indebted)["available"] == 0
    assert totals(fresh)["available"] == 50
    assert ledger_invariants() == []


def test_many_members_in_chunks(monkeypatch, ledger_invariants):
    monkeypatch.setattr(jobs, "CHUNK", 7)
    members = [joined(200) for _ in range(20)]
    with clock(NOW):
        assert jobs.win_back(now=NOW) == {"members": 20, "granted": 20, "messages": 20}
    assert all(totals(member)["available"] == 50 for member in members)
    assert ledger_invariants() == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_grant_and_send_once(ledger_invariants):
    members = [joined(200) for _ in range(40)]

    # One patch around both threads: a patch entered and left in each thread can leave the
    # other's mock in place for every later test.
    with clock(NOW):
        results = run_together(2, lambda _: jobs.win_back(now=NOW))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Entry.objects.filter(key__startswith="winback:").count() == 40
    assert Message.objects.filter(purpose="win_back").count() == 40
    assert sum(result["messages"] for result in results) == 40
    assert all(totals(member)["available"] == 50 for member in members)
    assert ledger_invariants() == []
