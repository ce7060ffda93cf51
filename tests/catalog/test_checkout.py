"""The shop's checkout deduction: /api/v1/checkout/quote/, holds/, holds/{id}/capture/ and release/.

One file for the one service module (``catalog.checkout``), as the suite keeps one test file per
service; its four endpoints share the signing and body helpers at the top."""

import dataclasses
import json
from datetime import timedelta
from unittest.mock import patch

import pytest
from django.conf import settings
from django.test import Client
from django.utils.translation import gettext as _
from django.utils.translation import override

from mall.models import HookEvent
from points import services
from points.models import Hold
from rules.selectors import rulebook_for
from tests.factories import MemberFactory
from tests.mall.signing import post_hook
from tests.points.ledger import T0, at, entries, lots, snapshot, totals
from tests.threads import failures, run_together

pytestmark = pytest.mark.django_db

QUOTE, HOLDS = "/api/v1/checkout/quote/", "/api/v1/checkout/holds/"
SOON = at(2026, 2, 1)  # the first lot's expiry


def capture_url(hold_id):
    return f"/api/v1/checkout/holds/{hold_id}/capture/"


def release_url(hold_id):
    return f"/api/v1/checkout/holds/{hold_id}/release/"


@pytest.fixture
def frozen():
    """Now is T0 (2026-01-10 10:00 Asia/Shanghai) for the server and the signer alike."""
    with patch("django.utils.timezone.now", return_value=T0):
        yield T0


def clock(when):
    return patch("django.utils.timezone.now", return_value=when)


@pytest.fixture(autouse=True)
def _invariants_hold_after_each_test(ledger_invariants):
    yield
    assert ledger_invariants() == []


@pytest.fixture
def shopper(frozen):
    """5000 available points: 3000 expiring 2026-02-01, then 2000 that never expire."""
    member = MemberFactory(external_id="u-1")
    services.earn(member, 3000, key="e1", reason="r", expires_at=SOON)
    services.earn(member, 2000, key="e2", reason="r", expires_at=services.NEVER)
    return member


def hold_body(**change):
    return {"member": "u-1", "order_id": "o-1", "points": 4400, "order_amount": "88.00", **change}


def place(client, payload=None, *, key="k-1", **kwargs):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return post_hook(client, HOLDS, hold_body() if payload is None else payload, headers=headers, **kwargs)


def post_empty(client, path, **kwargs):
    return post_hook(client, path, body=b"", **kwargs)


def error(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def translated(message, **params):
    """A message as the API words it: in the default language (no Accept-Language)."""
    with override(settings.LANGUAGE_CODE):
        return _(message) % params if params else _(message)


def unchanged_since(before, *members):
    return snapshot(*members) == before


def state(*members):
    return snapshot(*members), HookEvent.objects.count()


# --------------------------------------------------------------------------- quote


def test_quote_under_the_default_policy(client, shopper):
    response = post_hook(client, QUOTE, {"member": "u-1", "order_amount": "88.00"})
    assert response.status_code == 200
    assert response.json() == {"max_points": 4400, "max_deduction": "44.00", "rate": 100,
                               "min_points": 0, "available": 5000}
    # A JSON number is the same amount; a quote writes nothing.
    assert post_hook(client, QUOTE, {"member": "u-1", "order_amount": 88}).json() == response.json()
    assert HookEvent.objects.count() == 0


def test_quote_is_capped_by_the_balance_and_rounds_down(client, frozen):
    member = MemberFactory(external_id="u-2")
    services.earn(member, 1234, key="e1", reason="r")
    assert post_hook(client, QUOTE, {"member": "u-2", "order_amount": "88.00"}).json() == {
        "max_points": 1234, "max_deduction": "12.34", "rate": 100, "min_points": 0, "available": 1234}
    # 50% of 0.03 is 0.015, rounded down to 0.01.
    assert post_hook(client, QUOTE, {"member": "u-2", "order_amount": "0.03"}).json() == {
        "max_points": 1, "max_deduction": "0.01", "rate": 100, "min_points": 0, "available": 1234}
    MemberFactory(external_id="u-3")  # no account yet
    assert post_hook(client, QUOTE, {"member": "u-3", "order_amount": "88.00"}).json() == {
        "max_points": 0, "max_deduction": "0.00", "rate": 100, "min_points": 0, "available": 0}


def with_policy(**change):
    """The member's rule book with other redemption settings."""
    return patch("catalog.checkout.rulebook_for",
                 side_effect=lambda member: dataclasses.replace(rulebook_for(member), **change))


def test_quote_below_the_minimum_is_zero(client, shopper):
    with with_policy(redemption_min_points=1000):
        body = post_hook(client, QUOTE, {"member": "u-1", "order_amount": "19.99"}).json()
        assert body == {"max_points": 0, "max_deduction": "0.00", "rate": 100, "min_points": 1000,
                        "available": 5000}
        body = post_hook(client, QUOTE, {"member": "u-1", "order_amount": "20.00"}).json()
        assert body["max_points"] == 1000


def test_quote_at_another_rate(client, shopper):
    with with_policy(redemption_points_per_yuan=30, redemption_max_percent=20):
        body = post_hook(client, QUOTE, {"member": "u-1", "order_amount": "88.00"}).json()
    # 20% of 88.00 = 17.60 -> 528 points, worth 17.60.
    assert body == {"max_points": 528, "max_deduction": "17.60", "rate": 30, "min_points": 0,
                    "available": 5000}


def test_quote_errors(client, shopper):
    response = post_hook(client, QUOTE, {"member": "nobody", "order_amount": "88.00"})
    assert (response.status_code, error(response)["code"]) == (404, "member_not_found")
    for amount in ["-1.00", "0", "abc", "1.001", "NaN", True, None, "1e400"]:
        response = post_hook(client, QUOTE, {"member": "u-1", "order_amount": amount})
        assert response.status_code == 400, amount
        assert (error(response)["code"], set(error(response)["fields"])) == ("invalid", {"order_amount"})
    response = post_hook(client, QUOTE, {})
    assert set(error(response)["fields"]) == {"member", "order_amount"}
    response = post_hook(client, QUOTE, body=b"[1]")
    assert (response.status_code, error(response)["code"]) == (400, "parse_error")


# --------------------------------------------------------------------------- holds


def test_hold_reserves_the_points_for_thirty_minutes(client, shopper):
    response = place(client)
    assert response.status_code == 201
    hold = Hold.objects.get()
    assert response.json() == {"hold_id": hold.pk, "points": 4400, "deduction": "44.00", "rate": 100,
                               "expires_at": "2026-01-10T10:30:00+08:00"}
    assert (hold.amount, hold.status, hold.reference, hold.expires_at) == (
        4400, "held", "o-1", T0 + timedelta(minutes=30))
    assert totals(shopper)["available"] == 600 and totals(shopper)["held"] == 4400
    assert lots(shopper) == [(3000, 0), (2000, 600)]  # soonest-expiring first
    assert entries(shopper)[-1] == ("hold", 0, 5000)


def test_same_key_and_body_replays_the_first_response(client, shopper):
    first = place(client)
    before = state(shopper)
    # Re-serialized differently, the amount as a number, signed anew a minute later.
    with clock(T0 + timedelta(minutes=1)):
        body = json.dumps(hold_body(order_amount=88), indent=2, sort_keys=True).encode()
        again = post_hook(client, HOLDS, body=body, headers={"Idempotency-Key": "k-1"})
    assert (again.status_code, again.json()) == (201, first.json())
    assert state(shopper) == before


@pytest.mark.parametrize("change", [{"points": 4000}, {"order_id": "o-2"}, {"order_amount": "90.00"},
                                    {"member": "u-2"}])
def test_same_key_with_another_body_is_a_conflict(client, shopper, change):
    MemberFactory(external_id="u-2")
    place(client)
    before = state(shopper)
    response = place(client, hold_body(**change))
    assert response.status_code == 409
    assert error(response)["code"] == "idempotency_conflict"
    assert state(shopper) == before


def test_another_key_is_another_hold(client, shopper):
    first = place(client, hold_body(points=1000))
    second = place(client, hold_body(points=1000), key="k-2")
    assert second.status_code == 201 and second.json()["hold_id"] != first.json()["hold_id"]
    assert totals(shopper)["held"] == 2000


def test_idempotency_key_is_required(client, shopper):
    before = state(shopper)
    for headers in ({}, {"Idempotency-Key": ""}, {"Idempotency-Key": "   "}):
        response = post_hook(client, HOLDS, hold_body(), headers=headers)
        assert response.status_code == 400
        assert response.json() == {"error": {
            "code": "idempotency_key_required",
            "message": translated("This request needs an Idempotency-Key header."), "fields": {}}}
    for key in ("k" * 81, "key with spaces", "ключ"):
        response = place(client, key=key)
        assert response.status_code == 400
        assert (error(response)["code"], set(error(response)["fields"])) == ("invalid", {"idempotency_key"})
    assert state(shopper) == before


def test_insufficient_points_is_409_and_replayed_as_such(client, shopper):
    before = snapshot(shopper)
    response = place(client, hold_body(points=5001, order_amount="200.00"))
    assert response.status_code == 409
    refusal = {"error": {"code": "insufficient_points", "message": "5001 points needed, 5000 available.",
                         "fields": {}}}
    assert response.json() == refusal
    counts, holds, members = snapshot(shopper)
    assert (holds, members) == before[1:]  # only the refusal is recorded, under the key
    assert counts == {**before[0], "Refusal": 1}
    # The same request under the same key stays refused, even once the points are there.
    services.earn(shopper, 10, key="e3", reason="r")
    again = place(client, hold_body(points=5001, order_amount="200.00"))
    assert (again.status_code, again.json()) == (409, refusal)
    assert totals(shopper)["held"] == 0
    # Under a new key it is judged again.
    assert place(client, hold_body(points=5001, order_amount="200.00"), key="k-2").status_code == 201


def test_more_than_the_order_may_be_paid_with_is_over_limit(client, shopper):
    before = state(shopper)
    response = place(client, hold_body(points=4401))
    assert response.status_code == 409
    assert response.json() == {"error": {"code": "over_limit", "message": translated(
        "An order of %(amount)s may be paid with at most %(limit)s points, not %(points)s.",
        amount="88.00", limit=4400, points=4401), "fields": {}}}
    assert state(shopper) == before
    # Nothing was stored: the same key may carry a corrected request.
    assert place(client, hold_body(points=4400)).status_code == 201


def test_fewer_than_the_minimum_is_refused(client, shopper):
    before = state(shopper)
    with with_policy(redemption_min_points=1000):
        response = place(client, hold_body(points=999))
        assert response.status_code == 409
        assert response.json() == {"error": {"code": "below_minimum", "message": translated(
            "At least %(min)s points must be used, not %(points)s.", min=1000, points=999), "fields": {}}}
        assert state(shopper) == before
        assert place(client, hold_body(points=1000)).status_code == 201


def test_hold_for_an_unknown_member_is_404_and_writes_nothing(client, shopper):
    before = state(shopper)
    response = place(client, hold_body(member="nobody"))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "member_not_found", "message": translated(
        "No member with external id %(id)s.", id="nobody"), "fields": {}}}
    assert state(shopper) == before


@pytest.mark.parametrize(
    ("change", "fields"),
    [({"points": "100"}, {"points"}), ({"points": 100.5}, {"points"}), ({"points": 100.0}, {"points"}),
     ({"points": True}, {"points"}), ({"points": 0}, {"points"}), ({"points": -5}, {"points"}),
     ({"points": 10**12}, {"points"}), ({"points": None}, {"points"}),
     ({"order_amount": "abc"}, {"order_amount"}), ({"order_amount": "0.00"}, {"order_amount"}),
     ({"order_amount": None}, {"order_amount"}), ({"order_id": "x" * 65}, {"order_id"}),
     ({"order_id": ""}, {"order_id"}), ({"member": ["u-1"]}, {"member"}),
     ({"member": None, "order_id": None}, {"member", "order_id"})],
)
def test_hold_field_errors_are_400_and_write_nothing(client, shopper, change, fields):
    before = state(shopper)
    response = place(client, hold_body(**change))
    assert response.status_code == 400
    assert (error(response)["code"], set(error(response)["fields"])) == ("invalid", fields)
    assert state(shopper) == before


def test_hold_missing_fields_and_bad_json(client, shopper):
    before = state(shopper)
    response = place(client, {})
    assert set(error(response)["fields"]) == {"member", "order_id", "points", "order_amount"}
    for body in (b"{not json", b"", b"[1]", b'"x"'):
        response = place(client, body=body)
        assert (response.status_code, error(response)["code"]) == (400, "parse_error")
    assert state(shopper) == before


# --------------------------------------------------------------------------- capture


@pytest.fixture
def held(client, shopper):
    """A hold of 4400 points for order o-1 (88.00) placed at T0; returns its id."""
    return place(client).json()["hold_id"]


def test_full_capture(client, shopper, held):
    with clock(T0 + timedelta(minutes=10)):
        response = post_empty(client, capture_url(held))
    assert response.status_code == 200
    assert response.json() == {"hold_id": held, "status": "captured", "points": 4400,
                               "deduction": "44.00", "released": 0}
    assert totals(shopper) == {"available": 600, "pending": 0, "held": 0, "debt": 0,
                               "lifetime_earned": 5000, "lifetime_spent": 4400, "lifetime_expired": 0}
    assert entries(shopper)[-1] == ("capture", -4400, 600)
    hold = Hold.objects.get(pk=held)
    assert (hold.status, hold.captured) == ("captured", 4400)

    # Repeated (even past the deadline): the same answer, nothing moves.
    before = state(shopper)
    with clock(T0 + timedelta(hours=2)):
        again = post_hook(client, capture_url(held), {})
    assert (again.status_code, again.json()) == (200, response.json())
    assert state(shopper) == before
    # Another amount under the same capture is a conflict; a release after it is not open.
    response = post_hook(client, capture_url(held), {"points": 100})
    assert (response.status_code, error(response)["code"]) == (409, "idempotency_conflict")
    response = post_empty(client, release_url(held))
    assert (response.status_code, error(response)["code"]) == (409, "hold_not_open")
    assert state(shopper) == before


def test_partial_capture_releases_the_rest_to_the_lots(client, shopper, held):
    response = post_hook(client, capture_url(held), {"points": 1234})
    assert response.status_code == 200
    assert response.json() == {"hold_id": held, "status": "captured", "points": 1234,
                               "deduction": "12.34", "released": 3166}
    assert totals(shopper) == {"available": 3766, "pending": 0, "held": 0, "debt": 0,
                               "lifetime_earned": 5000, "lifetime_spent": 1234, "lifetime_expired": 0}
    # Spent from the soonest-expiring lot; the rest went back where it came from.
    assert lots(shopper) == [(3000, 1766), (2000, 2000)]
    assert entries(shopper)[-2:] == [("capture", -1234, 3766), ("release", 0, 3766)]
    before = state(shopper)
    assert post_hook(client, capture_url(held), {"points": 1234}).json() == response.json()
    assert state(shopper) == before


def test_capture_more_than_held_or_malformed_is_400(client, shopper, held):
    before = state(shopper)
    response = post_hook(client, capture_url(held), {"points": 4401})
    assert response.status_code == 400
    assert response.json() == {"error": {
        "code": "invalid", "message": translated("The request has invalid fields."),
        "fields": {"points": [translated("The hold has %(held)s points; %(points)s cannot be captured.",
                                         held=4400, points=4401)]}}}
    for points in ("10", 0, 1.5, False, [1]):
        response = post_hook(client, capture_url(held), {"points": points})
        assert (response.status_code, set(error(response)["fields"])) == (400, {"points"}), points
    response = post_hook(client, capture_url(held), body=b"[]")
    assert (response.status_code, error(response)["code"]) == (400, "parse_error")
    assert state(shopper) == before
    # Still open: a valid capture goes through.
    assert post_hook(client, capture_url(held), {"points": None}).json()["points"] == 4400


def test_capture_values_the_points_at_the_rate_of_the_hold(client, shopper, held):
    with with_policy(redemption_points_per_yuan=200):
        response = post_hook(client, capture_url(held), {"points": 1000})
    assert response.json()["deduction"] == "10.00"


# --------------------------------------------------------------------------- release


def test_release_gives_everything_back(client, shopper, held):
    response = post_empty(client, release_url(held))
    assert response.status_code == 200
    assert response.json() == {"hold_id": held, "status": "released", "points": 0, "deduction": "0.00",
                               "released": 4400}
    assert totals(shopper) == {"available": 5000, "pending": 0, "held": 0, "debt": 0,
                               "lifetime_earned": 5000, "lifetime_spent": 0, "lifetime_expired": 0}
    assert lots(shopper) == [(3000, 3000), (2000, 2000)]
    before = state(shopper)
    again = post_hook(client, release_url(held), {"reason": "ignored"})
    assert (again.status_code, again.json()) == (200, response.json())
    # Capture after release: not open.
    response = post_empty(client, capture_url(held))
    assert response.status_code == 409
    assert response.json() == {"error": {"code": "hold_not_open", "message": f"Hold {held} is released.",
                                         "fields": {}}}
    assert state(shopper) == before


# --------------------------------------------------------------------------- deadlines


def test_expired_by_the_job_then_capture_is_hold_expired(client, shopper, held):
    later = T0 + timedelta(minutes=31)
    assert services.release_stale_holds(now=later) == 1
    assert Hold.objects.get(pk=held).status == "expired"
    assert totals(shopper)["available"] == 5000
    before = state(shopper)
    with clock(later):
        response = post_empty(client, capture_url(held))
    assert response.status_code == 409
    assert response.json() == {"error": {"code": "hold_expired", "message": translated(
        "The reservation of hold %(id)s ran out at %(deadline)s.", id=held,
        deadline="2026-01-10T10:30:00+08:00"), "fields": {}}}
    assert state(shopper) == before
    # Cancelling the order now is fine: the points are back already.
    with clock(later):
        response = post_empty(client, release_url(held))
    assert response.json() == {"hold_id": held, "status": "expired", "points": 0, "deduction": "0.00",
                               "released": 4400}
    assert totals(shopper)["available"] == 5000


def test_capture_at_the_deadline_before_the_job_is_hold_expired(client, shopper, held):
    deadline = T0 + timedelta(minutes=30)
    before = state(shopper)
    with clock(deadline):
        response = post_hook(client, capture_url(held), {"points": 100})
    assert (response.status_code, error(response)["code"]) == (409, "hold_expired")
    assert state(shopper) == before  # still reserved until the job runs
    assert services.release_stale_holds(now=deadline) == 1
    assert totals(shopper)["available"] == 5000
    with clock(deadline):
        assert error(post_empty(client, capture_url(held)))["code"] == "hold_expired"


def test_capture_just_before_the_deadline_is_honoured(client, shopper, held):
    with clock(T0 + timedelta(minutes=30) - timedelta(seconds=1)):
        response = post_empty(client, capture_url(held))
    assert (response.status_code, response.json()["points"]) == (200, 4400)
    assert services.release_stale_holds(now=T0 + timedelta(hours=1)) == 0


def test_release_after_the_deadline_before_the_job_releases(client, shopper, held):
    with clock(T0 + timedelta(minutes=45)):
        response = post_empty(client, release_url(held))
    assert response.json()["status"] == "released"
    assert totals(shopper)["available"] == 5000


def test_unknown_holds_are_404(client, shopper, held):
    other = services.hold(shopper, 10, key="auction-bid-1", reference="lot-7")  # not a checkout hold
    before = state(shopper)
    for hold_id in (held + 1000, other.pk, 0, 10**30):
        for url in (capture_url(hold_id), release_url(hold_id)):
            response = post_empty(client, url)
            assert response.status_code == 404, url
            assert response.json() == {"error": {"code": "hold_not_found",
                                                 "message": translated("No such checkout hold."),
                                                 "fields": {}}}
    assert state(shopper) == before


# --------------------------------------------------------------------------- signature


def endpoints(hold_id):
    return [(QUOTE, {"member": "u-1", "order_amount": "88.00"}, {}),
            (HOLDS, hold_body(order_id="o-2", points=100), {"Idempotency-Key": "k-2"}),
            (capture_url(hold_id), {}, {}),
            (release_url(hold_id), {}, {})]


def test_every_endpoint_needs_the_signature(client, shopper, held):
    before = state(shopper)
    for path, payload, headers in endpoints(held):
        for kwargs in ({"secret": "wrong-secret"}, {"sig": "0" * 64}, {"sig": ""}, {"sig": "签名"}):
            response = post_hook(client, path, payload, headers=headers, **kwargs)
            assert response.status_code == 401, (path, kwargs)
            assert error(response)["code"] == "invalid_signature"
            assert response.headers["WWW-Authenticate"] == 'HMAC-SHA256 realm="hooks"'
        response = post_hook(client, path, payload, headers=headers, timestamp=int(T0.timestamp()) - 301)
        assert (response.status_code, error(response)["code"]) == (401, "stale_timestamp")
        response = client.post(path, data=json.dumps(payload), content_type="application/json",
                               headers=headers)
        assert (response.status_code, error(response)["code"]) == (401, "invalid_timestamp")
        response = client.get(path)
        assert response.status_code == 401
    assert state(shopper) == before
    assert Hold.objects.get(pk=held).status == "held"


def test_a_body_changed_after_signing_is_refused(client, shopper, held):
    from tests.mall.signing import signature

    before = state(shopper)
    body = json.dumps({"points": 100}).encode()
    timestamp = str(int(T0.timestamp()))
    response = client.post(capture_url(held), data=body.replace(b"100", b"4400"),
                           content_type="application/json",
                           headers={"X-Timestamp": timestamp, "X-Signature": signature(body, timestamp)})
    assert response.status_code == 401
    assert state(shopper) == before


# --------------------------------------------------------------------------- concurrency


def race(calls):
    """Run the calls at once on threads, each with its own client and connection."""
    outcomes = run_together(len(calls), lambda i: calls[i](Client()))
    assert failures(outcomes) == []
    return [(response.status_code, response.json()) for response in outcomes]


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_holds_reserve_once(shopper):
    results = race([place] * 8)
    assert len(results) == 8 and all(result == results[0] for result in results)
    assert results[0][0] == 201
    assert Hold.objects.count() == 1 and totals(shopper)["held"] == 4400


@pytest.mark.django_db(transaction=True)
def test_concurrent_capture_and_release_resolve_the_hold_once(shopper):
    held = place(Client()).json()["hold_id"]
    results = race([lambda c: post_empty(c, capture_url(held)),
                    lambda c: post_empty(c, release_url(held))] * 3)
    statuses = sorted(status for status, _body in results)
    assert statuses == [200, 200, 200, 409, 409, 409]
    assert {body["error"]["code"] for status, body in results if status == 409} == {"hold_not_open"}
    hold = Hold.objects.get(pk=held)
    assert hold.status in ("captured", "released")
    assert totals(shopper)["available"] == (600 if hold.status == "captured" else 5000)
    assert totals(shopper)["held"] == 0
