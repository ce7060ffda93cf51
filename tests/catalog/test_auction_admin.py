"""Auctions in the admin: created by staff, read-only once bid on, bids inline read-only, and the
"close due auctions now" action."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog import services
from catalog.models import Auction, AuctionStatus
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(settings):
    settings.LANGUAGE_CODE = "en"
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(StaffFactory(username="boss", is_superuser=True))
    return client


def test_create_bid_and_close_from_the_admin(admin):
    product = make_product(stock=1)
    now = timezone.localtime()  # the admin's fields are in the site's time zone
    response = admin.post(reverse("admin:catalog_auction_add"), {
        "product": product.pk, "starts_at_0": (now - timedelta(minutes=5)).strftime("%Y-%m-%d"),
        "starts_at_1": (now - timedelta(minutes=5)).strftime("%H:%M:%S"),
        "ends_at_0": (now + timedelta(hours=1)).strftime("%Y-%m-%d"),
        "ends_at_1": (now + timedelta(hours=1)).strftime("%H:%M:%S"),
        "start_price": 100, "increment": 10, "reserve_price": "", "extend_minutes": 0,
        "bids-TOTAL_FORMS": 0, "bids-INITIAL_FORMS": 0,
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    auction = Auction.objects.get()
    member = MemberFactory(established=True, username="li")
    fund(member, 500)
    services.place_bid(member, auction, 120, key="b1")
    page = admin.get(reverse("admin:catalog_auction_change", args=[auction.pk]))
    assert page.status_code == 200
    assert b"120" in page.content and b'name="start_price"' not in page.content  # read-only now

    Auction.objects.filter(pk=auction.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    response = admin.post(reverse("admin:catalog_auction_changelist"), {
        "action": "close_due_auctions_now", "_selected_action": [auction.pk]}, follow=True)
    assert b"1 auction closed." in response.content
    auction.refresh_from_db()
    assert auction.status == AuctionStatus.CLOSED and auction.winner == member
    assert admin.get(reverse("admin:catalog_auction_changelist")).status_code == 200
