"""Daily tasks, badges and the check-in streak's free draw (issue 11; mall.services.play).

The awards react to activity announced after commit (common.events): these tests run the
on-commit callbacks (``django_capture_on_commit_callbacks(execute=True)``) or real threads.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import services as catalog_services
from catalog.errors import NoFreeDraw
from catalog.models import DrawTicket, Lottery, Prize, PrizeKind
from mall import jobs
from mall.models import Badge, BadgeAward, Message, Task, TaskCompletion
from mall.services import play
from points import services as ledger
from points.models import BehaviourRecord, Entry
from points.services import earning
from rules.models import RuleSet, RuleSetStatus
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory
from tests.points.ledger import clock, totals
from tests.threads import failures, run_together

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(django_capture_on_commit_callbacks):
    """``events(service, *args, **kwargs)``: call the service, then what it announced, as after
    a real commit (the test's own transaction never commits)."""
    def call(service, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return service(*args, **kwargs)

    return call


def days_ago(n: int):
    return timezone.now() - timedelta(days=n)


def share(events, member, key):
    return events(earning.record_behaviour, member, action="share", occurred_at=timezone.now(), key=key)


# --------------------------------------------------------------------------- tasks


class TestTasks:
    def test_a_check_in_task_posts_its_points_once_a_day(self, member, events):
        task = Task.objects.create(name="每日签到", behaviour="check_in", target=1, points=5)
        events(earning.check_in, member)
        events(earning.check_in, member)  # the same day again: no new check-in, no new award
        [completion] = TaskCompletion.objects.all()
        assert (completion.task, completion.member, completion.points) == (task, member, 5)
        assert completion.period == timezone.localdate().isoformat()
        assert completion.entry.delta == 5 and completion.entry.reason == "完成任务：每日签到"
        assert Entry.objects.filter(key__startswith="task:").count() == 1

    def test_a_task_completes_only_at_its_target(self, member, events):
        Task.objects.create(name="Share twice", behaviour="share", target=2, points=10)
        share(events, member, "s1")
        assert not TaskCompletion.objects.exists()
        assert [p.progress for p in play.tasks_today(member)] == [1]
        share(events, member, "s2")
        [progress] = play.tasks_today(member)
        assert (progress.progress, progress.completed, progress.points_awarded) == (2, True, 10)

    def test_a_share_task_stays_within_the_daily_behaviour_cap(self, member, events):
        # Default rules: share 50 points, cap 500 a day. Two shares use 100 of it.
        Task.objects.create(name="Share twice", behaviour="share", target=2, points=1000)
        share(events, member, "s1")
        share(events, member, "s2")
        [completion] = TaskCompletion.objects.all()
        assert completion.points == 400
        bonus = BehaviourRecord.objects.get(action=play.TASK_ACTION)
        assert bonus.points == 400 and bonus.entry == completion.entry
        # The cap is used up for the rest of the day: the next share earns nothing.
        points, _reason = share(events, member, "s3")
        assert points == 0

    def test_a_check_in_task_is_not_capped(self, member, events):
        Task.objects.create(name="Check in", behaviour="check_in", target=1, points=800)
        events(earning.check_in, member)
        assert TaskCompletion.objects.get().points == 800

    def test_a_weekly_order_task_counts_the_week(self, member, events):
        Task.objects.create(name="Two orders a week", behaviour="order", period="week", target=2,
                            points=30)
        monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday())
        first = timezone.make_aware(timezone.datetime.combine(monday, timezone.datetime.min.time()))
        first += timedelta(hours=10)
        lines = [{"sku": "A", "amount": "10.00"}]
        events(earning.record_paid_order, member, order_id="w1", amount="10.00", lines=lines, paid_at=first)
        assert not TaskCompletion.objects.exists()
        events(earning.record_paid_order, member, order_id="w2", amount="10.00", lines=lines,
                                  paid_at=first + timedelta(hours=1))
        completion = TaskCompletion.objects.get()
        year, week, _ = monday.isocalendar()
        assert completion.period == f"{year}-W{week:02d}"
        # The same order delivered again (a hook retry) changes nothing.
        events(earning.record_paid_order, member, order_id="w2", amount="10.00", lines=lines,
                                  paid_at=first + timedelta(hours=1))
        assert TaskCompletion.objects.count() == 1

    def test_a_redeem_task(self, member, events):
        Task.objects.create(name="Redeem a gift", behaviour="redeem", target=1, points=20)
        fund(member, 100)
        redemption = events(catalog_services.redeem, member, make_product(points_price=30), key="r1")
        assert TaskCompletion.objects.get().points == 20
        assert totals(member)["available"] == 100 - redemption.points + 20

    def test_a_closed_or_inactive_task_awards_nothing(self, member, events):
        Task.objects.create(name="Old", behaviour="check_in", target=1, points=5,
                            ends_at=days_ago(1), starts_at=days_ago(3))
        Task.objects.create(name="Off", behaviour="check_in", target=1, points=5, active=False)
        events(earning.check_in, member)
        assert not TaskCompletion.objects.exists()
        assert play.tasks_today(member) == []

    def test_duplicate_awards_complete_once(self, member):
        task = Task.objects.create(name="Check in", behaviour="check_in", target=1, points=5)
        earning.check_in(member)  # no events here: the awards are called by hand
        assert len(play.award_tasks(member.pk, "check_in")) == 1
        assert play.award_tasks(member.pk, "check_in") == []
        assert TaskCompletion.objects.filter(task=task).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_task_awards_complete_once(ledger_invariants):
    member = MemberFactory()
    earning.check_in(member)
    earning.record_behaviour(member, action="share", occurred_at=timezone.now(), key="s1")
    # Created after the activity: only the racing calls below can complete them.
    Task.objects.create(name="Check in", behaviour="check_in", target=1, points=5)
    Task.objects.create(name="Share", behaviour="share", target=1, points=7)
    results = run_together(8, lambda i: len(play.award_tasks(member.pk, "check_in" if i % 2 else "share")))
    assert failures(results) == []
    assert TaskCompletion.objects.filter(member=member).count() == 2
    assert BehaviourRecord.objects.filter(action=play.TASK_ACTION).count() == 1
    assert ledger_invariants() == []


# --------------------------------------------------------------------------- the streak's free draw


def streak_lottery(**fields):
    lottery = Lottery.objects.create(name=fields.pop("name", "7-day draw"), cost_points=0,
                                     tickets_only=True, streak_days=7, **fields)
    Prize.objects.create(lottery=lottery, name="30 points", kind=PrizeKind.POINTS, weight=1, points=30)
    return lottery


def check_in_days(events, member, days: int, *, last_ago: int = 0):
    for n in range(days - 1 + last_ago, last_ago - 1, -1):
        events(earning.check_in, member, now=days_ago(n))


class TestStreakDraw:
    @pytest.fixture(autouse=True)
    def _without_the_default_streak_lottery(self):
        Lottery.objects.filter(streak_days__isnull=False).update(active=False)

    def test_seven_days_in_a_row_earn_one_free_draw_once_per_streak(self, member, events):
        lottery = streak_lottery()
        check_in_days(events, member, 6, last_ago=3)
        assert not DrawTicket.objects.exists()
        check_in_days(events, member, 1, last_ago=2)  # the 7th day
        [ticket] = DrawTicket.objects.filter(lottery=lottery)
        assert ticket.member == member and ticket.reason == "连续签到7天"
        check_in_days(events, member, 1, last_ago=1)  # the 8th day of the same streak: nothing more
        assert DrawTicket.objects.filter(lottery=lottery).count() == 1
        message = Message.objects.get(member=member, purpose="free_draw")
        assert message.link == f"/lottery/{lottery.pk}/"

    def test_the_free_draw_costs_nothing_and_is_used_once(self, member, events):
        lottery = streak_lottery()
        with pytest.raises(NoFreeDraw):
            catalog_services.draw(member, lottery, key="d0")
        check_in_days(events, member, 7)
        before = totals(member)["available"]
        draw = catalog_services.draw(member, lottery, key="d1")
        assert draw.points_spent == 0 and draw.entry is None
        assert DrawTicket.objects.get(lottery=lottery).draw == draw
        assert totals(member)["available"] == before + 30
        assert catalog_services.draw(member, lottery, key="d1") == draw  # a replay
        with pytest.raises(NoFreeDraw):
            catalog_services.draw(member, lottery, key="d2")

    def test_a_free_draw_of_a_paid_lottery_skips_the_cost_and_the_daily_limit(self, member):
        lottery = Lottery.objects.create(name="Paid", cost_points=10, daily_limit=1)
        Prize.objects.create(lottery=lottery, name="Thanks", kind=PrizeKind.NOTHING, weight=1)
        fund(member, 100)
        catalog_services.draw(member, lottery, key="p1")
        DrawTicket.objects.create(key="gift", member=member, lottery=lottery)
        free = catalog_services.draw(member, lottery, key="p2")  # over the daily limit, yet free
        assert free.points_spent == 0
        assert totals(member)["available"] == 90

    def test_a_broken_streak_starts_a_new_one(self, member, events):
        lottery = streak_lottery()
        check_in_days(events, member, 7, last_ago=9)  # days -15 .. -9
        check_in_days(events, member, 7, last_ago=0)  # days -6 .. 0, after a gap
        assert DrawTicket.objects.filter(lottery=lottery, member=member).count() == 2


# --------------------------------------------------------------------------- badges


def earn(member, points, key):
    return ledger.earn(member, points, key=key, reason="test")


class TestBadges:
    def test_the_default_badges(self):
        assert list(Badge.objects.values_list("name", "metric", "threshold", "period")) == [
            ("积分达人", "points_earned", 10_000, "all_time"),
            ("兑换王者", "redemptions", 20, "all_time"),
            ("签到达人", "check_in_streak", 30, "all_time"),
        ]

    def test_a_badge_is_awarded_at_the_event_once_with_its_points_and_a_message(self, member, events):
        badge = Badge.objects.create(code="orders-2", name="老顾客", name_en="Regular",
                                     metric="orders", threshold=2, points=88)
        lines = [{"sku": "A", "amount": "0.50"}]  # worth 0 points: only the badge earns
        for n in (1, 2, 3):
            events(earning.record_paid_order, member, order_id=f"o{n}", amount="0.50", lines=lines,
                                      paid_at=timezone.now())
        [award] = BadgeAward.objects.filter(badge=badge)
        assert (award.member, award.period, award.value, award.points) == (member, "all", 2, 88)
        assert Entry.objects.get(key=f"badge:{badge.pk}:all:{member.pk}").delta == 88
        message = Message.objects.get(member=member, purpose="badge_earned")
        assert message.title == "恭喜获得「老顾客」徽章"
        assert message.title_en == "You earned the Regular badge"

    def test_points_earned_counts_refunds_back(self, member):
        badge = Badge.objects.create(code="p100", name="P", metric="points_earned", threshold=100)
        entry = earn(member, 120, "e1")
        ledger.reverse(entry, 30, key="r1", reason="refund")
        assert play.metric_value(member.pk, badge.metric, None) == 90
        assert play.award_badges(member.pk) == []

    def test_a_monthly_badge_recurs_each_month_and_a_rolling_one_does_not(self, member):
        monthly = Badge.objects.create(code="m", name="M", metric="points_earned", threshold=10,
                                       period="month")
        rolling = Badge.objects.create(code="r", name="R", metric="points_earned", threshold=10,
                                       period="rolling", period_days=30)
        earn(member, 10, "e1")
        now = timezone.now()
        awarded = {a.badge for a in play.award_badges(member.pk, now=now)}
        assert awarded >= {monthly, rolling}
        assert BadgeAward.objects.get(badge=monthly).period == timezone.localdate(now).strftime("%Y-%m")
        # Next month, with points earned then: the monthly badge again, the rolling one not.
        later = now + timedelta(days=32)
        with clock(later):
            earn(member, 10, "e2")
        again = play.award_badges(member.pk, now=later)
        assert [a.badge for a in again] == [monthly]
        assert BadgeAward.objects.filter(badge=rolling).count() == 1

    def test_the_nightly_job_awards_what_events_missed_once(self, member):
        badge = Badge.objects.create(code="p50", name="P50", metric="points_earned", threshold=50,
                                     points=5)
        other = MemberFactory()
        earn(member, 60, "grant-1")  # a grant announces nothing
        earn(other, 40, "grant-2")
        first = jobs.award_due_badges()
        assert first["awarded"] >= 1
        assert list(BadgeAward.objects.filter(badge=badge).values_list("member", flat=True)) == [member.pk]
        assert Entry.objects.get(key=f"badge:{badge.pk}:all:{member.pk}").delta == 5
        assert Message.objects.filter(member=member, purpose="badge_earned").count() == 1
        assert jobs.award_due_badges()["awarded"] == 0
        assert play.award_badges(member.pk) == []  # the event path agrees

    def test_badges_of_shows_earned_and_progress(self, member):
        Badge.objects.filter(code="points-pro").update(threshold=100)
        earn(member, 150, "e1")
        play.award_badges(member.pk)
        standings = {s.badge.code: s for s in play.badges_of(member)}
        assert standings["points-pro"].award is not None and standings["points-pro"].progress == 150
        assert standings["redeem-king"].award is None and standings["redeem-king"].progress == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_badge_awards_and_the_job_award_and_pay_once(ledger_invariants):
    members = [MemberFactory() for _ in range(3)]
    badge = Badge.objects.create(code="p10", name="P10", metric="points_earned", threshold=10,
                                 points=3)
    for m in members:
        earn(m, 10, f"e{m.pk}")

    def run(i):
        if i % 3 == 0:
            return jobs.award_due_badges()
        return play.award_badges(members[i % len(members)].pk)

    assert failures(run_together(9, run)) == []
    assert BadgeAward.objects.filter(badge=badge).count() == 3
    assert Entry.objects.filter(key__startswith=f"badge:{badge.pk}:").count() == 3
    assert Message.objects.filter(purpose="badge_earned").count() == 3
    assert ledger_invariants() == []


def test_rule_set_cap_is_read_from_the_published_rules():
    # Guard for the cap test above: the default rules still cap behaviours at 500 a day.
    published = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    assert published.daily_behaviour_cap == 500
    assert Decimal(published.behaviours.get(action="share").points) == 50
