"""Points as a cash deduction in the shop's checkout (DESIGN.md §3.3, issue 4 §3).

The shop's order system calls four endpoints, signed exactly like the hooks (``X-Timestamp`` and
``X-Signature``, see ``mall.hooks``); an unsigned or stale request is a 401 and nothing is read or
written:

* ``POST /api/v1/checkout/quote/`` ``{"member", "order_amount"}`` -> how many points the order may
  be paid with under the member's redemption policy (``rules.selectors.rulebook_for``).
  ``max_points`` is capped by the member's available balance as well as by the policy, so it is
  the most a hold for this order could take right now; 0 when that is below the policy's minimum.
* ``POST /api/v1/checkout/holds/`` ``{"member", "order_id", "points", "order_amount"}`` with an
  ``Idempotency-Key`` header -> 201, the points reserved for 30 minutes.
* ``POST /api/v1/checkout/holds/{id}/capture/`` ``{"points"?}`` (payment done) spends the hold,
  or fewer points than held with the rest released to their lots.
* ``POST /api/v1/checkout/holds/{id}/release/`` (order cancelled) gives all of it back.

Exactly once. Each write runs through ``mall.hooks.apply_once`` under an id of its own
(``checkout-hold:{Idempotency-Key}``, ``checkout-capture:{hold id}``, ``checkout-release:{hold
id}``), which is also the ledger key of its posting. The first outcome is stored and a repeat with
the same body (compared after validation, so ``88`` and ``"88.00"`` are the same amount) gets the
same status and body; another body under the same id is a 409 ``idempotency_conflict``. Outcomes
the ledger records are stored: a hold (201) and its ``insufficient_points`` refusal (409, replayed
as such, DESIGN.md §3.1), a capture, a release. Every other refusal (400, 404 ``member_not_found``
or ``hold_not_found``, 409 ``over_limit``, ``below_minimum``, ``hold_expired``, ``hold_not_open``)
rolls back and writes nothing, so a retry is judged again.

Deadlines. A hold is promised for 30 minutes: from its ``expires_at`` on, a capture is refused
with 409 ``hold_expired`` whether or not the ``release_stale_holds`` job has run yet (until it
runs the hold stays reserved and nothing is written). A release after the deadline is still
accepted: before the job it releases the hold, after the job it answers 200 with status
``expired`` (the points are back either way, which is all a cancelled order needs).

Money. ``rate`` is points per yuan; a deduction is the points' worth rounded down to the fen. A
capture is valued at the rate the hold was quoted at (kept in the hold's stored response), so a
rule change during the 30 minutes does not change what the shop already charged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.api import error_body
from mall.hooks import (
    IsShopSigned,
    SignatureAuthentication,
    apply_once,
    find_member,
    money_field,
    parse_json,
)
from mall.models import HookEvent
from points import services
from points.errors import HoldNotOpen, InsufficientPoints
from points.models import Account, EntryKind, Hold, HoldStatus
from rules.evaluator import max_deduction
from rules.selectors import rulebook_for

HOLD_TTL = timedelta(minutes=30)  # what the shop promises its customer
HOLD_KEY = "checkout-hold:"
CAPTURE_KEY = "checkout-capture:"
RELEASE_KEY = "checkout-release:"
# The hold's id is its ledger key and its stored event's id, at most 100 characters.
MAX_IDEMPOTENCY_KEY = 80
MAX_ID = 2**63 - 1  # bigint: a larger id in the URL is unknown, not a database error


# --------------------------------------------------------------------------- errors


class CheckoutError(exceptions.APIException):
    """A checkout refusal; ``mall.api.exception_handler`` renders its status and ``code``."""

    status_code = 409


class OverLimit(CheckoutError):
    default_code = "over_limit"
    default_detail = gettext_lazy("The order may not be paid with that many points.")


class BelowMinimum(CheckoutError):
    default_code = "below_minimum"
    default_detail = gettext_lazy("Fewer points than the minimum deduction.")


class HoldExpired(CheckoutError):
    default_code = "hold_expired"
    default_detail = gettext_lazy("The reservation has expired.")


class HoldNotFound(CheckoutError):
    status_code = 404
    default_code = "hold_not_found"
    default_detail = gettext_lazy("No such checkout hold.")


class IdempotencyKeyRequired(CheckoutError):
    status_code = 400
    default_code = "idempotency_key_required"
    default_detail = gettext_lazy("This request needs an Idempotency-Key header.")


# --------------------------------------------------------------------------- services


def worth(points: int, points_per_yuan: int) -> Decimal:
    """What ``points`` pay in yuan, rounded down to the fen (never more than they are worth)."""
    return (Decimal(points) / points_per_yuan).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)


@dataclass(frozen=True)
class Quote:
    max_points: int
    max_deduction: Decimal
    rate: int
    min_points: int
    available: int


def quote(member, *, order_amount: Decimal) -> Quote:
    """The most points ``member`` can pay an order of ``order_amount`` with, right now.

    The member's redemption policy caps them (at most ``redemption_max_percent`` of the amount),
    so does the available balance; below the policy's minimum the answer is 0. Writes nothing.
    """
    book = rulebook_for(member)
    policy_points, _worth = max_deduction(book, order_amount)
    available = (Account.objects.filter(member_id=member.pk)
                 .values_list("available", flat=True).first()) or 0
    points = min(policy_points, available)
    if points < book.redemption_min_points:
        points = 0
    rate = book.redemption_points_per_yuan
    return Quote(max_points=points, max_deduction=worth(points, rate), rate=rate,
                 min_points=book.redemption_min_points, available=available)


@dataclass(frozen=True)
class PlacedHold:
    hold_id: int
    points: int
    deduction: Decimal
    rate: int
    expires_at: datetime


def place_hold(member, *, order_id: str, points: int, order_amount: Decimal, key: str) -> PlacedHold:
    """Reserve ``points`` of ``member`` for 30 minutes against ``order_id``.

    Refused, with nothing written, when ``points`` is below the policy's minimum (``BelowMinimum``)
    or more than an order of ``order_amount`` may be paid with (``OverLimit``). Then
    ``points.services.hold`` under ``key``: raises ``InsufficientPoints`` (recorded under the key),
    ``IdempotencyConflict``.
    """
    book = rulebook_for(member)
    if points < book.redemption_min_points:
        raise BelowMinimum(_("At least %(min)s points must be used, not %(points)s.")
                           % {"min": book.redemption_min_points, "points": points})
    limit, _limit_worth = max_deduction(book, order_amount)
    if points > limit:
        raise OverLimit(_("An order of %(amount)s may be paid with at most %(limit)s points, "
                          "not %(points)s.") % {"amount": order_amount, "limit": limit, "points": points})
    hold = services.hold(member, points, key=key, reference=order_id,
                         ttl=HOLD_TTL)
    rate = book.redemption_points_per_yuan
    return PlacedHold(hold_id=hold.pk, points=hold.amount, deduction=worth(hold.amount, rate),
                      rate=rate, expires_at=hold.expires_at)


@dataclass(frozen=True)
class ResolvedHold:
    hold_id: int
    status: str
    points: int  # captured
    deduction: Decimal
    released: int


def known_id(hold_id: int) -> None:
    """Refuse an id no hold can have (the URL takes any digits) before it reaches the database."""
    if not 0 < hold_id <= MAX_ID:
        raise HoldNotFound()


def checkout_hold(hold_id: int) -> tuple[Hold, str]:
    """The hold placed through the checkout and its ledger key; ``HoldNotFound`` for any other
    (unknown, or reserved by something else such as an auction bid)."""
    known_id(hold_id)
    row = (Hold.objects.filter(pk=hold_id, entries__kind=EntryKind.HOLD,
                               entries__key__startswith=HOLD_KEY)
           .values_list("entries__key", flat=True).first())
    if row is None:
        raise HoldNotFound()
    return Hold.objects.select_related("account__member").get(pk=hold_id), row


def _hold_rate(hold: Hold, key: str) -> int:
    """The rate the hold was placed at (stored with its response), else the member's current."""
    stored = HookEvent.objects.filter(event_id=key).values_list("response", flat=True).first()
    if isinstance(stored, dict) and isinstance(stored.get("rate"), int) and stored["rate"] > 0:
        return stored["rate"]
    return rulebook_for(hold.account.member).redemption_points_per_yuan


def _refuse_if_expired(hold: Hold) -> None:
    if hold.status == HoldStatus.EXPIRED or (
        hold.status == HoldStatus.HELD and timezone.now() >= hold.expires_at
    ):
        raise HoldExpired(_("The reservation of hold %(id)s ran out at %(deadline)s.")
                          % {"id": hold.pk, "deadline": timezone.localtime(hold.expires_at).isoformat()})


def capture_hold(hold_id: int, *, points: int | None = None) -> ResolvedHold:
    """Spend the hold (payment done): all of it, or ``points`` with the rest released to its lots.

    Raises ``HoldNotFound``; ``HoldExpired`` from its deadline on (job run or not);
    ``HoldNotOpen`` once released or captured under another key; a field error for more points
    than held. Nothing is written on a refusal.
    """
    hold, hold_key = checkout_hold(hold_id)
    _refuse_if_expired(hold)
    if points is not None and points > hold.amount:
        raise exceptions.ValidationError({"points": [
            _("The hold has %(held)s points; %(points)s cannot be captured.")
            % {"held": hold.amount, "points": points}]})
    try:
        services.capture(hold, key=f"{CAPTURE_KEY}{hold.pk}", points=points)
    except HoldNotOpen:
        hold.refresh_from_db()
        _refuse_if_expired(hold)  # the job released it just now
        raise
    hold.refresh_from_db()
    return ResolvedHold(hold_id=hold.pk, status=hold.status, points=hold.captured,
                        deduction=worth(hold.captured, _hold_rate(hold, hold_key)),
                        released=hold.amount - hold.captured)


def release_hold(hold_id: int) -> ResolvedHold:
    """Give the whole hold back to its lots (order cancelled).

    A hold the timeout job already released answers as it is (status ``expired``). Raises
    ``HoldNotFound``, ``HoldNotOpen`` once captured.
    """
    hold, _key = checkout_hold(hold_id)
    if hold.status != HoldStatus.EXPIRED:
        try:
            services.release(hold, key=f"{RELEASE_KEY}{hold.pk}")
        except HoldNotOpen:
            hold.refresh_from_db()
            if hold.status != HoldStatus.EXPIRED:
                raise
        hold.refresh_from_db()
    return ResolvedHold(hold_id=hold.pk, status=hold.status, points=0, deduction=Decimal("0.00"),
                        released=hold.amount)


# --------------------------------------------------------------------------- API


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: ``"100"``, ``100.0`` and ``true`` are field errors, not points."""

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


def points_field(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(min_value=1, max_value=services.MAX_POINTS, **kwargs)


class SignedCheckoutView(APIView):
    """A checkout endpoint: the shop's signature first (401), then a JSON object body."""

    authentication_classes = [SignatureAuthentication]
    permission_classes = [IsShopSigned]
    renderer_classes = [JSONRenderer]
    empty_body_allowed = False

    def validated(self, request, serializer_class) -> dict:
        body = request.body
        payload = {} if self.empty_body_allowed and not body.strip() else parse_json(body)
        serializer = serializer_class(data=payload)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class QuoteView(SignedCheckoutView):
    """``POST /api/v1/checkout/quote/``: how many points an order may be paid with."""

    class InputSerializer(serializers.Serializer):
        member = serializers.CharField(max_length=64)
        order_amount = money_field(min_value=Decimal("0.01"))

    class OutputSerializer(serializers.Serializer):
        max_points = serializers.IntegerField()
        max_deduction = money_field()
        rate = serializers.IntegerField()
        min_points = serializers.IntegerField()
        available = serializers.IntegerField()

    def post(self, request):
        data = self.validated(request, self.InputSerializer)
        result = quote(find_member(data["member"]), order_amount=data["order_amount"])
        return Response(self.OutputSerializer(result).data)


def idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise IdempotencyKeyRequired()
    if len(key) > MAX_IDEMPOTENCY_KEY or not all("!" <= char <= "~" for char in key):
        raise exceptions.ValidationError({"idempotency_key": [
            _("At most %(max)s visible ASCII characters.") % {"max": MAX_IDEMPOTENCY_KEY}]})
    return key


class HoldView(SignedCheckoutView):
    """``POST /api/v1/checkout/holds/``: reserve points for an order for 30 minutes."""

    class InputSerializer(serializers.Serializer):
        member = serializers.CharField(max_length=64)
        order_id = serializers.CharField(max_length=64)
        points = points_field()
        order_amount = money_field(min_value=Decimal("0.01"))

    class OutputSerializer(serializers.Serializer):
        hold_id = serializers.IntegerField()
        points = serializers.IntegerField()
        deduction = money_field()
        rate = serializers.IntegerField()
        expires_at = serializers.DateTimeField()

    def post(self, request):
        key = HOLD_KEY + idempotency_key(request)
        data = self.validated(request, self.InputSerializer)

        def work():
            member = find_member(data["member"])
            try:
                placed = place_hold(member, order_id=data["order_id"], points=data["points"],
                                    order_amount=data["order_amount"], key=key)
            except InsufficientPoints as exc:  # recorded by the ledger: stored and replayed too
                return 409, error_body(exc.code, exc.message)
            return 201, self.OutputSerializer(placed).data

        status, body = apply_once(event_id=key, endpoint="checkout-holds", payload=dict(data), work=work)
        return Response(body, status=status)


class ResolvedSerializer(serializers.Serializer):
    hold_id = serializers.IntegerField()
    status = serializers.CharField()
    points = serializers.IntegerField()
    deduction = money_field()
    released = serializers.IntegerField()


class CaptureView(SignedCheckoutView):
    """``POST /api/v1/checkout/holds/{id}/capture/``: payment done, spend the hold."""

    empty_body_allowed = True

    class InputSerializer(serializers.Serializer):
        points = points_field(required=False, allow_null=True, default=None)

    def post(self, request, hold_id: int):
        data = self.validated(request, self.InputSerializer)
        known_id(hold_id)
        status, body = apply_once(
            event_id=f"{CAPTURE_KEY}{hold_id}", endpoint="checkout-capture", payload=dict(data),
            work=lambda: (200, ResolvedSerializer(capture_hold(hold_id, points=data["points"])).data),
        )
        return Response(body, status=status)


class ReleaseView(SignedCheckoutView):
    """``POST /api/v1/checkout/holds/{id}/release/``: order cancelled, give the hold back."""

    empty_body_allowed = True

    class InputSerializer(serializers.Serializer):
        pass

    def post(self, request, hold_id: int):
        self.validated(request, self.InputSerializer)
        known_id(hold_id)
        status, body = apply_once(
            event_id=f"{RELEASE_KEY}{hold_id}", endpoint="checkout-release", payload={},
            work=lambda: (200, ResolvedSerializer(release_hold(hold_id)).data),
        )
        return Response(body, status=status)
