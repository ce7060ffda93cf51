"""The shop's checkout endpoints (DESIGN.md §3.3, issue 4 §3): thin signed DRF views over
``catalog.checkout``, which holds the rules (limits, deadlines, rates, the ``CheckoutHold``).

Four endpoints, signed exactly like the hooks (``X-Timestamp`` and ``X-Signature``, see
``mall.signing``); an unsigned or stale request is a 401 and nothing is read or written:

* ``POST /api/v1/checkout/quote/`` ``{"member", "order_amount"}`` -> ``{"max_points",
  "max_deduction", "rate", "min_points", "available"}`` (``catalog.checkout.quote``).
* ``POST /api/v1/checkout/holds/`` ``{"member", "order_id", "points", "order_amount"}`` with an
  ``Idempotency-Key`` header -> 201 ``{"hold_id", "points", "deduction", "rate", "expires_at"}``,
  the points reserved for 30 minutes.
* ``POST /api/v1/checkout/holds/{id}/capture/`` ``{"points"?}`` (payment done) spends the hold,
  or fewer points than held with the rest released to their lots.
* ``POST /api/v1/checkout/holds/{id}/release/`` (order cancelled) gives all of it back.

Capture and release answer ``{"hold_id", "status", "points", "deduction", "released"}``; their
body may be empty.

The ``Idempotency-Key`` header is required on a hold (400 ``idempotency_key_required``) and is
at most 80 visible ASCII characters (a 400 field error on ``idempotency_key``): prefixed by
``catalog.checkout.hold_key`` it is both the hold's ledger key and the id of its stored outcome,
which holds at most 100 characters.

Exactly once. Each write runs through ``mall.services.hook_events.apply_once`` under the ledger key of its
posting (``checkout-hold:{Idempotency-Key}``, ``checkout-capture:{hold id}``,
``checkout-release:{hold id}``). The first outcome is stored and a repeat with the same body
(compared after validation, so ``88`` and ``"88.00"`` are the same amount) gets the same status
and body; another body under the same id is a 409 ``idempotency_conflict``. Outcomes the ledger
records are stored: a hold (201) and its ``insufficient_points`` refusal (409, replayed as such,
DESIGN.md §3.1), a capture, a release. Every other refusal (400, 404 ``member_not_found`` or
``hold_not_found``, 409 ``over_limit``, ``below_minimum``, ``hold_expired``, ``hold_not_open``)
rolls back and writes nothing, so a retry is judged again.

Errors are domain errors (``catalog.errors``, ``points.errors``) rendered by the API's one handler
(``common.api``) by their kind: 404 ``hold_not_found``; 409 ``over_limit``, ``below_minimum``,
``hold_expired``, ``hold_not_open``, ``idempotency_conflict``; ``InvalidField`` is a 400 field error
like a serializer's.
"""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import checkout
from common.api import error_body
from common.fields import StrictCharField, StrictIntegerField, money_field
from common.headers import idempotency_key
from mall.hooks import parse_json
from mall.services import members
from mall.services.hook_events import apply_once
from mall.signing import IsShopSigned, SignatureAuthentication
from points.errors import InsufficientPoints
from points.services import MAX_POINTS


def points_field(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(min_value=1, max_value=MAX_POINTS, **kwargs)


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
        member = StrictCharField(max_length=64)
        order_amount = money_field(min_value=Decimal("0.01"))

    class OutputSerializer(serializers.Serializer):
        max_points = serializers.IntegerField()
        max_deduction = money_field()
        rate = serializers.IntegerField()
        min_points = serializers.IntegerField()
        available = serializers.IntegerField()

    def post(self, request):
        data = self.validated(request, self.InputSerializer)
        result = checkout.quote(members.by_external_id(data["member"]), order_amount=data["order_amount"])
        return Response(self.OutputSerializer(result).data)


class HoldView(SignedCheckoutView):
    """``POST /api/v1/checkout/holds/``: reserve points for an order for 30 minutes."""

    class InputSerializer(serializers.Serializer):
        member = StrictCharField(max_length=64)
        order_id = StrictCharField(max_length=64)
        points = points_field()
        order_amount = money_field(min_value=Decimal("0.01"))

    class OutputSerializer(serializers.Serializer):
        hold_id = serializers.IntegerField()
        points = serializers.IntegerField()
        deduction = money_field()
        rate = serializers.IntegerField()
        expires_at = serializers.DateTimeField()

    def post(self, request):
        key = checkout.hold_key(idempotency_key(request))
        data = self.validated(request, self.InputSerializer)

        def work():
            member = members.by_external_id(data["member"])
            try:
                placed = checkout.place_hold(member, order_id=data["order_id"], points=data["points"],
                                             order_amount=data["order_amount"], key=key)
            except InsufficientPoints as exc:  # recorded by the ledger: stored and replayed too
                return 409, error_body(exc.code, exc.message)
            return 201, self.OutputSerializer(placed).data

        status_code, body = apply_once(event_id=key, endpoint="checkout-holds", payload=dict(data),
                                       work=work)
        return Response(body, status=status_code)


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
        checkout.known_id(hold_id)
        status_code, body = apply_once(
            event_id=checkout.capture_key(hold_id), endpoint="checkout-capture", payload=dict(data),
            work=lambda: (200, ResolvedSerializer(
                checkout.capture_hold(hold_id, points=data["points"])).data),
        )
        return Response(body, status=status_code)


class ReleaseView(SignedCheckoutView):
    """``POST /api/v1/checkout/holds/{id}/release/``: order cancelled, give the hold back."""

    empty_body_allowed = True

    class InputSerializer(serializers.Serializer):
        pass

    def post(self, request, hold_id: int):
        self.validated(request, self.InputSerializer)
        checkout.known_id(hold_id)
        status_code, body = apply_once(
            event_id=checkout.release_key(hold_id), endpoint="checkout-release", payload={},
            work=lambda: (200, ResolvedSerializer(checkout.release_hold(hold_id)).data),
        )
        return Response(body, status=status_code)
