"""Tasks and badges in the admin (issue 11), as the campaign manager (活动运营) uses them: define
a task, define a badge with an uploaded icon, award it now; completions and awards read-only."""

import io

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from mall.models import Badge, BadgeAward, Task
from points import services as ledger
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    user = StaffFactory(username="campaigns")
    user.groups.add(Group.objects.get(name="活动运营 / Campaign manager"))
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def png() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (232, 89, 12)).save(buffer, "PNG")
    return SimpleUploadedFile("medal.png", buffer.getvalue(), content_type="image/png")


def test_the_campaign_manager_adds_a_task(manager_client):
    response = manager_client.post(reverse("admin:mall_task_add"), {
        "name": "每日分享", "name_en": "Share today", "behaviour": "share", "period": "day",
        "target": "2", "points": "10", "active": "on", "position": "0",
        "starts_at_0": "", "starts_at_1": "", "ends_at_0": "", "ends_at_1": "",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    task = Task.objects.get()
    assert (task.behaviour, task.target, task.points) == ("share", 2, 10)
    # Switched off, never deleted (completions refer to it).
    assert manager_client.get(reverse("admin:mall_task_delete", args=[task.pk])).status_code == 403


def test_a_task_ending_before_it_starts_is_a_form_error(manager_client):
    response = manager_client.post(reverse("admin:mall_task_add"), {
        "name": "x", "behaviour": "share", "period": "day", "target": "1", "points": "1",
        "position": "0", "starts_at_0": "2026-12-10", "starts_at_1": "00:00:00",
        "ends_at_0": "2026-12-01", "ends_at_1": "00:00:00",
    })
    assert response.status_code == 200 and "The end must be after the start." in response.content.decode()
    assert not Task.objects.exists()


def test_the_campaign_manager_adds_a_badge_with_an_icon_and_awards_it_now(manager_client):
    response = manager_client.post(reverse("admin:mall_badge_add"), {
        "code": "big-spender", "name": "消费达人", "name_en": "Big Spender", "icon": png(),
        "metric": "points_earned", "threshold": "100", "period": "rolling", "period_days": "30",
        "points": "50", "active": "on", "position": "5",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    badge = Badge.objects.get(code="big-spender")
    assert badge.icon.name.startswith("badges/") and badge.period_days == 30
    member = MemberFactory()
    ledger.earn(member, 150, key="e1", reason="test")
    response = manager_client.post(reverse("admin:mall_badge_changelist"), {
        "action": "award_now", "_selected_action": [badge.pk]}, follow=True)
    assert "1 badge award(s) made." in response.content.decode()
    assert BadgeAward.objects.get(badge=badge).member == member


def test_a_rolling_badge_needs_its_days(manager_client):
    response = manager_client.post(reverse("admin:mall_badge_add"), {
        "code": "r", "name": "R", "metric": "orders", "threshold": "3", "period": "rolling",
        "period_days": "", "points": "0", "active": "on", "position": "0",
    })
    assert response.status_code == 200 and "Say how many days the window has." in response.content.decode()


def test_completions_and_awards_are_read_only(manager_client):
    assert manager_client.get(reverse("admin:mall_taskcompletion_changelist")).status_code == 200
    assert manager_client.get(reverse("admin:mall_badgeaward_changelist")).status_code == 200
    assert manager_client.get(reverse("admin:mall_taskcompletion_add")).status_code == 403
    assert manager_client.get(reverse("admin:mall_badgeaward_add")).status_code == 403


def test_the_campaign_manager_runs_lotteries_and_auctions(manager_client):
    assert manager_client.get(reverse("admin:catalog_lottery_add")).status_code == 200
    assert manager_client.get(reverse("admin:catalog_auction_add")).status_code == 200
    assert manager_client.get(reverse("admin:catalog_draw_changelist")).status_code == 200
    assert manager_client.get(reverse("admin:catalog_drawticket_changelist")).status_code == 200
    assert manager_client.get(reverse("admin:catalog_product_add")).status_code == 403


def test_the_member_page_lists_the_badges_earned(client):
    from mall.services import play

    root = StaffFactory(username="root", is_superuser=True)
    client.force_login(root)
    member = MemberFactory()
    Badge.objects.filter(code="points-pro").update(threshold=10)
    ledger.earn(member, 10, key="e1", reason="test")
    play.award_badges(member.pk)
    body = client.get(reverse("admin:mall_member_change", args=[member.pk]),
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "积分达人 (all," in body and "All badge awards of this member" in body
