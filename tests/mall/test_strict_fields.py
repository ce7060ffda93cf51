"""The shop's hooks and checkout refuse wrong JSON types as the member API does (common.fields,
issue 8 §4): a number or NaN is not text, ``"１００"`` is not money, ``"2"`` is not a quantity and
``1`` is not a boolean. Each is a 400 field error naming the field, and nothing is written."""

from decimal import Decimal
from unittest.mock import patch

import pytest
from django.utils.translation import override
from rest_framework import serializers

from common.fields import StrictBooleanField, StrictMoneyField, money_field
from mall.models import HookEvent, Member
from points import services
from points.models import BehaviourRecord, Entry, Hold, Order
from tests.factories import MemberFactory
from tests.mall.signing import post_hook
from tests.points.ledger import T0

pytestmark = pytest.mark.django_db

MEMBERS, ORDERS, BEHAVIOURS = "/api/v1/hooks/members/", "/api/v1/hooks/orders/", "/api/v1/hooks/behaviours/"
QUOTE, HOLDS = "/api/v1/checkout/quote/", "/api/v1/checkout/holds/"
STRING, NUMBER, INTEGER, BOOLEAN = ("Not a valid string.", "A valid number is required.",
                                    "A valid integer is required.", "Must be a valid boolean.")


@pytest.fixture(autouse=True)
def frozen():
    with patch("django.utils.timezone.now", return_value=T0), override("en"):
        yield T0


# --------------------------------------------------------------------------- the fields


@pytest.mark.parametrize(("data", "value"), [
    (88, Decimal("88.00")), (Decimal("88.5"), Decimal("88.50")), (Decimal("1E+2"), Decimal("100.00")),
    ("88", Decimal("88.00")), ("88.00", Decimal("88.00")), ("-1.5", Decimal("-1.50")),
    ("0012.10", Decimal("12.10")),
])
def test_money_takes_json_numbers_and_ascii_decimal_strings(data, value):
    parsed = money_field().to_internal_value(data)
    assert (parsed, str(parsed)) == (value, str(value))


@pytest.mark.parametrize("data", [
    "１００", "１００.００", "٣", "1e2", "1E2", " 88", "88 ", "+88", "88.", ".5", "1,000", "NaN",
    "Infinity", "", True, False, 88.0, [88], {"amount": 88},
])
def test_money_refuses_everything_else(data):
    with pytest.raises(serializers.ValidationError) as refused:
        StrictMoneyField(max_digits=12, decimal_places=2).to_internal_value(data)
    assert refused.value.detail == [NUMBER]


def test_booleans_are_json_booleans():
    field = StrictBooleanField()
    assert [field.to_internal_value(True), field.to_internal_value(False)] == [True, False]
    for data in (1, 0, "true", "false", "yes", "on", "1", Decimal("1")):
        with pytest.raises(serializers.ValidationError) as refused:
            field.to_internal_value(data)
        assert refused.value.detail == [BOOLEAN]


# --------------------------------------------------------------------------- the endpoints


@pytest.fixture
def shopper():
    member = MemberFactory(external_id="u-1", tier="gold")
    services.earn(member, 5000, key="e1", reason="r", expires_at=services.NEVER)
    return member


def rows():
    return {"members": Member.objects.count(), "events": HookEvent.objects.count(),
            "orders": Order.objects.count(), "entries": Entry.objects.count(),
            "behaviours": BehaviourRecord.objects.count(), "holds": Hold.objects.count()}


def member_event(**member):
    return {"event_id": "m-1", "member": {"external_id": "u-9", **member}}


def paid(**order):
    return {"event_id": "e-1", "type": "order.paid", "order": {
        "id": "o-1", "member": "u-1", "amount": "100.00", "paid_at": "2026-01-10T10:00:00+08:00",
        "lines": [{"sku": "mango", "categories": ["imported"], "amount": "100.00", "quantity": 1}],
        **order}}


def line(**fields):
    return paid(lines=[{"sku": "mango", "amount": "100.00", **fields}])


def refunded(**order):
    return {"event_id": "r-1", "type": "order.refunded",
            "order": {"id": "o-1", "refund_amount": "10.00", **order}}


def behaviour(**fields):
    return {"event_id": "b-1", "member": "u-1", "action": "review",
            "occurred_at": "2026-01-10T10:00:00+08:00", **fields}


def hold(**fields):
    return {"member": "u-1", "order_id": "o-1", "points": 100, "order_amount": "88.00", **fields}


@pytest.mark.parametrize(("path", "payload", "fields"), [
    (MEMBERS, {**member_event(), "event_id": 7}, {"event_id": [STRING]}),
    (MEMBERS, member_event(external_id=9), {"member": {"external_id": [STRING]}}),
    (MEMBERS, member_event(username=12345), {"member": {"username": [STRING]}}),
    (MEMBERS, member_event(phone=13800000000), {"member": {"phone": [STRING]}}),
    (MEMBERS, member_event(nickname=Decimal("1.5")), {"member": {"nickname": [STRING]}}),
    (MEMBERS, member_event(nickname=False), {"member": {"nickname": [STRING]}}),
    (ORDERS, {**paid(), "event_id": 1}, {"event_id": [STRING]}),
    (ORDERS, paid(id=1001), {"order": {"id": [STRING]}}),
    (ORDERS, paid(member=42), {"order": {"member": [STRING]}}),
    (ORDERS, paid(amount="１００"), {"order": {"amount": [NUMBER]}}),
    (ORDERS, paid(amount="１００.００"), {"order": {"amount": [NUMBER]}}),
    (ORDERS, line(sku=5), {"order": {"lines": {"0": {"sku": [STRING]}}}}),
    (ORDERS, line(categories=[5]), {"order": {"lines": {"0": {"categories": {"0": [STRING]}}}}}),
    (ORDERS, line(amount="１００"), {"order": {"lines": {"0": {"amount": [NUMBER]}}}}),
    (ORDERS, line(quantity="1"), {"order": {"lines": {"0": {"quantity": [INTEGER]}}}}),
    (ORDERS, line(quantity=Decimal("1.0")), {"order": {"lines": {"0": {"quantity": [INTEGER]}}}}),
    (ORDERS, refunded(id=1001), {"order": {"id": [STRING]}}),
    (ORDERS, refunded(refund_amount="１０"), {"order": {"refund_amount": [NUMBER]}}),
    (BEHAVIOURS, behaviour(event_id=3), {"event_id": [STRING]}),
    (BEHAVIOURS, behaviour(member=1), {"member": [STRING]}),
    (BEHAVIOURS, behaviour(action=0), {"action": [STRING]}),
    (BEHAVIOURS, behaviour(meta={"photo": 1}), {"meta": {"photo": [BOOLEAN]}}),
    (BEHAVIOURS, behaviour(meta={"photo": "true"}), {"meta": {"photo": [BOOLEAN]}}),
    (QUOTE, {"member": 1, "order_amount": "88.00"}, {"member": [STRING]}),
    (QUOTE, {"member": "u-1", "order_amount": "８８.００"}, {"order_amount": [NUMBER]}),
    (HOLDS, hold(member=1), {"member": [STRING]}),
    (HOLDS, hold(order_id=1001), {"order_id": [STRING]}),
    (HOLDS, hold(order_amount="８８"), {"order_amount": [NUMBER]}),
])
def test_wrong_types_are_field_errors_and_write_nothing(client, shopper, path, payload, fields):
    before = rows()
    response = post_hook(client, path, body=encode(payload),
                         headers={"Accept-Language": "en", "Idempotency-Key": "k-1"})
    assert (response.status_code, response.json()) == (400, {"error": {
        "code": "invalid", "message": "The request has invalid fields.", "fields": fields}})
    assert rows() == before


def encode(payload) -> bytes:
    import json

    class Exact(json.JSONEncoder):
        def default(self, value):
            if isinstance(value, Decimal):  # sent as a JSON number, exactly as written
                return float(value)
            return super().default(value)

    return json.dumps(payload, cls=Exact).encode()


def test_money_as_a_json_number_is_the_same_amount(client, shopper):
    as_text = post_hook(client, QUOTE, {"member": "u-1", "order_amount": "88.00"}).json()
    for number in (b"88", b"88.0", b"88.00", b"8.8e1"):
        response = post_hook(client, QUOTE, body=b'{"member": "u-1", "order_amount": ' + number + b"}")
        assert (response.status_code, response.json()) == (200, as_text)
    assert as_text["max_deduction"] == "44.00"


def test_an_order_paid_in_json_numbers_earns_as_in_text(client, shopper):
    body = (b'{"event_id": "e-1", "type": "order.paid", "order": {"id": "o-1", "member": "u-1", '
            b'"amount": 100.00, "paid_at": "2026-01-10T10:00:00+08:00", "lines": '
            b'[{"sku": "mango", "categories": ["imported"], "amount": 100, "quantity": 1}]}}')
    response = post_hook(client, ORDERS, body=body)
    assert response.status_code == 200
    text = post_hook(client, ORDERS, {**paid(), "event_id": "e-2", "order": {**paid()["order"], "id": "o-2"}})
    assert response.json()["points"] == text.json()["points"] > 0
