"""The member's lottery page: odds before drawing, a draw by POST with the page's key (a double
click is one draw), refusals shown, and the link from the mall."""

import pytest

from catalog.models import Draw, Lottery, Prize, PrizeKind
from tests.catalog.helpers import fund
from tests.pages.helpers import KEY_RE, available, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def lottery():
    lottery = Lottery.objects.create(name="Spring draw", cost_points=10)
    Prize.objects.create(lottery=lottery, name="Gold coin", kind=PrizeKind.POINTS, weight=1,
                         points=30, stock=2)
    Prize.objects.create(lottery=lottery, name="Better luck", kind=PrizeKind.NOTHING, weight=3)
    return lottery


def page_key(member_client, lottery):
    response = member_client.get(f"/lottery/{lottery.pk}/")
    assert response.status_code == 200
    return KEY_RE.search(text(response)).group(1)


def test_the_page_shows_the_odds_and_a_draw_button(member_client, lottery):
    page = text(member_client.get(f"/lottery/{lottery.pk}/"))
    assert "Spring draw" in page and "10 points per draw" in page
    assert "Gold coin" in page and "25.00%" in page and "75.00%" in page
    assert 'data-testid="draw"' in page and "csrfmiddlewaretoken" in page


def test_a_double_click_is_one_draw(member, member_client, lottery):
    fund(member, 100)
    key = page_key(member_client, lottery)
    first = member_client.post(f"/lottery/{lottery.pk}/", {"key": key})
    second = member_client.post(f"/lottery/{lottery.pk}/", {"key": key})
    assert first.status_code == second.status_code == 200
    assert 'data-testid="lottery-result"' in text(first) and "You won:" in text(second)
    assert Draw.objects.count() == 1
    won = 30 if Draw.objects.get().prize.name == "Gold coin" else 0
    assert available(member) == 90 + won


def test_a_refusal_is_shown_and_nothing_drawn(member, member_client, lottery):
    key = page_key(member_client, lottery)
    response = member_client.post(f"/lottery/{lottery.pk}/", {"key": key})
    assert response.status_code == 409
    assert 'data-code="insufficient_points"' in text(response)
    assert Draw.objects.count() == 0


def test_a_malformed_key_is_a_400(member_client, lottery):
    response = member_client.post(f"/lottery/{lottery.pk}/", {"key": "nope"})
    assert response.status_code == 400
    assert Draw.objects.count() == 0


def test_a_closed_lottery_is_404_and_the_mall_links_open_ones(member_client, lottery):
    closed = Lottery.objects.create(name="Old draw", active=False)
    assert member_client.get(f"/lottery/{closed.pk}/").status_code == 404
    mall = text(member_client.get("/mall/"))
    assert f'href="/lottery/{lottery.pk}/"' in mall and "Old draw" not in mall


def test_anonymous_is_sent_to_sign_in(client, lottery):
    response = client.get(f"/lottery/{lottery.pk}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
