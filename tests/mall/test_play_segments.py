"""Tasks for some RFM segments: offered to (listed for) and completed by members of those segments
only; a task naming no segment is for everyone."""

import pytest
from django.utils import timezone

from mall.models import Task, TaskCompletion
from mall.services import play
from points.services import earning
from rules.segments import Segment
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(db):
    return {
        "vip": Task.objects.create(name="VIP check-in", behaviour="check_in", target=1, points=50,
                                   segments=[Segment.IMPORTANT_VALUE, Segment.IMPORTANT_DEVELOP]),
        "all": Task.objects.create(name="Check-in", behaviour="check_in", target=1, points=5),
    }


def check_in(django_capture_on_commit_callbacks, member):
    with django_capture_on_commit_callbacks(execute=True):
        earning.check_in(member)


def test_a_member_of_a_segment_is_offered_and_completes_the_task(tasks, django_capture_on_commit_callbacks):
    member = MemberFactory(segment=Segment.IMPORTANT_DEVELOP)
    assert [p.task.name for p in play.tasks_today(member)] == ["VIP check-in", "Check-in"]
    check_in(django_capture_on_commit_callbacks, member)
    assert sorted(TaskCompletion.objects.filter(member=member).values_list("task__name", "points")) == [
        ("Check-in", 5), ("VIP check-in", 50)]


@pytest.mark.parametrize("segment", [Segment.GENERAL_RETAIN, ""])
def test_others_are_neither_offered_nor_complete_it(tasks, django_capture_on_commit_callbacks, segment):
    member = MemberFactory(segment=segment)
    assert [p.task.name for p in play.tasks_today(member)] == ["Check-in"]
    check_in(django_capture_on_commit_callbacks, member)
    assert list(TaskCompletion.objects.filter(member=member).values_list("task__name", flat=True)) == [
        "Check-in"]
    assert play.award_tasks(member.pk, "check_in", now=timezone.now()) == []


def test_the_member_api_lists_only_the_tasks_offered(tasks, client):
    member = MemberFactory(segment=Segment.GENERAL_VALUE)
    client.force_login(member)
    body = client.get("/api/v1/me/tasks/").json()
    assert [row["name"] for row in body["tasks"]] == ["Check-in"]
