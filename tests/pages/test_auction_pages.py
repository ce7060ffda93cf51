"""Member pages of points auctions: the list, the auction page with its bid form, the live price
block htmx polls, and refusals shown as messages."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Auction, Bid
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory
from tests.pages.helpers import messages_of, text
from tests.points.ledger import totals

pytestmark = pytest.mark.django_db


@pytest.fixture
def auction():
    now = timezone.now()
    return Auction.objects.create(product=make_product(name="Tea set", stock=1),
                                  starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
                                  start_price=100, increment=10, extend_minutes=5)


def key_of(response) -> str:
    return re.search(r'name="key" value="([0-9a-f]+)"', text(response)).group(1)


def test_list_page_and_bid_then_live_price(member_client, member, auction):
    fund(member, 1000)
    listing = member_client.get("/auctions/")
    assert listing.status_code == 200 and "Tea set" in text(listing) and "from 100 points" in text(listing)

    page = member_client.get(f"/auctions/{auction.pk}/")
    assert page.status_code == 200
    assert f'hx-get="/auctions/{auction.pk}/price/"' in text(page) and 'hx-trigger="every 3s"' in text(page)
    key = key_of(page)
    response = member_client.post(f"/auctions/{auction.pk}/bid/", {"points": 150, "key": key}, follow=True)
    assert any("You bid 150 points" in m for m in messages_of(response))
    # The same form sent twice (a double tap) is the same bid.
    member_client.post(f"/auctions/{auction.pk}/bid/", {"points": 150, "key": key})
    assert Bid.objects.count() == 1 and totals(member)["held"] == 150

    other = MemberFactory(established=True, username="wang")
    fund(other, 1000)
    from django.test import Client

    rival = Client(HTTP_ACCEPT_LANGUAGE="en")
    rival.force_login(other)
    rival.post(f"/auctions/{auction.pk}/bid/", {"points": 170, "key": "k2"})
    price = member_client.get(f"/auctions/{auction.pk}/price/")
    assert price.status_code == 200
    assert 'data-testid="current-price">170<' in text(price) and "w***" in text(price)
    assert "Outbid" in text(price) and "<html" not in text(price)
    assert totals(member)["held"] == 0


def test_refusal_is_a_message(member_client, member, auction):
    fund(member, 50)
    response = member_client.post(f"/auctions/{auction.pk}/bid/", {"points": 100, "key": "k1"}, follow=True)
    assert response.status_code == 200
    assert messages_of(response) and "points" in messages_of(response)[0]
    assert Bid.objects.count() == 0
    assert member_client.get("/auctions/999999/").status_code == 404


def test_pages_need_sign_in(client, auction):
    assert client.get("/auctions/").status_code == 302
    assert client.get(f"/auctions/{auction.pk}/price/").status_code == 302
