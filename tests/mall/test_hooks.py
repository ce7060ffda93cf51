"""The shop's signed hooks: /api/v1/hooks/members/, orders/ and behaviours/."""

import json
from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from mall.models import HookEvent, Member
from points.models import BehaviourRecord, Entry, Lot, Order, OrderLine
from rules.models import RuleSet, RuleSetStatus
from tests.factories import MemberFactory
from tests.mall.signing import post_hook
from tests.points.ledger import T0, at, entries, totals
from tests.threads import failures, run_together

pytestmark = pytest.mark.django_db

MEMBERS, ORDERS, BEHAVIOURS = "/api/v1/hooks/members/", "/api/v1/hooks/orders/", "/api/v1/hooks/behaviours/"


@pytest.fixture
def frozen():
    """Now is T0 (2026-01-10 10:00 Asia/Shanghai) for the server and the signer alike."""
    with patch("django.utils.timezone.now", return_value=T0):
        yield T0


@pytest.fixture
def gold(db):
    return MemberFactory(external_id="u-gold", tier="gold")


def paid(event_id="e-1", order_id="o-1", member="u-gold", amount="100.00", lines=None,
         paid_at="2026-01-10T10:00:00+08:00"):
    if lines is None:
        lines = [{"sku": "mango", "categories": ["imported"], "amount": "100.00", "quantity": 1}]
    return {"event_id": event_id, "type": "order.paid",
            "order": {"id": order_id, "member": member, "amount": amount, "lines": lines,
                      "paid_at": paid_at}}


def refunded(event_id, refund_amount, order_id="o-1"):
    return {"event_id": event_id, "type": "order.refunded",
            "order": {"id": order_id, "refund_amount": refund_amount}}


def behaviour(event_id, action="share", member="u-gold", occurred_at="2026-01-10T10:00:00+08:00",
              **meta):
    payload = {"event_id": event_id, "member": member, "action": action, "occurred_at": occurred_at}
    if meta:
        payload["meta"] = meta
    return payload


def nothing_written():
    return (HookEvent.objects.count(), Order.objects.count(), Entry.objects.count(),
            BehaviourRecord.objects.count()) == (0, 0, 0, 0)


def default_language(message, **params):
    with override(settings.LANGUAGE_CODE):
        return _(message) % params


def error(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


# --------------------------------------------------------------------------- orders


def test_paid_order_earns_under_the_default_rules(client, gold, frozen, ledger_invariants):
    response = post_hook(client, ORDERS, paid())

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"points", "status", "available_at", "explanation", "rewards"}
    assert body["rewards"] == []  # invited by no one
    assert (body["points"], body["status"]) == (235, "pending")
    assert body["available_at"] == "2026-01-17T10:00:00+08:00"
    version = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED).version
    assert body["explanation"]["version"] == version and body["explanation"]["points"] == 235
    assert len(body["explanation"]["lines"]) == 3

    order = Order.objects.get(external_id="o-1")
    assert (order.member, order.tier, order.amount, order.paid_at) == (gold, "gold", Decimal("100.00"), T0)
    assert list(OrderLine.objects.values_list("sku", "categories", "amount")) == [
        ("mango", ["imported"], Decimal("100.00"))]
    assert (order.entry.delta, order.entry.rule_version) == (235, str(version))
    assert order.entry.explanation == body["explanation"]
    assert Lot.objects.get(entry=order.entry).available_at == at(2026, 1, 17, 10)
    assert totals(gold)["pending"] == 235
    stored = HookEvent.objects.get(event_id="e-1")
    assert (stored.endpoint, stored.status, stored.response) == ("orders", 200, body)
    assert ledger_invariants() == []


def test_redelivery_returns_the_first_response_and_posts_once(client, gold, frozen):
    first = post_hook(client, ORDERS, paid())
    # Re-serialized differently (indentation, key order) and signed anew a minute later.
    with patch("django.utils.timezone.now", return_value=T0 + timedelta(minutes=1)):
        body = json.dumps(paid(), indent=2, sort_keys=True).encode()
        again = post_hook(client, ORDERS, body=body)
    assert again.status_code == 200 and again.json() == first.json()
    assert entries(gold) == [("earn", 235, 235)]
    assert HookEvent.objects.count() == 1


def test_same_event_id_with_another_body_is_a_conflict(client, gold, frozen):
    post_hook(client, ORDERS, paid())
    response = post_hook(client, ORDERS, paid(amount="120.00", lines=[
        {"sku": "mango", "categories": ["imported"], "amount": "120.00"}]))
    assert response.status_code == 409
    assert error(response)["code"] == "idempotency_conflict"
    # An event id is unique across the hooks, too.
    response = post_hook(client, BEHAVIOURS, behaviour("e-1"))
    assert (response.status_code, error(response)["code"]) == (409, "idempotency_conflict")
    assert entries(gold) == [("earn", 235, 235)]


def test_the_same_order_under_a_new_event_id(client, gold, frozen):
    post_hook(client, ORDERS, paid())
    again = post_hook(client, ORDERS, paid(event_id="e-2"))
    assert (again.status_code, again.json()["points"]) == (200, 235)
    other = post_hook(client, ORDERS, paid(event_id="e-3", amount="101.00"))
    assert (other.status_code, error(other)["code"]) == (409, "idempotency_conflict")
    assert entries(gold) == [("earn", 235, 235)]
    assert HookEvent.objects.count() == 2  # the refused one left nothing


def test_unknown_member_is_404_and_nothing_is_kept(client, frozen):
    response = post_hook(client, ORDERS, paid(member="nobody"))
    assert response.status_code == 404
    assert error(response)["code"] == "member_not_found"
    assert nothing_written()
    # Refusals are not replayed: once the member exists, the redelivery is applied.
    MemberFactory(external_id="nobody")
    assert post_hook(client, ORDERS, paid(member="nobody")).json()["points"] == 160  # 150 + 10


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"amount": "-1.00"}, {"order": {"amount"}}),
        ({"amount": "abc"}, {"order": {"amount"}}),
        ({"amount": "NaN"}, {"order": {"amount"}}),
        ({"amount": "100.001"}, {"order": {"amount"}}),
        ({"amount": True}, {"order": {"amount"}}),
        ({"lines": [{"sku": "a", "amount": "-5.00"}]}, {"order": {"lines"}}),
        ({"lines": [{"sku": "a", "amount": "x"}]}, {"order": {"lines"}}),
        ({"lines": [{"sku": "a", "amount": "1.00", "quantity": 0}]}, {"order": {"lines"}}),
        ({"lines": [{"sku": "a", "amount": "1.00", "categories": "imported"}]}, {"order": {"lines"}}),
        ({"lines": []}, {"order": {"lines"}}),
        ({"lines": [{"sku": "a", "amount": "100.01"}]}, {"order": {"lines"}}),  # more than the order
        ({"paid_at": "yesterday"}, {"order": {"paid_at"}}),
        ({"member": None}, {"order": {"member"}}),
    ],
)
def test_field_errors_are_400_with_the_fields(client, gold, frozen, change, fields):
    payload = paid()
    payload["order"].update(change)
    response = post_hook(client, ORDERS, payload)
    assert response.status_code == 400
    err = error(response)
    assert err["code"] == "invalid"
    assert {key: set(value) for key, value in err["fields"].items()} == fields
    assert nothing_written()


@pytest.mark.parametrize(
    "payload",
    [{"type": "order.paid"}, {"event_id": "e-1"}, {"event_id": "e-1", "type": "order.shipped"},
     {"event_id": "e-1", "type": ["order.paid"]}, {"event_id": "e-1", "type": "order.paid", "order": "x"}],
)
def test_missing_or_wrong_top_level_fields(client, gold, frozen, payload):
    response = post_hook(client, ORDERS, payload)
    assert response.status_code == 400
    assert error(response)["code"] == "invalid" and error(response)["fields"]
    assert nothing_written()


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[1, 2]", b'"text"', "{\"a\": 1}".encode("utf-16"), b"[" * 100_000 + b"]" * 100_000],
)
def test_malformed_json_is_400(client, frozen, body):
    response = post_hook(client, ORDERS, body=body)
    assert response.status_code == 400
    assert error(response)["code"] == "parse_error"
    assert nothing_written()


# --------------------------------------------------------------------------- signature


def test_bad_signature_is_401_and_nothing_is_written(client, gold, frozen):
    for kwargs in ({"secret": "wrong-secret"}, {"sig": "0" * 64}, {"sig": ""}, {"sig": "签名"}):
        response = post_hook(client, ORDERS, paid(), **kwargs)
        assert response.status_code == 401, kwargs
        assert error(response)["code"] == "invalid_signature"
        assert response.headers["WWW-Authenticate"]
    # A body changed after signing.
    body = json.dumps(paid()).encode()
    timestamp = str(int(T0.timestamp()))
    from tests.mall.signing import signature

    tampered = body.replace(b"100.00", b"900.00")
    response = client.post(ORDERS, data=tampered, content_type="application/json",
                           headers={"X-Timestamp": timestamp, "X-Signature": signature(body, timestamp)})
    assert response.status_code == 401
    assert nothing_written()


@pytest.mark.parametrize(("offset", "status"), [(-301, 401), (301, 401), (-299, 200), (299, 200)])
def test_timestamp_must_be_within_five_minutes(client, gold, frozen, offset, status):
    response = post_hook(client, ORDERS, paid(), timestamp=int(T0.timestamp()) + offset)
    assert response.status_code == status
    if status == 401:
        assert error(response)["code"] == "stale_timestamp"
        assert nothing_written()


@pytest.mark.parametrize("timestamp", ["", "abc", "1.5", "-5", "9" * 20])
def test_malformed_timestamp_is_401(client, gold, frozen, timestamp):
    response = post_hook(client, ORDERS, paid(), timestamp=timestamp)
    assert (response.status_code, error(response)["code"]) == (401, "invalid_timestamp")
    assert nothing_written()


def test_missing_headers_and_wrong_method(client, gold):
    response = client.post(ORDERS, data=json.dumps(paid()), content_type="application/json")
    assert response.status_code == 401
    response = client.get(ORDERS)
    assert (response.status_code, error(response)["code"]) == (405, "method_not_allowed")
    assert nothing_written()


# --------------------------------------------------------------------------- refunds


def test_partial_refunds_sum_past_the_earned_points(client, gold, frozen, ledger_invariants):
    post_hook(client, ORDERS, paid())  # 235 points on 100.00
    bodies = [post_hook(client, ORDERS, refunded(f"r-{i}", amount)).json()
              for i, amount in enumerate(["40.00", "40.00", "40.00", "5.00"])]
    assert bodies == [
        {"points_reversed": 94, "reversed_total": 94, "refunded_amount": "40.00", "rewards_reversed": 0},
        {"points_reversed": 94, "reversed_total": 188, "refunded_amount": "80.00", "rewards_reversed": 0},
        {"points_reversed": 47, "reversed_total": 235, "refunded_amount": "100.00", "rewards_reversed": 0},
        {"points_reversed": 0, "reversed_total": 235, "refunded_amount": "100.00", "rewards_reversed": 0},
    ]
    # A redelivered refund is not counted twice.
    assert post_hook(client, ORDERS, refunded("r-0", "40.00")).json() == bodies[0]
    assert entries(gold) == [("earn", 235, 235), ("reverse", -94, 141), ("reverse", -94, 47),
                             ("reverse", -47, 0)]
    assert Order.objects.get().refunded_amount == Decimal("100.00")
    assert ledger_invariants() == []


def test_refund_after_spending_leaves_debt(client, gold, frozen, ledger_invariants):
    from points import services

    post_hook(client, ORDERS, paid(paid_at="2026-01-01T10:00:00+08:00"))  # available since the 8th
    services.spend(gold, 200, key="mall-1", reason="mall")
    body = post_hook(client, ORDERS, refunded("r-1", "100.00")).json()
    assert body["points_reversed"] == 235
    assert (totals(gold)["available"], totals(gold)["debt"]) == (0, 200)
    assert ledger_invariants() == []


@pytest.mark.parametrize("amount", ["-1.00", "0", "0.00", "abc", "1.001"])
def test_refund_amount_must_be_positive_money(client, gold, frozen, amount):
    post_hook(client, ORDERS, paid())
    response = post_hook(client, ORDERS, refunded("r-1", amount))
    assert response.status_code == 400
    assert set(error(response)["fields"]["order"]) == {"refund_amount"}
    assert Entry.objects.filter(kind="reverse").count() == 0


def test_refund_of_an_unknown_order_is_404(client, frozen):
    response = post_hook(client, ORDERS, refunded("r-1", "10.00", order_id="nope"))
    assert (response.status_code, error(response)["code"]) == (404, "order_not_found")
    assert nothing_written()


# --------------------------------------------------------------------------- behaviours


def test_share_limit_and_reason(client, gold, frozen):
    bodies = [post_hook(client, BEHAVIOURS, behaviour(f"b-{i}")).json() for i in range(4)]
    assert [b["points"] for b in bodies] == [50, 50, 50, 0]
    assert bodies[3]["reason"] == default_language("%(action)s: daily limit of %(limit)s reached",
                                                   action="分享", limit=3)
    assert totals(gold)["available"] == 150


def test_review_with_photo_and_daily_cap(client, gold, frozen):
    assert post_hook(client, BEHAVIOURS, behaviour("p-1", "review", photo=True)).json()["points"] == 26
    assert post_hook(client, BEHAVIOURS, behaviour("p-2", "review")).json()["points"] == 20
    for i in range(4):
        post_hook(client, BEHAVIOURS, behaviour(f"i-{i}", "invite"))  # 446
    body = post_hook(client, BEHAVIOURS, behaviour("s-1", "share")).json()
    assert body["points"] == 50  # 496
    body = post_hook(client, BEHAVIOURS, behaviour("s-2", "share")).json()
    assert body["points"] == 4
    assert default_language("daily cap of %(cap)s reached: %(points)s of %(wanted)s",
                            cap=500, points=4, wanted=50) in body["reason"]
    assert totals(gold)["available"] == 500


def test_unknown_action_unknown_member_and_bad_fields(client, gold, frozen):
    response = post_hook(client, BEHAVIOURS, behaviour("x-1", "dance"))
    assert (response.status_code, error(response)["code"]) == (400, "unknown_action")
    response = post_hook(client, BEHAVIOURS, behaviour("x-2", member="nobody"))
    assert (response.status_code, error(response)["code"]) == (404, "member_not_found")
    response = post_hook(client, BEHAVIOURS, behaviour("x-3", occurred_at="soon"))
    assert response.status_code == 400 and set(error(response)["fields"]) == {"occurred_at"}
    response = post_hook(client, BEHAVIOURS, {"event_id": "x-4"})
    assert set(error(response)["fields"]) == {"member", "action", "occurred_at"}
    assert nothing_written()


# --------------------------------------------------------------------------- members


def test_member_hook_creates_once_with_register_points(client, frozen):
    payload = {"event_id": "m-1",
               "member": {"external_id": "u-9", "nickname": "阿九", "phone": "13800000009"}}
    response = post_hook(client, MEMBERS, payload)
    assert response.status_code == 200
    assert response.json() == {
        "member": {"external_id": "u-9", "username": "ext_u-9", "nickname": "阿九",
                   "phone": "13800000009", "tier": "normal"},
        "created": True, "points": 200,
    }
    member = Member.objects.get(external_id="u-9")
    assert not member.has_usable_password()
    assert totals(member)["available"] == 200
    assert post_hook(client, MEMBERS, payload).json() == response.json()

    update = {"event_id": "m-2", "member": {"external_id": "u-9", "username": "jiu", "tier": "gold"}}
    body = post_hook(client, MEMBERS, update).json()
    assert (body["created"], body["points"]) == (False, 0)
    assert body["member"] == {"external_id": "u-9", "username": "jiu", "nickname": "阿九",
                              "phone": "13800000009", "tier": "gold"}
    assert entries(member) == [("earn", 200, 200)]
    assert Member.objects.filter(external_id="u-9").count() == 1


@pytest.mark.parametrize(
    ("member", "fields"),
    [({"external_id": "u-9", "tier": "platinum"}, {"tier"}),
     ({"external_id": "u-9", "username": "has space"}, {"username"}),
     ({"external_id": "u-9", "username": "taken"}, {"username"}),
     ({"external_id": "u-9", "phone": "12"}, {"phone"}),
     ({"external_id": "u-9", "phone": "13900000000"}, {"phone"}),
     ({"nickname": "x"}, {"external_id"})],
)
def test_member_hook_field_errors(client, frozen, member, fields):
    MemberFactory(username="taken", phone="13900000000")
    response = post_hook(client, MEMBERS, {"event_id": "m-1", "member": member})
    assert response.status_code == 400
    assert set(error(response)["fields"]["member"]) == fields
    assert Member.objects.count() == 1 and nothing_written()


# --------------------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_duplicates_post_once_and_answer_alike(ledger_invariants):
    member = MemberFactory(external_id="u-gold", tier="gold")
    now = timezone.localtime()
    payload = paid(paid_at=now.isoformat())
    results = run_together(10, lambda i: post_hook(Client(), ORDERS, payload))
    errors = failures(results)
    responses = [(response.status_code, response.json()) for response in results
                 if not isinstance(response, Exception)]

    assert errors == []
    assert len(responses) == 10
    assert all(response == responses[0] for response in responses)
    assert responses[0][0] == 200 and responses[0][1]["points"] == 235
    assert responses[0][1]["status"] == "pending"
    assert entries(member) == [("earn", 235, 235)]
    assert (HookEvent.objects.count(), Order.objects.count()) == (1, 1)
    assert ledger_invariants() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_member_deliveries_with_different_event_ids_create_one_member():
    results = run_together(5, lambda i: post_hook(
        Client(), MEMBERS, {"event_id": f"m-{i}", "member": {"external_id": "u-race"}}))
    statuses = [getattr(result, "status_code", result) for result in results]

    assert statuses == [200] * 5
    member = Member.objects.get(external_id="u-race")
    assert entries(member) == [("earn", 200, 200)]


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        (ORDERS, {**paid(), "order": {**paid()["order"], "lines": [None]}}),
        (ORDERS, {**paid(), "order": {**paid()["order"], "lines": "mango"}}),
        (ORDERS, {**paid(), "order": {**paid()["order"], "amount": "1e400"}}),
        (ORDERS, {**paid(), "order": {**paid()["order"], "id": "x" * 65}}),
        (ORDERS, {**paid(), "event_id": "e" * 101}),
        (ORDERS, {**paid(), "event_id": {"a": 1}}),
        (ORDERS, {"event_id": "e-1", "type": "order.refunded", "order": {"id": "o-1"}}),
        (BEHAVIOURS, {**behaviour("b-1"), "meta": []}),
        (BEHAVIOURS, {**behaviour("b-1"), "meta": {"photo": "maybe"}}),
        (BEHAVIOURS, {**behaviour("b-1"), "action": ""}),
        (MEMBERS, {"event_id": "m-1", "member": {"external_id": None}}),
        (MEMBERS, {"event_id": "m-1", "member": "u-1"}),
    ],
)
def test_hostile_bodies_get_a_400_never_a_500(client, gold, frozen, path, payload):
    response = post_hook(client, path, payload)
    assert response.status_code == 400
    assert error(response)["code"] == "invalid" and error(response)["fields"]
    assert nothing_written()
