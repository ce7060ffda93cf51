"""The nightly tier re-evaluation (``mall.jobs.reevaluate_tiers``): upgrades at once, a grace
below the tier, one rank down after it, recovery during it; exact changes and messages for a
prepared population, run twice, in two threads at once, across a missed day and a month end."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from mall import jobs
from mall.models import Message, TierChange
from points import services
from points.models import Entry
from points.services import earning
from tests.factories import MemberFactory, StaffFactory
from tests.points.ledger import at, clock
from tests.threads import failures, run_together
from tests.tiers.helpers import NOW, changes, earn, inbox, set_tier, state

pytestmark = pytest.mark.django_db

GRACE_UNTIL = date(2026, 7, 13)  # NOW's day + 30 days of grace, the last day kept
ZERO = {"upgraded": 0, "grace_started": 0, "recovered": 0, "downgraded": 0}


def population():
    """Members in every situation, with what they earned in the window."""
    people = {name: MemberFactory(username=name) for name in (
        "to_silver", "to_gold", "gold_below", "silver_exact", "silver_refunded", "quiet", "old_earner")}
    earn(people["to_silver"], 2500)
    earn(people["to_gold"], 12000)  # two ranks at once
    set_tier(people["gold_below"], "gold")
    earn(people["gold_below"], 3000)
    set_tier(people["silver_exact"], "silver")
    earn(people["silver_exact"], 2000)
    set_tier(people["silver_refunded"], "silver")
    order = earn(people["silver_refunded"], 2500)
    with clock(at(2026, 6, 5)):
        services.reverse(order, 600, key="refund-1", reason="refund")  # 1,900 qualify
    earn(people["old_earner"], 3000, when=at(2025, 6, 13, 23, 59))  # before the window
    staff = StaffFactory(username="staff")
    earn(staff, 5000)  # staff accounts are not re-evaluated
    people["staff"] = staff
    return people


def test_a_prepared_population_gets_exact_changes_and_messages():
    people = population()
    entries_before = Entry.objects.count()

    result = jobs.reevaluate_tiers(now=NOW)

    assert result == {"members": 7, "upgraded": 2, "grace_started": 2, "recovered": 0, "downgraded": 0}
    assert {name: state(member) for name, member in people.items()} == {
        "to_silver": ("silver", None),
        "to_gold": ("gold", None),
        "gold_below": ("gold", GRACE_UNTIL),
        "silver_exact": ("silver", None),
        "silver_refunded": ("silver", GRACE_UNTIL),
        "quiet": ("normal", None),
        "old_earner": ("normal", None),
        "staff": ("normal", None),
    }
    assert changes(people["to_silver"]) == [("normal", "silver", "upgrade", 2500, None)]
    assert changes(people["to_gold"]) == [("normal", "gold", "upgrade", 12000, None)]
    assert changes(people["gold_below"]) == [("gold", "gold", "grace", 3000, GRACE_UNTIL)]
    assert changes(people["silver_refunded"]) == [("silver", "silver", "grace", 1900, GRACE_UNTIL)]
    assert TierChange.objects.count() == 4
    assert TierChange.objects.filter(rule_version=1, at=NOW).count() == 4

    assert inbox(people["to_silver"]) == [
        ("tier_upgrade", "恭喜升级为银卡会员", "恭喜！您已从普通会员升级为银卡会员，享受更高的积分倍率。")]
    assert inbox(people["to_gold"]) == [
        ("tier_upgrade", "恭喜升级为金卡会员", "恭喜！您已从普通会员升级为金卡会员，享受更高的积分倍率。")]
    assert inbox(people["gold_below"]) == [
        ("tier_grace", "保级提醒", "您的金卡会员等级将于2026-07-13到期。在此之前再获得7,000积分即可保级。")]
    assert inbox(people["silver_refunded"]) == [
        ("tier_grace", "保级提醒", "您的银卡会员等级将于2026-07-13到期。在此之前再获得100积分即可保级。")]
    english = Message.objects.get(member=people["to_gold"])
    assert (english.title_en, english.body_en, english.kind, english.link) == (
        "You are now Gold", "Congratulations! You moved up from Normal to Gold and earn at a higher rate.",
        "tier", "/account/")
    assert Message.objects.count() == 4
    # The job posts nothing to the ledger.
    assert Entry.objects.count() == entries_before


def test_running_twice_changes_and_sends_nothing_more():
    population()
    jobs.reevaluate_tiers(now=NOW)
    snapshot = (list(TierChange.objects.values_list("id", flat=True)),
                list(Message.objects.values_list("id", flat=True)))

    assert jobs.reevaluate_tiers(now=NOW) == {"members": 7, **ZERO}
    assert jobs.reevaluate_tiers(now=NOW + timedelta(hours=20)) == {"members": 7, **ZERO}  # next night
    assert (list(TierChange.objects.values_list("id", flat=True)),
            list(Message.objects.values_list("id", flat=True))) == snapshot


def test_down_one_rank_only_after_the_last_day_of_grace():
    member = MemberFactory()
    set_tier(member, "gold")
    earn(member, 500)  # below silver too
    jobs.reevaluate_tiers(now=NOW)
    assert state(member) == ("gold", GRACE_UNTIL)

    assert jobs.reevaluate_tiers(now=at(2026, 7, 13, 2))["downgraded"] == 0  # the last day kept
    assert state(member) == ("gold", GRACE_UNTIL)

    assert jobs.reevaluate_tiers(now=at(2026, 7, 14, 2))["downgraded"] == 1
    assert state(member) == ("silver", None)  # one rank, not straight to normal
    assert inbox(member)[-1] == (
        "tier_downgrade", "会员等级调整为银卡会员",
        "保级期已结束，您的会员等级由金卡会员调整为银卡会员。继续积累积分即可重新升级。")

    # Still below silver: its own grace on the next run, then normal after it.
    assert jobs.reevaluate_tiers(now=at(2026, 7, 15, 2))["grace_started"] == 1
    assert state(member) == ("silver", date(2026, 8, 13))
    assert inbox(member)[-1] == (
        "tier_grace", "保级提醒", "您的银卡会员等级将于2026-08-13到期。在此之前再获得1,500积分即可保级。")
    jobs.reevaluate_tiers(now=at(2026, 8, 14, 2))
    assert state(member) == ("normal", None)
    assert [(c[0], c[1], c[2]) for c in changes(member)] == [
        ("gold", "gold", "grace"), ("gold", "silver", "downgrade"),
        ("silver", "silver", "grace"), ("silver", "normal", "downgrade")]
    assert [purpose for purpose, _title, _body in inbox(member)] == [
        "tier_grace", "tier_downgrade", "tier_grace", "tier_downgrade"]


def test_earning_back_during_grace_ends_it_without_a_message():
    member = MemberFactory()
    set_tier(member, "gold")
    earn(member, 3000)
    jobs.reevaluate_tiers(now=NOW)
    earn(member, 7000, when=at(2026, 6, 20, 12))

    assert jobs.reevaluate_tiers(now=at(2026, 6, 21, 2))["recovered"] == 1

    assert state(member) == ("gold", None)
    assert changes(member)[-1] == ("gold", "gold", "recovered", 10000, None)
    assert [purpose for purpose, _title, _body in inbox(member)] == ["tier_grace"]
    # Falling below again later starts a new grace (and a new message).
    assert jobs.reevaluate_tiers(now=at(2027, 6, 2, 2))["grace_started"] == 1
    assert [purpose for purpose, _title, _body in inbox(member)] == ["tier_grace", "tier_grace"]


def test_an_upgrade_during_grace_ends_it():
    member = MemberFactory()
    set_tier(member, "silver", grace_until=GRACE_UNTIL)
    earn(member, 10000)

    jobs.reevaluate_tiers(now=NOW)

    assert state(member) == ("gold", None)
    assert changes(member) == [("silver", "gold", "upgrade", 10000, None)]


def test_a_missed_night_changes_nothing_but_the_day_it_happens():
    below, climber = MemberFactory(), MemberFactory()
    set_tier(below, "gold", grace_until=GRACE_UNTIL)
    earn(climber, 2000, when=at(2026, 7, 13, 12))

    # No run on 07-14; the run of 07-15 downgrades once and upgrades at once.
    result = jobs.reevaluate_tiers(now=at(2026, 7, 15, 2))

    assert (result["downgraded"], result["upgraded"]) == (1, 1)
    assert state(below) == ("silver", None)
    assert state(climber) == ("silver", None)
    assert jobs.reevaluate_tiers(now=at(2026, 7, 15, 2))["downgraded"] == 0


def test_a_grace_across_a_month_end_counts_local_days():
    member = MemberFactory()
    set_tier(member, "silver")
    jobs.reevaluate_tiers(now=at(2026, 1, 31, 2))
    assert state(member) == ("silver", date(2026, 3, 1))  # 30 days from 31 January, February short

    jobs.reevaluate_tiers(now=at(2026, 3, 1, 23, 59))
    assert state(member) == ("silver", date(2026, 3, 1))
    # 16:00 UTC on 1 March is already 2 March in Shanghai.
    jobs.reevaluate_tiers(now=datetime(2026, 3, 1, 16, 0, tzinfo=UTC))
    assert state(member) == ("normal", None)


@pytest.mark.parametrize(("earned_at", "tier"), [
    (at(2025, 6, 14, 0, 0), "silver"),  # the first moment of the window: today − 365 days
    (at(2025, 6, 13, 23, 59), "normal"),  # the minute before
    (at(2026, 6, 14, 1, 59), "silver"),  # today, before the run
    (at(2026, 6, 14, 2, 1), "normal"),  # after the run's moment: not yet
])
def test_the_window_is_365_local_days_before_today_and_today_until_now(earned_at, tier):
    member = MemberFactory()
    earn(member, 2000, when=earned_at)

    jobs.reevaluate_tiers(now=NOW)

    assert state(member) == (tier, None)


def test_grace_days_zero_drops_at_once():
    from rules.models import RuleSet

    RuleSet.objects.filter(status="published").update(tier_grace_days=0)
    member = MemberFactory()
    set_tier(member, "gold")
    earn(member, 2500)

    assert jobs.reevaluate_tiers(now=NOW)["downgraded"] == 1
    assert state(member) == ("silver", None)
    assert [purpose for purpose, _title, _body in inbox(member)] == ["tier_downgrade"]


def test_the_job_is_set_based(django_assert_max_num_queries):
    for n in range(30):
        earn(MemberFactory(), 2000 + n)
    with django_assert_max_num_queries(16):
        assert jobs.reevaluate_tiers(now=NOW)["upgraded"] == 30
    assert Message.objects.filter(purpose="tier_upgrade").count() == 30


def test_earning_follows_the_tier_the_job_gave():
    member = MemberFactory()
    earn(member, 12000)
    jobs.reevaluate_tiers(now=NOW)
    member.refresh_from_db()

    result = earning.record_paid_order(
        member, order_id="o-gold", amount=Decimal("100.00"), paid_at=NOW,
        lines=[{"sku": "apple", "amount": "100.00"}], now=NOW)

    assert result.points == 160  # 100 × 1.5 for gold, + 10 for 满100返10
    assert "gold ×1.5" in result.explanation["lines"][0]


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_change_and_send_once():
    people = population()

    results = run_together(2, lambda _i: jobs.reevaluate_tiers(now=NOW))

    assert failures(results) == []
    assert sum(result["upgraded"] for result in results) == 2
    assert sum(result["grace_started"] for result in results) == 2
    assert TierChange.objects.count() == 4
    assert Message.objects.count() == 4
    assert state(people["gold_below"]) == ("gold", GRACE_UNTIL)
    assert jobs.reevaluate_tiers(now=NOW) == {"members": 7, **ZERO}
