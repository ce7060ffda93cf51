"""``GET /api/v1/me/points/entries/``'s plain details: ``label``/``label_display``,
``available_at``/``expires_at`` of the lots an entry credited, and ``redemption``; read without
a query per entry."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import services as catalog_services
from points import services as ledger
from tests.catalog.helpers import make_product
from tests.points.ledger import at, clock

pytestmark = pytest.mark.django_db

ENTRIES = "/api/v1/me/points/entries/"


def test_pending_earnings_and_redemptions_and_their_refunds(member_api, member):
    with clock(at(2026, 1, 10, 12)):
        pending = ledger.earn(member, 40, key="p", reason="order", available_at=at(2099, 1, 17, 12),
                              expires_at=at(2099, 12, 31))
    ledger.earn(member, 500, key="e", reason="gift", expires_at=ledger.NEVER)
    product = make_product(name="Tea", points_price=120)
    redemption = catalog_services.redeem(member, product, key="r1", address="Road 1")
    catalog_services.cancel(redemption, reason="changed my mind")

    rows = member_api.get(ENTRIES).json()["results"]

    assert [(row["kind"], row["label"], row["label_display"], row["redemption"]) for row in rows] == [
        ("reverse", "refunded", "Refunded", redemption.pk),
        ("spend", "used", "Used", redemption.pk),
        ("earn", "earned", "Earned", None),
        ("earn", "pending", "Pending", None),
    ]
    assert rows[3]["id"] == pending.pk
    assert (rows[3]["available_at"], rows[3]["expires_at"]) == ("2099-01-17T12:00:00+08:00",
                                                                "2099-12-31T00:00:00+08:00")
    assert rows[2]["expires_at"] is None and rows[2]["available_at"] is not None
    assert (rows[0]["available_at"], rows[0]["expires_at"]) == (None, None)
    assert "Tea" in rows[1]["reason"]  # through reason_text


def test_holds_releases_and_take_backs_have_plain_labels(member_api, member):
    earned = ledger.earn(member, 500, key="e", reason="gift")
    hold = ledger.hold(member, 30, key="h", ttl=timedelta(minutes=10))
    ledger.release(hold, key="hr")
    ledger.reverse(earned, 100, key="rv", reason="order refunded")

    rows = member_api.get(ENTRIES).json()["results"]

    assert [row["label"] for row in rows] == ["taken_back", "returned", "in_use", "earned"]


def test_the_details_cost_one_query_per_page_not_one_per_entry(member_api, member):
    def count_queries():
        with CaptureQueriesContext(connection) as captured:
            assert member_api.get(ENTRIES).status_code == 200
        return len(captured)

    for n in range(3):
        ledger.earn(member, 10 + n, key=f"a{n}", reason="a")
    count_queries()  # the first request of the member also notes them active
    few = count_queries()
    for n in range(10):
        ledger.earn(member, 20 + n, key=f"b{n}", reason="b")

    assert count_queries() == few
