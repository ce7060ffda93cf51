"""Points auctions over the member API: list, detail (masked leader, own bid), bid with an
Idempotency-Key; refusals as 409s with their codes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Auction, Bid
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory
from tests.points.ledger import totals

pytestmark = pytest.mark.django_db

AUCTIONS = "/api/v1/auctions/"


@pytest.fixture
def auction():
    now = timezone.now()
    return Auction.objects.create(product=make_product(name="Tea set", stock=1),
                                  starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
                                  start_price=100, increment=10, reserve_price=500)


def bid(client, auction, points, key="k-1"):
    return client.post(f"{AUCTIONS}{auction.pk}/bids/", {"points": points}, format="json",
                       headers={"Idempotency-Key": key})


def test_bid_then_detail_and_list(member, member_api, auction, api, token_for):
    fund(member, 1000)
    response = bid(member_api, auction, 100)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["bid"]["points"] == 100 and body["bid"]["status"] == "leading"
    assert body["auction"]["current_price"] == 100 and body["auction"]["minimum_bid"] == 110
    assert body["auction"]["leading_is_you"] is True and body["auction"]["has_reserve"] is True
    assert totals(member)["held"] == 100
    # The same key and body: the same bid, nothing more held.
    again = bid(member_api, auction, 100)
    assert again.status_code == 201 and again.json()["bid"]["id"] == body["bid"]["id"]
    assert (response["Idempotent-Replayed"], again["Idempotent-Replayed"]) == ("false", "true")
    assert Bid.objects.count() == 1

    other = MemberFactory(established=True, username="zhang")
    fund(other, 1000)
    other_api = type(member_api)(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=f"Bearer {token_for(other)}")
    assert bid(other_api, auction, 130, key="k-2").status_code == 201
    detail = member_api.get(f"{AUCTIONS}{auction.pk}/").json()
    assert detail["leader"] == "z***" and detail["leading_is_you"] is False
    assert detail["your_bid"]["status"] == "outbid" and detail["your_bid"]["points"] == 100
    assert detail["bid_count"] == 2 and detail["product"]["name"] == "Tea set"
    assert "reserve_price" not in detail
    assert totals(member)["held"] == 0

    listing = member_api.get(AUCTIONS).json()
    assert listing["count"] == 1 and listing["results"][0]["current_price"] == 130
    assert api.get(AUCTIONS).status_code == 401


def test_refusals_are_409s_with_codes(member, member_api, auction):
    fund(member, 150)
    assert bid(member_api, auction, 90).json()["error"]["code"] == "bid_too_low"
    response = bid(member_api, auction, 200, key="k-rich")
    assert response.status_code == 409 and response.json()["error"]["code"] == "insufficient_points"
    assert bid(member_api, auction, 100, key="k-ok").status_code == 201
    assert bid(member_api, auction, 120, key="k-3").json()["error"]["code"] == "already_leading"
    Auction.objects.filter(pk=auction.pk).update(ends_at=timezone.now() - timedelta(seconds=1),
                                                 starts_at=timezone.now() - timedelta(hours=1))
    response = bid(member_api, auction, 500, key="k-4")
    assert response.status_code == 409 and response.json()["error"]["code"] == "auction_closed"


def test_malformed_ids_and_bodies(member_api, auction):
    assert member_api.get(f"{AUCTIONS}abc/").status_code == 404
    assert member_api.get(f"{AUCTIONS}{auction.pk + 1000}/").json()["error"]["code"] == "not_found"
    assert bid(member_api, auction, "100").status_code == 400
    assert member_api.post(f"{AUCTIONS}{auction.pk}/bids/", {"points": 100},
                           format="json").json()["error"]["code"] == "idempotency_key_required"
