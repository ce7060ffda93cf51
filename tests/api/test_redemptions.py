"""Redemptions over the member API: redeem with an Idempotency-Key, list, detail, cancel.
Exact bodies; refusals leave every row unchanged; one member never sees another's."""

from datetime import timedelta

import pytest

from catalog import cache
from catalog.models import ProductKind, Redemption
from points.models import Entry
from tests.catalog.helpers import fund, make_product, snapshot, stock
from tests.factories import MemberFactory
from tests.points.ledger import T0, at, clock, totals

pytestmark = pytest.mark.django_db

REDEMPTIONS = "/api/v1/redemptions/"


def detail(redemption_id):
    return f"{REDEMPTIONS}{redemption_id}/"


def cancel_url(redemption_id):
    return f"{REDEMPTIONS}{redemption_id}/cancel/"


def error(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    cache.reset()
    yield
    cache.reset()


@pytest.fixture
def client_for(token_for):
    from rest_framework.test import APIClient

    def make(member):
        return APIClient(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")

    return make


ADDRESS = "1 Test Road"


def redeem(client, body, key="k-1"):
    """Post a redemption; physical goods need an address, so a body without one gets
    ``ADDRESS`` (the address tests send their own, or ``None`` for none at all)."""
    if isinstance(body, dict) and "address" not in body and "address_id" not in body:
        body = {**body, "address": ADDRESS}
    elif isinstance(body, dict) and body.get("address", "") is None:
        body = {key_: value for key_, value in body.items() if key_ != "address"}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    with clock(T0):
        return client.post(REDEMPTIONS, body, format="json", **headers)


@pytest.fixture
def tea():
    # Points only: points + cash redemptions wait for a payment (tests/api/test_payments_api.py).
    return make_product(name="Tea", points_price=300, stock=5)


@pytest.fixture
def funded(member):
    with clock(T0):
        fund(member, 1000)
    return member


def body_of(redemption, *, status="created", codes=(), address=ADDRESS, cancelled_at=None):
    product = redemption.product
    return {
        "id": redemption.pk,
        "product": {"id": product.pk, "name": product.name, "kind": product.kind, "image": None},
        "quantity": redemption.quantity,
        "points": redemption.points,
        "welcome_discount": redemption.welcome_discount,
        "cash": f"{redemption.cash:.2f}",
        "status": status,
        "status_display": {"created": "Created", "cancelled": "Cancelled"}.get(status, status),
        "code": list(codes),
        "address": address,
        "payment": None,
        "tracking_number": "",
        "created_at": "2026-01-10T10:00:00+08:00",
        "cancelled_at": cancelled_at,
    }


# --------------------------------------------------------------------------- redeem


def test_redeem_physical_goods(member_api, funded, tea, ledger_invariants):
    response = redeem(member_api, {"product": tea.pk, "quantity": 2, "address": "  1 Main St  "})

    assert response.status_code == 201
    redemption = Redemption.objects.get()
    assert response.json() == {
        "id": redemption.pk,
        "product": {"id": tea.pk, "name": "Tea", "kind": "physical", "image": None},
        "quantity": 2,
        "points": 600,
        "welcome_discount": 0,
        "cash": "0.00",
        "status": "created",
        "status_display": "Created",
        "code": [],
        "address": "1 Main St",
        "payment": None,
        "tracking_number": "",
        "created_at": "2026-01-10T10:00:00+08:00",
        "cancelled_at": None,
    }
    assert redemption.member_id == funded.pk
    assert redemption.key == f"api:{funded.pk}:k-1"
    assert stock(tea) == (3, 2)
    assert totals(funded)["available"] == 400
    assert ledger_invariants() == []


def test_redeem_a_coupon_gives_its_codes_as_a_list(member_api, funded, ledger_invariants):
    coupon = make_product(name="Coupon", kind=ProductKind.COUPON, points_price=100,
                          codes=["AAA", "BBB", "CCC"])

    one = redeem(member_api, {"product": coupon.pk}, key="one")
    two = redeem(member_api, {"product": coupon.pk, "quantity": 2}, key="two")

    assert one.status_code == two.status_code == 201
    assert (one.json()["status"], one.json()["code"], one.json()["quantity"]) == ("fulfilled", ["AAA"], 1)
    assert (two.json()["status"], two.json()["code"]) == ("fulfilled", ["BBB", "CCC"])
    assert totals(funded)["available"] == 700
    assert ledger_invariants() == []


def test_redeem_needs_an_idempotency_key(member_api, funded, tea):
    before = snapshot()

    missing = redeem(member_api, {"product": tea.pk}, key=None)
    blank = redeem(member_api, {"product": tea.pk}, key="   ")

    for response in (missing, blank):
        assert response.status_code == 400
        assert response.json() == error("idempotency_key_required",
                                        "This request needs an Idempotency-Key header.")
    assert snapshot() == before


@pytest.mark.parametrize("key", ["x" * 81, "with space", "naïve"])
def test_a_malformed_idempotency_key_is_400(member_api, funded, tea, key):
    response = redeem(member_api, {"product": tea.pk}, key=key)

    assert response.status_code == 400
    assert response.json() == error("invalid", "The request has invalid fields.", {
        "idempotency_key": ["At most 80 visible ASCII characters."]})
    assert not Redemption.objects.exists()


def test_the_same_key_and_body_replays_the_first_response(member_api, funded, tea, ledger_invariants):
    body = {"product": tea.pk, "quantity": 1, "address": "1 Main St"}

    first = redeem(member_api, body)
    again = redeem(member_api, body)
    # Another spelling of the same request (quantity left to its default) is the same body.
    defaulted = redeem(member_api, {"product": tea.pk, "address": "1 Main St"})

    assert first.status_code == again.status_code == defaulted.status_code == 201
    assert again.json() == first.json() == defaulted.json()
    assert [r["Idempotent-Replayed"] for r in (first, again, defaulted)] == ["false", "true", "true"]
    assert Redemption.objects.count() == 1
    assert Entry.objects.filter(kind="spend").count() == 1
    assert stock(tea) == (4, 1)
    assert totals(funded)["available"] == 700
    assert ledger_invariants() == []


def test_the_same_key_with_another_body_is_409(member_api, funded, tea):
    redeem(member_api, {"product": tea.pk, "quantity": 1})
    before = snapshot()

    other_quantity = redeem(member_api, {"product": tea.pk, "quantity": 2})
    other_address = redeem(member_api, {"product": tea.pk, "quantity": 1, "address": "elsewhere"})

    for response in (other_quantity, other_address):
        assert response.status_code == 409
        assert response.json() == error("idempotency_conflict",
                                        "This key was already used for another redemption.")
    assert snapshot() == before


def test_two_members_keys_never_collide(member_api, funded, tea, client_for, ledger_invariants):
    other = MemberFactory()
    with clock(T0):
        fund(other, 1000)

    mine = redeem(member_api, {"product": tea.pk}, key="same")
    theirs = redeem(client_for(other), {"product": tea.pk, "quantity": 2}, key="same")

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert sorted(Redemption.objects.values_list("member_id", "quantity")) == sorted(
        [(funded.pk, 1), (other.pk, 2)])
    assert ledger_invariants() == []


def test_insufficient_points_is_409_and_writes_nothing(member_api, member, tea):
    with clock(T0):
        fund(member, 100)
    before = snapshot()

    response = redeem(member_api, {"product": tea.pk})

    assert response.status_code == 409
    assert response.json() == error("insufficient_points", "300 points needed, 100 available.")
    assert snapshot() == before


def test_a_refused_key_may_be_retried_once_the_cause_is_gone(member_api, member, tea):
    assert redeem(member_api, {"product": tea.pk}).status_code == 409
    with clock(T0):
        fund(member, 300)

    assert redeem(member_api, {"product": tea.pk}).status_code == 201


def test_out_of_stock_is_409(member_api, funded):
    empty = make_product(name="Gone", points_price=10, stock=0)
    few = make_product(name="Few", points_price=10, stock=2)
    before = snapshot()

    none_left = redeem(member_api, {"product": empty.pk}, key="a")
    too_many = redeem(member_api, {"product": few.pk, "quantity": 3}, key="b")

    assert none_left.status_code == too_many.status_code == 409
    assert none_left.json() == error("out_of_stock", "This product is out of stock.")
    assert too_many.json() == error("out_of_stock", "Only 2 left in stock.")
    assert snapshot() == before


def test_limit_reached_is_409(member_api, funded):
    limited = make_product(name="One each", points_price=10, per_member_limit=2)
    assert redeem(member_api, {"product": limited.pk, "quantity": 2}, key="a").status_code == 201
    before = snapshot()

    response = redeem(member_api, {"product": limited.pk}, key="b")

    assert response.status_code == 409
    assert response.json() == error(
        "limit_reached", "You can redeem at most 2 of this product; you already have 2.")
    assert snapshot() == before


def test_a_product_not_on_offer_is_409_not_available(member_api, funded):
    inactive = make_product(name="Off", active=False)
    ended = make_product(name="Over", sale_starts_at=at(2025, 1, 1), sale_ends_at=at(2026, 1, 1))
    gold_only = make_product(name="Gold gift", visible_tiers=["gold"])
    before = snapshot()

    responses = [redeem(member_api, {"product": product.pk}, key=f"k{product.pk}")
                 for product in (inactive, ended, gold_only)]

    assert [r.status_code for r in responses] == [409, 409, 409]
    assert [r.json() for r in responses] == [
        error("not_available", "This product is no longer offered."),
        error("not_available", "The sale of this product has ended."),
        error("not_available", "This product is not offered to your membership tier."),
    ]
    assert snapshot() == before


def test_an_unknown_product_is_404(member_api, funded):
    response = redeem(member_api, {"product": 999999})

    assert response.status_code == 404
    assert response.json() == error("not_found", "No such product.")


@pytest.mark.parametrize(("body", "fields"), [
    ({}, {"product": ["This field is required."]}),
    ({"product": "1"}, {"product": ["A valid integer is required."]}),
    ({"product": None}, {"product": ["This field may not be null."]}),
    ({"product": 0}, {"product": ["Ensure this value is greater than or equal to 1."]}),
    ({"quantity": 0}, {"quantity": ["Ensure this value is greater than or equal to 1."]}),
    ({"quantity": 1001}, {"quantity": ["Ensure this value is less than or equal to 1000."]}),
    ({"quantity": 1.5}, {"quantity": ["A valid integer is required."]}),
    ({"quantity": "2"}, {"quantity": ["A valid integer is required."]}),
    ({"quantity": True}, {"quantity": ["A valid integer is required."]}),
    ({"address": 7}, {"address": ["Not a valid string."]}),
    ({"address": "x" * 1001}, {"address": ["Ensure this field has no more than 1000 characters."]}),
])
def test_malformed_bodies_are_400(member_api, funded, tea, body, fields):
    body = {"product": tea.pk, **body} if "product" not in body and body else body
    before = snapshot()

    response = redeem(member_api, body)

    assert response.status_code == 400
    assert response.json() == error("invalid", "The request has invalid fields.", fields)
    assert snapshot() == before


def test_more_points_than_one_redemption_may_spend_is_400(member_api, funded):
    dear = make_product(name="Dear", points_price=10**7, stock=1000)

    response = redeem(member_api, {"product": dear.pk, "quantity": 1000})

    assert response.status_code == 400
    assert response.json() == error("invalid_quantity",
                                    "That is more points than one redemption can spend.")


def test_a_body_that_is_not_an_object_is_400(member_api, funded):
    with clock(T0):
        response = member_api.post(REDEMPTIONS, [1, 2], format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


# --------------------------------------------------------------------------- list and detail


def test_list_is_the_members_own_newest_first(member_api, funded, tea, client_for):
    other = MemberFactory()
    with clock(T0):
        fund(other, 1000)
    redeem(client_for(other), {"product": tea.pk}, key="theirs")
    first = redeem(member_api, {"product": tea.pk}, key="a").json()
    second = redeem(member_api, {"product": tea.pk}, key="b").json()

    response = member_api.get(REDEMPTIONS)

    assert response.status_code == 200
    assert response.json() == {"count": 2, "next": None, "previous": None,
                               "results": [second, first]}


def test_list_paginates(member_api, funded):
    cheap = make_product(name="Cheap", points_price=1, stock=10)
    made = [redeem(member_api, {"product": cheap.pk}, key=f"k{n}").json()["id"] for n in range(5)]

    first = member_api.get(REDEMPTIONS, {"page_size": 2}).json()
    last = member_api.get(REDEMPTIONS, {"page_size": 2, "page": 3}).json()

    assert first["count"] == 5
    assert [row["id"] for row in first["results"]] == made[:-3:-1]
    assert first["next"] == "http://testserver/api/v1/redemptions/?page=2&page_size=2"
    assert [row["id"] for row in last["results"]] == [made[0]]
    assert last["next"] is None
    past = member_api.get(REDEMPTIONS, {"page_size": 2, "page": 4})
    assert past.status_code == 404
    assert past.json() == error("not_found", "Invalid page.")


def test_detail_of_ones_own_redemption(member_api, funded, tea):
    created = redeem(member_api, {"product": tea.pk, "address": "1 Main St"}).json()

    response = member_api.get(detail(created["id"]))

    assert response.status_code == 200
    assert response.json() == body_of(Redemption.objects.get(), address="1 Main St") == created


def test_another_members_redemption_is_404_for_detail_and_cancel(member_api, tea, client_for,
                                                                  ledger_invariants):
    other = MemberFactory()
    with clock(T0):
        fund(other, 1000)
    theirs = redeem(client_for(other), {"product": tea.pk}).json()
    before = snapshot()

    seen = member_api.get(detail(theirs["id"]))
    cancelled = member_api.post(cancel_url(theirs["id"]), {}, format="json")

    for response in (seen, cancelled):
        assert response.status_code == 404
        assert response.json() == error("not_found", "No such redemption.")
    assert snapshot() == before
    assert Redemption.objects.get().status == "created"
    assert ledger_invariants() == []


@pytest.mark.parametrize("redemption_id", ["999999", "0", "abc", "99999999999999999999999"])
def test_unknown_or_malformed_ids_are_404(member_api, redemption_id):
    for response in (member_api.get(detail(redemption_id)),
                     member_api.post(cancel_url(redemption_id), {}, format="json")):
        assert response.status_code == 404
        assert response.json() == error("not_found", "No such redemption.")


# --------------------------------------------------------------------------- cancel


def test_cancel_gives_points_and_stock_back(member_api, funded, tea, ledger_invariants):
    created = redeem(member_api, {"product": tea.pk, "quantity": 2}).json()

    with clock(T0 + timedelta(hours=1)):
        response = member_api.post(cancel_url(created["id"]), {"reason": "Changed my mind"},
                                   format="json")

    assert response.status_code == 200
    redemption = Redemption.objects.get()
    assert response.json() == body_of(redemption, status="cancelled",
                                      cancelled_at="2026-01-10T11:00:00+08:00")
    assert redemption.cancel_reason == "Changed my mind"
    assert stock(tea) == (5, 0)
    assert totals(funded)["available"] == 1000
    assert ledger_invariants() == []


def test_cancel_without_a_body_and_twice_changes_nothing_more(member_api, funded, tea,
                                                              ledger_invariants):
    created = redeem(member_api, {"product": tea.pk}).json()

    first = member_api.post(cancel_url(created["id"]))
    before = snapshot()
    again = member_api.post(cancel_url(created["id"]))

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["status"] == "cancelled"
    assert Redemption.objects.get().cancel_reason == "Cancelled by the member"
    assert snapshot() == before
    assert ledger_invariants() == []


def test_a_fulfilled_redemption_cannot_be_cancelled(member_api, funded, ledger_invariants):
    coupon = make_product(name="Coupon", kind=ProductKind.COUPON, points_price=100, codes=["AAA"])
    created = redeem(member_api, {"product": coupon.pk}).json()
    before = snapshot()

    response = member_api.post(cancel_url(created["id"]), {}, format="json")

    assert response.status_code == 409
    assert response.json() == error("invalid_transition",
                                    "A redemption that has been fulfilled cannot be cancelled.")
    assert snapshot() == before
    assert ledger_invariants() == []


@pytest.mark.parametrize(("body", "fields"), [
    ({"reason": "x" * 201}, {"reason": ["Ensure this field has no more than 200 characters."]}),
    ({"reason": 5}, {"reason": ["Not a valid string."]}),
])
def test_a_malformed_cancel_reason_is_400(member_api, funded, tea, body, fields):
    created = redeem(member_api, {"product": tea.pk}).json()

    response = member_api.post(cancel_url(created["id"]), body, format="json")

    assert response.status_code == 400
    assert response.json() == error("invalid", "The request has invalid fields.", fields)
    assert Redemption.objects.get().status == "created"


# --------------------------------------------------------------------------- auth


def test_redemptions_need_a_signed_in_member(api, tea):
    for method, url in [("get", REDEMPTIONS), ("post", REDEMPTIONS), ("get", detail(1)),
                        ("post", cancel_url(1))]:
        response = getattr(api, method)(url, HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 401, url
        assert response.json() == error("not_authenticated",
                                        "Authentication credentials were not provided.")


# --------------------------------------------------------------------------- schema


def test_schema_documents_the_mall_with_the_field_names_the_apps_rely_on():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    paths = schema["paths"]

    assert set(components["Product"]["properties"]) >= {
        "id", "name", "kind", "category", "points_price", "cash_price", "stock", "image", "images",
        "points_short"}
    assert set(components["Redemption"]["properties"]) >= {
        "id", "product", "quantity", "points", "status", "code", "created_at"}
    assert components["Redemption"]["properties"]["code"]["type"] == "array"
    create = paths["/api/v1/redemptions/"]["post"]
    assert [(p["name"], p["in"], p["required"]) for p in create["parameters"]] == [
        ("Idempotency-Key", "header", True)]
    assert set(create["responses"]) == {"201", "400", "401", "403", "404", "409", "415", "429"}
    assert set(paths["/api/v1/redemptions/{redemption_id}/cancel/"]["post"]["responses"]) >= {
        "200", "404", "409"}
    # Open to anonymous callers: no 401.
    assert set(paths["/api/v1/products/"]["get"]["responses"]) == {"200", "400", "404", "429"}
