"""The coupon wallet (issue 12): a member's codes with validity, how to use them and their state
(valid, used, expired), on /coupons/ and in GET /api/v1/me/coupons/; coupons are "issued", not
"shipped"."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog import selectors, services
from catalog.errors import NotAvailable
from catalog.models import CouponCode, ProductKind
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(member):
    from django.test import Client

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(member)
    return client


@pytest.fixture
def member_api(member):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    token = RefreshToken.for_user(member).access_token
    return APIClient(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def coupon():
    return make_product(name="满50减10券", kind=ProductKind.COUPON, points_price=10,
                        codes=["CODE-A", "CODE-B", "CODE-C"], coupon_valid_days=30,
                        usage_instructions="结账时输入券码。")


def test_a_code_is_issued_with_its_validity(member, coupon):
    fund(member, 100)
    redemption = services.redeem(member, coupon, key="r1")
    code = CouponCode.objects.get(redemption=redemption)
    assert code.valid_until == code.assigned_at + timedelta(days=30)
    assert redemption.status_label() in ("Issued", "已发放")
    assert selectors.coupon_state(code, timezone.now()) == "valid"


def test_a_physical_redemption_is_shipped_and_a_coupon_issued(member, coupon):
    fund(member, 1000)
    tea = make_product(name="Tea", points_price=10)
    shipped = services.redeem(member, tea, key="r1", address="上海市")
    shipped = services.fulfil(shipped, tracking_number="SF1")
    with translation("en"):
        assert shipped.status_label() == "Shipped"
        assert services.redeem(member, coupon, key="r2").status_label() == "Issued"
    with translation("zh-hans"):
        assert services.redeem(member, coupon, key="r3").status_label() == "已发放"


def test_states_used_and_expired(member, coupon):
    fund(member, 100)
    first = CouponCode.objects.get(redemption=services.redeem(member, coupon, key="r1"))
    second = CouponCode.objects.get(redemption=services.redeem(member, coupon, key="r2"))
    services.mark_code_used(first, member=member)
    services.mark_code_used(first, member=member)  # again: no change
    CouponCode.objects.filter(pk=second.pk).update(valid_until=timezone.now() - timedelta(days=1))
    now = timezone.now()
    states = {c.code: selectors.coupon_state(c, now) for c in selectors.coupon_wallet(member)}
    assert states == {first.code: "used", second.code: "expired"}
    assert [c.code for c in selectors.coupon_wallet(member, state="used")] == [first.code]
    assert [c.code for c in selectors.coupon_wallet(member, state="valid")] == []


def test_another_members_code_cannot_be_marked(member, coupon):
    fund(member, 100)
    code = CouponCode.objects.get(redemption=services.redeem(member, coupon, key="r1"))
    with pytest.raises(NotAvailable):
        services.mark_code_used(code, member=MemberFactory())
    code.refresh_from_db()
    assert code.used_at is None


def test_the_wallet_page(member, member_client, coupon):
    fund(member, 100)
    services.redeem(member, coupon, key="r1")
    page = member_client.get("/coupons/").content.decode()
    assert 'data-testid="coupon-code">CODE-A<' in page and 'data-copy="CODE-A"' in page
    assert "结账时输入券码。" in page and "Valid until" in page
    code = CouponCode.objects.get(code="CODE-A")
    response = member_client.post(f"/coupons/{code.pk}/use/")
    assert response.status_code == 302
    page = member_client.get("/coupons/?state=used").content.decode()
    assert "CODE-A" in page and 'data-copy="CODE-A"' not in page
    assert member_client.post(f"/coupons/{code.pk + 999}/use/").status_code == 404


def test_the_wallet_api(member, member_api, coupon):
    fund(member, 100)
    redemption = services.redeem(member, coupon, key="r1")
    body = member_api.get("/api/v1/me/coupons/").json()
    [row] = body["results"]
    assert (row["code"], row["product_name"], row["how_to_use"], row["redemption"], row["state"]) == (
        "CODE-A", "满50减10券", "结账时输入券码。", redemption.pk, "valid")
    used = member_api.post(f"/api/v1/me/coupons/{row['id']}/use/", format="json")
    assert used.status_code == 200 and used.json()["state"] == "used"
    assert member_api.get("/api/v1/me/coupons/", {"state": "valid"}).json()["count"] == 0
    assert member_api.get("/api/v1/me/coupons/", {"state": "nope"}).status_code == 400
    assert member_api.post("/api/v1/me/coupons/999999/use/", format="json").status_code == 404
    detail = member_api.get(f"/api/v1/redemptions/{redemption.pk}/").json()
    assert detail["status"] == "fulfilled" and detail["status_display"] == "Issued"


def translation(language):
    from django.utils import translation as django_translation

    return django_translation.override(language)
