"""The member's pages for tasks and badges (issue 11): today's tasks on the home page (and after
an htmx check-in), /badges/ with earned badges and progress; the lottery page's free draws."""

import pytest

from catalog.models import DrawTicket, Lottery
from mall.models import Badge, Task
from mall.services import play
from points import services as ledger

pytestmark = pytest.mark.django_db


def test_home_shows_todays_tasks_with_progress(member_client):
    Task.objects.create(name="分享两次", name_en="Share twice", behaviour="share", target=2, points=10)
    page = member_client.get("/").content.decode()
    assert 'data-testid="tasks"' in page and "Share twice" in page and "0 / 2" in page
    assert "+10" in page


@pytest.mark.django_db(transaction=True)  # real commits: the listener runs before the page renders
def test_an_htmx_check_in_completes_the_check_in_task_on_the_page(member_client):
    Task.objects.create(name="签到", name_en="Check in today", behaviour="check_in", target=1, points=5)
    page = member_client.post("/check-in/", HTTP_HX_REQUEST="true").content.decode()
    assert "Check in today" in page and "Done · +5" in page  # the listener ran at the commit


def test_the_badges_page(member, member_client):
    Badge.objects.filter(code="points-pro").update(threshold=100)
    ledger.earn(member, 120, key="e1", reason="test")
    play.award_badges(member.pk)
    page = member_client.get("/badges/").content.decode()
    assert "1 badge earned" in page
    assert 'class="badge-tile earned" data-badge="points-pro"' in page
    assert 'data-badge="redeem-king"' in page and "0 / 20" in page


def test_the_badges_page_in_chinese(member_client):
    page = member_client.get("/badges/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "我的徽章" in page and "积分达人" in page and "兑换王者" in page


def test_the_lottery_page_says_how_to_earn_a_free_draw_and_shows_one(member, member_client):
    lottery = Lottery.objects.get(streak_days=7)
    page = member_client.get(f"/lottery/{lottery.pk}/").content.decode()
    assert "Check in 7 days in a row to earn a free draw." in page
    assert 'data-testid="draw" disabled' in page
    DrawTicket.objects.create(key="t1", member=member, lottery=lottery)
    page = member_client.get(f"/lottery/{lottery.pk}/").content.decode()
    assert "You have 1 free draw" in page and 'data-testid="draw" disabled' not in page
