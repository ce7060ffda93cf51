"""GET /api/v1/me/tasks/ and GET /api/v1/me/badges/ (issue 11): the member's own progress."""

import pytest
from django.utils import timezone

from mall.models import Badge, BadgeAward, Task
from mall.services import play
from points import services as ledger
from points.services import earning
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_tasks_show_progress_and_completion(member, member_api, django_capture_on_commit_callbacks):
    check_in = Task.objects.create(name="签到", name_en="Check in", behaviour="check_in", target=1,
                                   points=5, position=1)
    Task.objects.create(name="分享两次", name_en="Share twice", behaviour="share", target=2,
                        points=10, period="week", position=2)
    with django_capture_on_commit_callbacks(execute=True):
        earning.check_in(member)
    response = member_api.get("/api/v1/me/tasks/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.json()
    today = timezone.localdate()
    assert body["day"] == today.isoformat()
    first, second = body["tasks"]
    assert first == {
        "id": check_in.pk, "name": "Check in", "behaviour": "check_in",
        "behaviour_display": "Check in", "period": "day", "period_key": today.isoformat(),
        "period_ends_on": today.isoformat(), "target": 1, "progress": 1, "completed": True,
        "points": 5, "points_awarded": 5,
    }
    assert (second["name"], second["progress"], second["completed"], second["points_awarded"]) == (
        "Share twice", 0, False, None)
    assert second["period_key"].count("-W") == 1
    # In Chinese for a Chinese reader.
    chinese = member_api.get("/api/v1/me/tasks/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert chinese["tasks"][0]["name"] == "签到"


def test_tasks_are_the_members_own(member, member_api):
    Task.objects.create(name="签到", behaviour="check_in", target=1, points=5)
    earning.check_in(MemberFactory())  # another member's check-in
    [task] = member_api.get("/api/v1/me/tasks/").json()["tasks"]
    assert task["progress"] == 0 and not task["completed"]


def test_badges_earned_with_dates_and_the_others_with_progress(member, member_api):
    Badge.objects.filter(code="points-pro").update(threshold=100)
    ledger.earn(member, 150, key="e1", reason="test")
    play.award_badges(member.pk)
    award = BadgeAward.objects.get(member=member)
    body = member_api.get("/api/v1/me/badges/", HTTP_ACCEPT_LANGUAGE="en").json()
    [earned] = body["earned"]
    assert earned["code"] == "points-pro" and earned["name"] == "Points Pro"
    assert earned["earned_period"] == "all" and earned["progress"] == 150
    assert earned["earned_at"][:19] == timezone.localtime(award.awarded_at).isoformat()[:19]
    assert earned["icon"] is None
    others = {badge["code"]: badge for badge in body["others"]}
    assert set(others) == {"redeem-king", "check-in-star"}
    assert (others["check-in-star"]["metric"], others["check-in-star"]["threshold"],
            others["check-in-star"]["progress"]) == ("check_in_streak", 30, 0)


def test_badges_need_a_login(client):
    assert client.get("/api/v1/me/badges/").status_code == 401
    assert client.get("/api/v1/me/tasks/").status_code == 401
