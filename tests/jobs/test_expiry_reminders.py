"""mall.jobs.expiry_reminders: once per member, expiry date and reminder day; late, never doubled."""

import pytest

from mall import jobs
from mall.models import Message
from points import services
from tests.factories import MemberFactory
from tests.points.ledger import at, clock
from tests.threads import run_together

pytestmark = pytest.mark.django_db

END_OF_YEAR = at(2027, 1, 1)  # points usable through 2026-12-31


def earn(member, points, key, expires_at=END_OF_YEAR):
    with clock(at(2026, 6, 1)):
        return services.earn(member, points, key=key, reason="seed", expires_at=expires_at)


def reminders(member=None):
    qs = Message.objects.filter(purpose="expiry_reminder")
    if member is not None:
        qs = qs.filter(member=member)
    return list(qs.order_by("id").values_list("member__username", "period", "title", "body"))


@pytest.fixture
def population():
    alice, bob, carol, dave = (MemberFactory(username=name) for name in ("alice", "bob", "carol", "dave"))
    earn(alice, 1200, "a1")
    earn(alice, 88, "a2")
    earn(bob, 300, "b1", expires_at=at(2027, 2, 1))  # usable through 2027-01-31
    earn(carol, 500, "c1")
    with clock(at(2026, 7, 1)):
        services.spend(carol, 500, key="c-spend", reason="spent")  # nothing left to expire
    earn(dave, 50, "d1", expires_at=services.NEVER)
    return alice, bob, carol, dave


def test_thirty_days_ahead_then_seven_exact_messages(population):
    alice, bob, *_ = population
    assert jobs.expiry_reminders(now=at(2026, 12, 1, 9)) == {"due": 1, "reminders": 1}
    assert reminders() == [(
        "alice", "2026-12-31:30", "积分即将过期",
        "您有1,288积分将于2026-12-31过期（还有30天）。兑换好礼，别让积分白白过期。",
    )]
    message = Message.objects.get(member=alice)
    assert message.link == "/mall/?affordable=1"
    assert message.title_en == "Points expiring soon"
    assert message.body_en.startswith("1,288 of your points expire on 2026-12-31 (30 days left)")
    # The days between: the 30-day reminder is not sent again.
    assert jobs.expiry_reminders(now=at(2026, 12, 2, 9))["reminders"] == 0
    assert jobs.expiry_reminders(now=at(2026, 12, 24, 9)) == {"due": 1, "reminders": 1}
    assert [period for _, period, *_ in reminders(alice)] == ["2026-12-31:30", "2026-12-31:7"]
    # Bob's points (end of January) come into the 30-day window on January 1.
    assert reminders(bob) == []
    assert jobs.expiry_reminders(now=at(2027, 1, 1, 9))["reminders"] == 1
    assert [period for _, period, *_ in reminders(bob)] == ["2027-01-31:30"]


def test_run_twice_sends_nothing_twice(population):
    first = jobs.expiry_reminders(now=at(2026, 12, 1, 9))
    second = jobs.expiry_reminders(now=at(2026, 12, 1, 9, 5))
    assert first["reminders"] == 1 and second["reminders"] == 0
    assert len(reminders()) == 1


def test_missed_days_send_the_nearest_reminder_late_and_only_it(population):
    alice, *_ = population
    # The job did not run on December 1 (30 days): on December 3 the 30-day one goes, late.
    assert jobs.expiry_reminders(now=at(2026, 12, 3, 9))["reminders"] == 1
    assert reminders(alice)[0][1:3] == ("2026-12-31:30", "积分即将过期")
    assert "还有28天" in reminders(alice)[0][3]
    # Nothing ran since: 5 days before expiry only the 7-day reminder is due, once.
    assert jobs.expiry_reminders(now=at(2026, 12, 26, 9))["reminders"] == 1
    assert [period for _, period, *_ in reminders(alice)] == ["2026-12-31:30", "2026-12-31:7"]


def test_first_run_inside_seven_days_sends_one_reminder_not_two(population):
    alice, *_ = population
    assert jobs.expiry_reminders(now=at(2026, 12, 28, 9)) == {"due": 1, "reminders": 1}
    assert [period for _, period, *_ in reminders(alice)] == ["2026-12-31:7"]


def test_last_valid_day_still_reminds_and_after_expiry_nothing(population):
    alice, bob, *_ = population
    assert jobs.expiry_reminders(now=at(2026, 12, 31, 23))["reminders"] == 1
    assert "还有0天" in reminders(alice)[0][3]
    assert jobs.expiry_reminders(now=at(2027, 1, 1, 0, 30))["reminders"] == 1  # bob's, 30 days
    assert len(reminders(alice)) == 1  # alice's points have expired: nothing more for her


def test_month_end_in_february():
    member = MemberFactory()
    earn(member, 10, "f1", expires_at=at(2027, 3, 1))  # usable through 2027-02-28
    assert jobs.expiry_reminders(now=at(2027, 1, 29, 9))["reminders"] == 1
    assert reminders(member)[0][1] == "2027-02-28:30"
    assert jobs.expiry_reminders(now=at(2027, 2, 21, 9))["reminders"] == 1
    assert reminders(member)[1][1] == "2027-02-28:7"


def test_reminder_days_follow_the_published_rule_set(population):
    from rules.models import RuleSet

    RuleSet.objects.filter(status="published").update(reminder_days="14")
    assert jobs.expiry_reminders(now=at(2026, 12, 1, 9))["reminders"] == 0
    assert jobs.expiry_reminders(now=at(2026, 12, 17, 9))["reminders"] == 1
    assert reminders()[0][1] == "2026-12-31:14"


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_reminder_once():
    members = [MemberFactory() for _ in range(30)]
    for number, member in enumerate(members):
        earn(member, 100 + number, f"k{number}")
    results = run_together(2, lambda i: jobs.expiry_reminders(now=at(2026, 12, 1, 9)))
    assert sum(result["reminders"] for result in results) == 30
    assert Message.objects.filter(purpose="expiry_reminder").count() == 30


# ------------------------------------------------------------------ in chunks of account ids


def test_chunks_send_what_one_run_sends_and_a_chunk_twice_sends_nothing(population):
    from django.db import transaction

    from points.services.chunks import account_ranges

    for member in [MemberFactory() for _ in range(6)]:
        earn(member, 40 + member.pk, f"m{member.pk}")
    when = at(2026, 12, 1, 9)
    with transaction.atomic():
        whole = jobs.expiry_reminders(now=when)
        sent = reminders()
        transaction.set_rollback(True)
    assert whole == {"due": 7, "reminders": 7} and reminders() == []

    ranges = account_ranges(4)
    assert len(ranges) == 4
    summaries = [jobs.expiry_reminders(now=when, accounts=r) for r in ranges]
    assert sum(s["reminders"] for s in summaries) == sum(s["due"] for s in summaries) == 7
    assert sorted(reminders()) == sorted(sent)
    # Redelivered chunks: due again, nothing sent again.
    assert [jobs.expiry_reminders(now=when, accounts=r)["reminders"] for r in ranges] == [0] * 4
    assert len(reminders()) == 7


def test_the_scheduled_task_queues_chunks_at_one_now(population, settings, eager_tasks):
    from unittest import mock

    from mall import tasks

    settings.JOB_CHUNKS = 3
    with clock(at(2026, 12, 1, 9)):
        assert tasks.expiry_reminders() == {"chunks": 3}
    assert [period for _, period, *_ in reminders()] == ["2026-12-31:30"]
    with mock.patch("points.tasks.group") as group, clock(at(2026, 12, 24, 9)):
        assert tasks.expiry_reminders() == {"chunks": 3}
    signatures = list(group.call_args.args[0])
    assert {s.task for s in signatures} == {"mall.expiry_reminders_chunk"}
    assert {s.kwargs["now"] for s in signatures} == {at(2026, 12, 24, 9).isoformat()}
    assert len(reminders()) == 1  # queued, not run


@pytest.mark.django_db(transaction=True)
def test_chunks_in_parallel_threads_each_delivered_twice_send_each_reminder_once():
    from points.services.chunks import account_ranges

    members = [MemberFactory() for _ in range(30)]
    for number, member in enumerate(members):
        earn(member, 100 + number, f"k{number}")
    calls = [r for r in account_ranges(4) for _ in range(2)]
    results = run_together(len(calls), lambda i: jobs.expiry_reminders(now=at(2026, 12, 1, 9),
                                                                          accounts=calls[i]))
    assert sum(result["reminders"] for result in results) == 30
    assert Message.objects.filter(purpose="expiry_reminder").count() == 30
