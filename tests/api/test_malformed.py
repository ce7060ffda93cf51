"""Malformed bodies of every kind, sent to every API and hook endpoint (issue 8 §4): each answer
is a JSON 4xx in the error shape, with the exact status and code below, never a 5xx, and no row of
the main tables is written.

The kinds: absurd nesting (arrays and objects), lone surrogates (in values and in keys), a body
over the upload limit, wrong JSON types, text that is not JSON, bytes that are not UTF-8, NaN and
Infinity, an integer of 5,000 digits, and a top level that is not an object. Each endpoint is
first shown to accept its valid body (so a refusal below is the malformation's doing), then gets
every malformed one; a GET-only endpoint gets them by PUT (405, or 413 for the huge body).

The shop's endpoints are signed correctly (``tests.mall.signing``): the body is what is refused.
"""

import json
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from catalog import checkout
from catalog import services as catalog_services
from catalog.models import (
    Auction,
    Bid,
    CheckoutHold,
    CouponCode,
    Draw,
    Lottery,
    Prize,
    PrizeKind,
    Product,
    Redemption,
    StockMovement,
)
from catalog.payments.sandbox import SIGNATURE_HEADER, sign
from mall.models import HookEvent, Member, Message
from mall.services import messages
from points import services
from points.models import Account, BehaviourRecord, CheckIn, Entry, Hold, Lot, Order, Refund
from tests.catalog.helpers import make_product
from tests.factories import MemberFactory
from tests.mall.signing import post_hook

pytestmark = pytest.mark.django_db

LIMIT = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
TABLES = [Member, Account, Entry, Lot, Hold, Order, Refund, BehaviourRecord, CheckIn, HookEvent,
          Product, StockMovement, Redemption, CouponCode, CheckoutHold, Message, Auction, Bid, Draw]


def strings_to(value, replacement):
    """``value`` with every string leaf (not the keys) replaced."""
    if isinstance(value, dict):
        return {key: strings_to(item, replacement) for key, item in value.items()}
    if isinstance(value, list):
        return [strings_to(item, replacement) for item in value]
    return replacement if isinstance(value, str) else value


def leaves_to(value, replacement):
    """``value`` with every leaf replaced; ``{}`` becomes ``{"x": replacement}``."""
    if isinstance(value, dict):
        return {key: leaves_to(item, replacement) for key, item in value.items()} or {"x": replacement}
    if isinstance(value, list):
        return [leaves_to(item, replacement) for item in value]
    return replacement


def malformed(valid: dict, wrong_types) -> dict[str, bytes]:
    """Every malformed body of the endpoint whose valid body is ``valid``."""
    return {
        "nested arrays": b"[" * 1000 + b"]" * 1000,  # 2 KB: json itself gives up (RecursionError)
        "nested objects": b'{"a": ' * 500 + b"1" + b"}" * 500,
        "33 levels": b'{"a": ' * 32 + b"{}" + b"}" * 32,
        "lone surrogates": json.dumps({**strings_to(valid, "a\ud800b"), "note": "\udfff"}).encode(),
        "lone surrogate key": json.dumps({**valid, "\ud800": 1}).encode(),
        "huge": b'{"x": "' + b"a" * LIMIT + b'"}',
        "wrong types": json.dumps(wrong_types).encode(),
        "not json": b'{"a": ',
        "trailing garbage": json.dumps(valid).encode() + b" }",
        "not utf-8": json.dumps(valid).encode()[:-1] + b', "x": "\xff\xfe"}',
        "utf-16": json.dumps(valid).encode("utf-16"),
        "NaN": json.dumps(leaves_to(valid, float("nan"))).encode(),
        "Infinity": json.dumps(leaves_to(valid, float("-inf"))).encode(),
        "5,000 digits": b'{"x": 1' + b"0" * 5000 + b"}",
        "not an object": b'["a", 1]',
        "null": b"null",
    }


@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    client: str  # "anonymous", "member" (bearer token), "shop" (signed)
    valid: dict = field(default_factory=dict)
    wrong_types: object = None  # the valid body with wrong JSON types
    ok: int = 200
    get_only: bool = False


def endpoints(world) -> list[Endpoint]:
    paid = {"event_id": "e-1", "type": "order.paid", "order": {
        "id": "o-9", "member": "u-1", "amount": "100.00", "paid_at": "2026-01-10T10:00:00+08:00",
        "lines": [{"sku": "mango", "categories": ["fruit"], "amount": "100.00", "quantity": 1}]}}
    hold = {"member": "u-1", "order_id": "o-2", "points": 100, "order_amount": "88.00"}
    return [
        Endpoint("token", "post", "/api/v1/auth/token/", "anonymous",
                 {"username": world.member.username, "password": "pass-for-tests-1"},
                 {"username": 12345, "password": ["pass-for-tests-1"]}),
        Endpoint("refresh", "post", "/api/v1/auth/token/refresh/", "anonymous",
                 {"refresh": world.refresh}, {"refresh": 12345}),
        Endpoint("logout", "post", "/api/v1/auth/logout/", "anonymous",
                 {"refresh": world.refresh}, {"refresh": 12345}, ok=204),
        Endpoint("password", "post", "/api/v1/me/password/", "member",
                 {"current_password": "pass-for-tests-1", "new_password": "a-long-pass-phrase-9"},
                 {"current_password": 12345, "new_password": ["a-long-pass-phrase-9"]}),
        # The world's member has a redemption awaiting shipment: the valid body reaches the
        # business refusal (409), past every parsing and validation step.
        Endpoint("close", "post", "/api/v1/me/close/", "member",
                 {"password": "pass-for-tests-1"}, {"password": 12345}, ok=409),
        Endpoint("register", "post", "/api/v1/auth/register/", "anonymous",
                 {"username": "newbie", "password": "a-long-pass-phrase-9", "phone": "13900000001"},
                 {"username": True, "password": 123456789012, "phone": 13900000001}, ok=201),
        Endpoint("me", "patch", "/api/v1/me/", "member", {"nickname": "Tea lover"}, {"nickname": 5}),
        Endpoint("check-in", "post", "/api/v1/me/check-in/", "member", {}, ["today"]),
        Endpoint("redeem", "post", "/api/v1/redemptions/", "member",
                 {"product": world.product.pk, "quantity": 1, "address": "1 Road"},
                 {"product": str(world.product.pk), "quantity": 1.0}, ok=201),
        Endpoint("cancel", "post", f"/api/v1/redemptions/{world.redemption.pk}/cancel/", "member",
                 {"reason": "changed my mind"}, {"reason": 5}),
        Endpoint("hook members", "post", "/api/v1/hooks/members/", "shop",
                 {"event_id": "m-1", "member": {"external_id": "u-9", "nickname": "New", "tier": "gold"}},
                 {"event_id": "m-1", "member": {"external_id": 9, "nickname": 1.5, "tier": "gold"}}),
        Endpoint("hook orders", "post", "/api/v1/hooks/orders/", "shop", paid,
                 {**paid, "order": {**paid["order"], "id": 1001, "amount": "１００.００"}}),
        Endpoint("hook behaviours", "post", "/api/v1/hooks/behaviours/", "shop",
                 {"event_id": "b-1", "member": "u-1", "action": "share",
                  "occurred_at": "2026-01-10T10:00:00+08:00", "meta": {"photo": False}},
                 {"event_id": "b-1", "member": 1, "action": "share",
                  "occurred_at": "2026-01-10T10:00:00+08:00", "meta": {"photo": "yes"}}),
        Endpoint("quote", "post", "/api/v1/checkout/quote/", "shop",
                 {"member": "u-1", "order_amount": "88.00"}, {"member": "u-1", "order_amount": "８８"}),
        Endpoint("hold", "post", "/api/v1/checkout/holds/", "shop", hold,
                 {**hold, "order_id": 2, "points": "100"}, ok=201),
        Endpoint("capture", "post", f"/api/v1/checkout/holds/{world.hold_id}/capture/", "shop",
                 {"points": 50}, {"points": "50"}),
        Endpoint("release", "post", f"/api/v1/checkout/holds/{world.hold_id}/release/", "shop",
                 {}, []),
        Endpoint("balance", "get", "/api/v1/me/points/", "member", get_only=True),
        Endpoint("entries", "get", "/api/v1/me/points/entries/", "member", get_only=True),
        Endpoint("products", "get", "/api/v1/products/", "member", get_only=True),
        Endpoint("product", "get", f"/api/v1/products/{world.product.pk}/", "member", get_only=True),
        Endpoint("related", "get", f"/api/v1/products/{world.product.pk}/related/", "member",
                 get_only=True),
        Endpoint("recommendations", "get", "/api/v1/me/recommendations/", "member", get_only=True),
        Endpoint("redemptions", "get", "/api/v1/redemptions/", "member", get_only=True),
        Endpoint("redemption", "get", f"/api/v1/redemptions/{world.redemption.pk}/", "member",
                 get_only=True),
        Endpoint("profile", "get", "/api/v1/me/", "member", get_only=True),
        Endpoint("team", "get", "/api/v1/me/team/", "member", get_only=True),
        Endpoint("team rewards", "get", "/api/v1/me/team/rewards/", "member", get_only=True),
        Endpoint("tasks", "get", "/api/v1/me/tasks/", "member", get_only=True),
        Endpoint("coupons", "get", "/api/v1/me/coupons/", "member", get_only=True),
        Endpoint("coupon use", "post", f"/api/v1/me/coupons/{world.coupon_id}/use/", "member", {},
                 ["used"], ok=200),
        Endpoint("badges", "get", "/api/v1/me/badges/", "member", get_only=True),
        Endpoint("messages", "get", "/api/v1/me/messages/", "member", get_only=True),
        Endpoint("message read", "post", f"/api/v1/me/messages/{world.message_id}/read/", "member",
                 {}, ["read"]),
        Endpoint("messages read-all", "post", "/api/v1/me/messages/read-all/", "member", {}, ["all"]),
        Endpoint("auctions", "get", "/api/v1/auctions/", "member", get_only=True),
        Endpoint("auction", "get", f"/api/v1/auctions/{world.auction_id}/", "member", get_only=True),
        Endpoint("bid", "post", f"/api/v1/auctions/{world.auction_id}/bids/", "member",
                 {"points": 100}, {"points": "100"}, ok=201),
        Endpoint("lotteries", "get", "/api/v1/lotteries/", "member", get_only=True),
        Endpoint("draw", "post", f"/api/v1/lotteries/{world.lottery_id}/draw/", "member",
                 {}, ["draw"], ok=201),
        Endpoint("addresses", "post", "/api/v1/me/addresses/", "member",
                 {"recipient": "Li Lei", "phone": "13800138000", "region": "Shanghai",
                  "detail": "1 Road"},
                 {"recipient": 5, "phone": 13800138000, "region": "Shanghai", "detail": "1 Road"},
                 ok=201),
        Endpoint("address", "patch", f"/api/v1/me/addresses/{world.address_id}/", "member",
                 {"detail": "2 Road"}, {"detail": 2}),
        Endpoint("payment callback", "post", "/api/v1/payments/sandbox/callback/", "provider",
                 {"reference": world.payment_reference, "paid": True, "amount": "9.90"},
                 {"reference": 1, "paid": "yes", "amount": 9.9}),
    ]


NAMES = ["token", "refresh", "logout", "password", "close", "register", "me", "check-in", "redeem",
         "cancel", "hook members",
         "hook orders", "hook behaviours", "quote", "hold", "capture", "release", "balance", "entries",
         "products", "product", "related", "recommendations", "redemptions", "redemption",
         "profile", "team", "team rewards",
         "tasks", "coupons", "coupon use", "badges",
         "messages", "message read", "messages read-all", "auctions", "auction", "bid", "lotteries", "draw",
         "addresses", "address", "payment callback"]


def expected(endpoint: Endpoint, kind: str) -> tuple[int, str]:
    """The exact status and code of ``kind`` sent to ``endpoint``."""
    if kind == "huge":
        return 413, "too_large"  # by Content-Length, before any view
    if endpoint.get_only:
        return 405, "method_not_allowed"
    if kind == "wrong types" and isinstance(endpoint.wrong_types, dict):
        return 400, "invalid"
    if kind in ("wrong types", "not an object", "null") and endpoint.client not in ("shop",
                                                                                  "provider"):
        return 400, "invalid"  # the member API's serializers refuse a non-object, as before
    return 400, "parse_error"


@dataclass
class World:
    member: Member
    refresh: str
    product: Product
    redemption: Redemption
    hold_id: int
    message_id: int
    auction_id: int
    lottery_id: int
    coupon_id: int
    address_id: int
    payment_reference: str


@pytest.fixture
def world(settings):
    from rest_framework_simplejwt.tokens import RefreshToken

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast
    member = MemberFactory(external_id="u-1")
    services.earn(member, 5000, key="fund", reason="test", expires_at=services.NEVER)
    product = make_product(points_price=100, stock=10)
    redemption = catalog_services.redeem(member, product, 1, key="r-1")
    placed = checkout.place_hold(member, order_id="o-1", points=100, order_amount=Decimal("88.00"),
                                 key=checkout.hold_key("h-1"))
    messages.send(member, "welcome", period="join")
    message_id = Message.objects.get(member=member).pk
    now = timezone.now()
    auction = Auction.objects.create(product=product, starts_at=now - timedelta(minutes=1),
                                     ends_at=now + timedelta(hours=1), start_price=100, increment=10)
    lottery = Lottery.objects.create(name="Draw", cost_points=10)
    Prize.objects.create(lottery=lottery, name="Thanks", kind=PrizeKind.NOTHING, weight=1)
    coupon = make_product(name="Coupon", kind="coupon", points_price=10, codes=["C-1"])
    coupon_redemption = catalog_services.redeem(member, coupon, 1, key="r-2")
    coupon_id = CouponCode.objects.get(redemption=coupon_redemption).pk
    address = catalog_services.add_address(member, recipient="Li Lei", phone="13800138000",
                                           region="Shanghai", detail="1 Road")
    cherries = make_product(name="Cherries", points_price=100, cash_price=Decimal("9.90"))
    awaiting = catalog_services.redeem(member, cherries, 1, key="r-3", address="1 Road")
    return World(member, str(RefreshToken.for_user(member)), product, redemption, placed.hold_id,
                 message_id, auction.pk, lottery.pk, coupon_id, address.pk,
                 awaiting.payment.reference)


def send(clients, endpoint: Endpoint, body: bytes, *, method=None):
    method = method or ("put" if endpoint.get_only else endpoint.method)
    headers = {"Accept-Language": "en", "Idempotency-Key": "k-1"}
    if endpoint.client == "shop":
        return post_hook(clients["shop"], endpoint.path, body=body, headers=headers)
    if endpoint.client == "provider":  # signed as the sandbox provider signs its callbacks
        return clients["anonymous"].post(endpoint.path, data=body, content_type="application/json",
                                         headers={**headers, SIGNATURE_HEADER: sign(body)})
    return getattr(clients[endpoint.client], method)(endpoint.path, data=body,
                                                     content_type="application/json", headers=headers)


@pytest.fixture
def clients(world):
    from django.test import Client
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    made = {"anonymous": APIClient(), "shop": Client(), "member": APIClient(
        HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(world.member).access_token}")}
    for client in made.values():
        client.raise_request_exception = False  # a 500 is a response to assert on, not a raise
    return made


def rows() -> dict:
    return {model.__name__: model.objects.count() for model in TABLES}


@pytest.mark.parametrize("name", NAMES)
def test_every_malformed_body_is_a_json_4xx_and_writes_nothing(clients, world, name):
    endpoint = next(e for e in endpoints(world) if e.name == name)
    before = rows()

    answers = {}
    for kind, body in malformed(endpoint.valid, endpoint.wrong_types).items():
        response = send(clients, endpoint, body)
        assert response["Content-Type"] == "application/json", (kind, response.content[:200])
        payload = response.json()
        assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message", "fields"}, kind
        assert isinstance(payload["error"]["message"], str) and payload["error"]["message"], kind
        answers[kind] = (response.status_code, payload["error"]["code"])

    assert answers == {kind: expected(endpoint, kind) for kind in answers}
    assert rows() == before

    # The same endpoint takes its valid body: the refusals above were the malformations' doing.
    if endpoint.get_only:
        assert send(clients, endpoint, b"", method="get").status_code == 200
    else:
        response = send(clients, endpoint, json.dumps(endpoint.valid).encode())
        assert response.status_code == endpoint.ok, response.content[:300]


def test_every_route_of_the_api_is_covered(world):
    from django.urls import get_resolver, resolve

    covered = {resolve(endpoint.path).url_name for endpoint in endpoints(world)}
    routes = {pattern.name for pattern in get_resolver("mall.api_urls").url_patterns}
    assert covered == routes and len(routes) == 41
    assert [endpoint.name for endpoint in endpoints(world)] == NAMES
