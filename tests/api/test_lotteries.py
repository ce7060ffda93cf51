"""Lotteries over the member API: the open ones with their odds, and a draw with an
Idempotency-Key."""

import pytest

from catalog.models import Draw, Lottery, Prize, PrizeKind
from points.models import Entry
from tests.catalog.helpers import fund, snapshot
from tests.factories import MemberFactory
from tests.points.ledger import totals

pytestmark = pytest.mark.django_db

LOTTERIES = "/api/v1/lotteries/"


def draw_url(lottery_id):
    return f"{LOTTERIES}{lottery_id}/draw/"


def error(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


@pytest.fixture
def member(db):
    return MemberFactory(established=True)


@pytest.fixture
def lottery():
    lottery = Lottery.objects.create(name="Spring draw", cost_points=10, daily_limit=3)
    Prize.objects.create(lottery=lottery, name="500 points", kind=PrizeKind.POINTS, weight=1,
                         points=500, stock=0)
    Prize.objects.create(lottery=lottery, name="20 points", kind=PrizeKind.POINTS, weight=1,
                         points=20, stock=4)
    Prize.objects.create(lottery=lottery, name="Thanks", kind=PrizeKind.NOTHING, weight=3)
    return lottery


def draw(client, lottery_id, key="d-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(draw_url(lottery_id), format="json", **headers)


def test_the_open_lotteries_with_their_odds(member_api, lottery):
    Lottery.objects.create(name="Closed", active=False)
    response = member_api.get(LOTTERIES)
    assert response.status_code == 200
    body = response.json()
    # Newest first; the streak lottery of catalog 0011 is open too.
    assert [row["name"] for row in body["results"]] == ["Spring draw", "连续签到7天抽大奖"]
    row, streak = body["results"]
    assert {k: row[k] for k in ("id", "name", "cost_points", "daily_limit", "tickets_only",
                                "streak_days", "free_draws")} == {
        "id": lottery.pk, "name": "Spring draw", "cost_points": 10, "daily_limit": 3,
        "tickets_only": False, "streak_days": None, "free_draws": 0}
    assert (streak["tickets_only"], streak["streak_days"], streak["free_draws"]) == (True, 7, 0)
    assert [(p["name"], p["kind"], p["points"], p["odds"]) for p in row["prizes"]] == [
        ("500 points", "points", 500, 0.0), ("20 points", "points", 20, 0.25),
        ("Thanks", "nothing", None, 0.75)]


def test_a_draw_returns_the_prize_and_a_repeat_the_same_draw(member, member_api, lottery):
    fund(member, 100)
    first = draw(member_api, lottery.pk)
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["lottery"] == lottery.pk and body["points_spent"] == 10
    assert body["prize"]["name"] in ("20 points", "Thanks")
    again = draw(member_api, lottery.pk)
    assert again.status_code == 201 and again.json() == body
    assert (first["Idempotent-Replayed"], again["Idempotent-Replayed"]) == ("false", "true")
    assert Draw.objects.count() == 1
    assert Entry.objects.filter(kind="spend").count() == 1
    won = 20 if body["prize"]["name"] == "20 points" else 0
    assert totals(member)["available"] == 90 + won


def test_a_draw_needs_an_idempotency_key(member, member_api, lottery):
    fund(member, 100)
    response = draw(member_api, lottery.pk, key=None)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert Draw.objects.count() == 0


def test_too_few_points_is_a_409_and_writes_nothing(member, member_api, lottery):
    fund(member, 5)
    before = snapshot()
    response = draw(member_api, lottery.pk)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_points"
    assert snapshot() == before


def test_the_daily_limit_is_a_409(member, member_api, lottery):
    fund(member, 100)
    for n in range(3):
        assert draw(member_api, lottery.pk, key=f"d-{n}").status_code == 201
    response = draw(member_api, lottery.pk, key="d-9")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "daily_limit_reached"


def test_a_closed_lottery_is_a_409(member, member_api, lottery):
    fund(member, 100)
    Lottery.objects.filter(pk=lottery.pk).update(active=False)
    response = draw(member_api, lottery.pk)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "lottery_closed"


@pytest.mark.parametrize("lottery_id", ["0", "abc", "99999999", "1" * 30])
def test_an_unknown_lottery_is_a_404(member, member_api, lottery_id):
    response = draw(member_api, lottery_id)
    assert (response.status_code, response.json()) == (404, error("not_found", "No such lottery."))


def test_two_members_keys_never_meet(member, member_api, lottery, token_for):
    from rest_framework.test import APIClient

    other = MemberFactory(established=True)
    fund(member, 100)
    fund(other, 100)
    other_api = APIClient(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=f"Bearer {token_for(other)}")
    assert draw(member_api, lottery.pk).status_code == 201
    assert draw(other_api, lottery.pk).status_code == 201
    assert Draw.objects.count() == 2


def test_anonymous_is_401(api, lottery):
    assert api.get(LOTTERIES).status_code == 401
    assert draw(api, lottery.pk).status_code == 401
