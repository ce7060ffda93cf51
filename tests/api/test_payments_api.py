"""Points + cash over the API: POST /api/v1/redemptions/ answers awaiting_payment with the
payment, the signed provider callback settles it, /api/v1/me/addresses/ keeps the member's
addresses and physical goods need one."""

from decimal import Decimal

import pytest

from catalog import services
from catalog.models import Payment, Redemption
from catalog.payments.sandbox import SIGNATURE_HEADER, callback_body, sign
from catalog.services import payments
from tests.catalog.helpers import fund, make_product
from tests.points.ledger import totals

pytestmark = pytest.mark.django_db

REDEMPTIONS = "/api/v1/redemptions/"
CALLBACK = "/api/v1/payments/sandbox/callback/"
ADDRESSES = "/api/v1/me/addresses/"


@pytest.fixture
def cherries():
    return make_product(name="Cherries", points_price=1500, cash_price=Decimal("9.90"), stock=5)


@pytest.fixture
def funded(member):
    fund(member, 5000)
    return member


def redeem(client, body, key="k-1"):
    return client.post(REDEMPTIONS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def callback(api, reference, *, paid=True, amount="9.90", signature=None):
    body = callback_body(reference, paid=paid, amount=amount)
    headers = {f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}":
               sign(body) if signature is None else signature}
    return api.post(CALLBACK, body, content_type="application/json", **headers)


def test_points_and_cash_redemption_answers_awaiting_payment(member_api, funded, cherries):
    response = redeem(member_api, {"product": cherries.pk, "address": "1 Road"})

    assert response.status_code == 201, response.json()
    body = response.json()
    payment = Payment.objects.get()
    assert body["status"] == "awaiting_payment" and body["status_display"] == "Awaiting payment"
    assert (body["points"], body["cash"]) == (1500, "9.90")
    assert body["payment"] == {
        "reference": payment.reference,
        "url": f"http://testserver/pay/sandbox/{payment.reference}/",
        "amount": "9.90",
        "expires_at": body["payment"]["expires_at"],
        "status": "pending",
    }
    assert totals(funded)["held"] == 1500
    detail = member_api.get(f"{REDEMPTIONS}{body['id']}/").json()
    assert detail["payment"]["reference"] == payment.reference


def test_signed_callback_pays_and_a_replay_answers_the_same(api, member_api, funded, cherries,
                                                            ledger_invariants):
    reference = redeem(member_api, {"product": cherries.pk, "address": "1 Road"}).json()[
        "payment"]["reference"]

    first = callback(api, reference)
    again = callback(api, reference)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {"code": "SUCCESS", "reference": reference,
                                            "status": "paid"}
    redemption = Redemption.objects.get()
    assert redemption.status == "created" and redemption.entry.kind == "capture"
    assert totals(funded)["available"] == 3500 and totals(funded)["held"] == 0
    assert member_api.get(f"{REDEMPTIONS}{redemption.pk}/").json()["payment"]["status"] == "paid"
    assert ledger_invariants() == []


def test_callback_refusals(api, member_api, funded, cherries):
    reference = redeem(member_api, {"product": cherries.pk, "address": "1 Road"}).json()[
        "payment"]["reference"]

    bad = callback(api, reference, signature="0" * 64)
    unsigned = api.post(CALLBACK, callback_body(reference, paid=True, amount="9.90"),
                        content_type="application/json")
    garbage = api.post(CALLBACK, b"\xff{", content_type="application/json",
                       HTTP_X_SANDBOX_SIGNATURE=sign(b"\xff{"))
    mismatch = callback(api, reference, amount="1.00")
    unknown = callback(api, "f" * 32)
    other_provider = api.post("/api/v1/payments/wechat/callback/", b"{}",
                              content_type="application/json")

    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "bad_signature")
    assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (400, "bad_signature")
    assert (garbage.status_code, garbage.json()["error"]["code"]) == (400, "parse_error")
    assert (mismatch.status_code, mismatch.json()["error"]["code"]) == (400, "amount_mismatch")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "payment_not_found")
    assert (other_provider.status_code, other_provider.json()["error"]["code"]) == (404, "payment_not_found")
    assert Payment.objects.get().status == "pending"

    payments.release_unpaid(Payment.objects.get().expires_at)
    late = callback(api, reference)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "payment_expired")
    assert Redemption.objects.get().status == "cancelled"
    assert totals(funded)["available"] == 5000


def test_failed_callback_cancels(api, member_api, funded, cherries):
    reference = redeem(member_api, {"product": cherries.pk, "address": "1 Road"}).json()[
        "payment"]["reference"]
    response = callback(api, reference, paid=False)
    assert response.json()["status"] == "failed"
    assert member_api.get(REDEMPTIONS).json()["results"][0]["status"] == "cancelled"


# --------------------------------------------------------------------------- addresses


def test_physical_goods_need_an_address(member_api, funded):
    tea = make_product(points_price=100)
    response = redeem(member_api, {"product": tea.pk})
    blank = redeem(member_api, {"product": tea.pk, "address": "   "}, key="k-2")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "address_required")
    assert blank.json()["error"]["code"] == "address_required"
    assert not Redemption.objects.exists()
    # Coupons and privileges ship nothing.
    coupon = make_product(name="Voucher", kind="coupon", points_price=10, codes=["C1"])
    assert redeem(member_api, {"product": coupon.pk}, key="k-3").status_code == 201


def test_redeem_with_a_saved_address_keeps_its_text(member_api, member, funded):
    tea = make_product(points_price=100)
    address = member_api.post(ADDRESSES, {"recipient": "Li Lei", "phone": "13800138000",
                                          "region": "Shanghai", "detail": "1 Road"},
                              format="json").json()
    response = redeem(member_api, {"product": tea.pk, "address_id": address["id"]})

    assert response.status_code == 201
    assert response.json()["address"] == "Li Lei 13800138000\nShanghai 1 Road"
    assert Redemption.objects.get().shipping_address_id == address["id"]


def test_someone_elses_address_is_refused(member_api, funded):
    from tests.factories import MemberFactory

    other = services.add_address(MemberFactory(), recipient="X", phone="13900139000",
                                 region="Beijing", detail="2 Road")
    tea = make_product(points_price=100)
    response = redeem(member_api, {"product": tea.pk, "address_id": other.pk})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "address_not_found")
    assert member_api.get(f"{ADDRESSES}{other.pk}/").status_code == 404
    assert member_api.delete(f"{ADDRESSES}{other.pk}/").status_code == 404
    assert member_api.patch(f"{ADDRESSES}{other.pk}/", {"detail": "mine"},
                            format="json").status_code == 404


def test_address_crud(member_api, member):
    first = member_api.post(ADDRESSES, {"recipient": "Li Lei", "phone": "13800138000",
                                        "region": "Shanghai", "detail": "1 Road"}, format="json")
    second = member_api.post(ADDRESSES, {"recipient": "Han Meimei", "phone": "13900139000",
                                         "region": "Beijing", "detail": "2 Road"}, format="json")
    assert first.status_code == second.status_code == 201
    assert first.json()["is_default"] is True and second.json()["is_default"] is False

    listed = member_api.get(ADDRESSES).json()
    assert listed["count"] == 2 and listed["next"] is None
    listed = listed["results"]
    assert [row["id"] for row in listed] == [first.json()["id"], second.json()["id"]]

    url = f"{ADDRESSES}{second.json()['id']}/"
    patched = member_api.patch(url, {"is_default": True, "detail": "3 Road"}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["is_default"], patched.json()["detail"]) == (True, "3 Road")
    assert member_api.get(f"{ADDRESSES}{first.json()['id']}/").json()["is_default"] is False

    put = member_api.put(url, {"recipient": "Han", "phone": "13700137000", "region": "Beijing",
                               "detail": "4 Road"}, format="json")
    assert put.status_code == 200 and put.json()["recipient"] == "Han"

    assert member_api.delete(url).status_code == 204
    assert member_api.get(ADDRESSES).json()["results"][0]["is_default"] is True  # the other one again
    assert member_api.get(f"{ADDRESSES}abc/").status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"recipient": "Li", "phone": "12345678901", "region": "SH", "detail": "1"}, "phone"),
    ({"recipient": "Li", "phone": "1380013800", "region": "SH", "detail": "1"}, "phone"),
    ({"recipient": "", "phone": "13800138000", "region": "SH", "detail": "1"}, "recipient"),
    ({"recipient": "Li", "phone": "13800138000", "region": "SH"}, "detail"),
    ({"recipient": 5, "phone": "13800138000", "region": "SH", "detail": "1"}, "recipient"),
])
def test_invalid_addresses_are_400(member_api, body, field):
    response = member_api.post(ADDRESSES, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert field in response.json()["error"]["fields"]


def test_addresses_need_a_member(api):
    assert api.get(ADDRESSES).status_code == 401


def test_the_twenty_first_address_is_refused_with_a_409(member_api, member):
    from catalog.services.addresses import MAX_ADDRESSES, add_address

    for number in range(MAX_ADDRESSES):
        add_address(member, recipient="Li Lei", phone="13800138000", region="Shanghai",
                    detail=f"{number} Road")
    response = member_api.post(ADDRESSES, {"recipient": "Li Lei", "phone": "13800138000",
                                           "region": "Shanghai", "detail": "21 Road"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "too_many_addresses")
    assert member_api.get(ADDRESSES).json()["count"] == MAX_ADDRESSES
