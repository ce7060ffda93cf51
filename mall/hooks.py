"""Signed server-to-server hooks for the shop's order system (DESIGN.md §4, issue 3): thin
views that verify the signature (``mall.signing``), parse and validate the body, and apply it once
per ``event_id`` (``mall.services.hook_events.apply_once``) by calling the services.

The same ``event_id`` with a different body (the JSON compared after parsing, so whitespace and
key order do not matter) is a 409 ``idempotency_conflict``. Refusals are not stored: a 4xx
(unknown member or order, unknown action, a field error) writes nothing, so the shop's
redelivery is evaluated again. Only applied events (200) are replayed.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import InvalidFields
from common.fields import StrictBooleanField, StrictCharField, StrictIntegerField, money_field
from common.parsers import parse_object
from mall.models import Member, phone_validator
from mall.services import members
from mall.services.hook_events import apply_once
from mall.signing import AUTHENTICATE_HEADER, verify_signature
from points.services import earning
from referrals.errors import InviteError, UnknownMerchant
from referrals.services import orders as referral_orders
from rules.tiers import tier_choices


class SignedHookView(APIView):
    """A hook: verify the signature, parse and validate the body, apply it once."""

    authentication_classes = []
    permission_classes = []
    renderer_classes = [JSONRenderer]
    endpoint = ""
    input_serializer: type[serializers.Serializer]

    def get_authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) to a failed signature.
        return AUTHENTICATE_HEADER

    def post(self, request):
        body = request.body  # the raw bytes: the signature covers them exactly
        verify_signature(request.headers, body)
        payload = parse_json(body)
        data = self.validate(payload)
        status, response = apply_once(event_id=data["event_id"], endpoint=self.endpoint,
                                      payload=payload, work=lambda: self.apply(data))
        return Response(response, status=status)

    def validate(self, payload: dict) -> dict:
        serializer = self.input_serializer(data=payload)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def apply(self, data: dict) -> tuple[int, dict]:
        raise NotImplementedError


def parse_json(body: bytes) -> dict:
    """The body as a JSON object, parsed as the member API parses (``common.parsers``): numbers
    with a fraction stay exact (``Decimal``); a malformed body is a 400 ``parse_error``."""
    return parse_object(body)


# --------------------------------------------------------------------------- members


class TierField(serializers.ChoiceField):
    """A tier code of the published rule set, read when the body is validated (tiers are data:
    a tier staff publish is accepted at once, one they drop is refused)."""

    def __init__(self, **kwargs):
        super().__init__(choices=(), **kwargs)

    def to_internal_value(self, data):
        self.choices = tier_choices()
        return super().to_internal_value(data)


class MemberHookSerializer(serializers.Serializer):
    class MemberSerializer(serializers.Serializer):
        external_id = StrictCharField(max_length=64)
        username = StrictCharField(max_length=150, required=False,
                                   validators=[UnicodeUsernameValidator()])
        phone = StrictCharField(max_length=20, required=False, allow_null=True,
                                allow_blank=True, validators=[phone_validator])
        nickname = StrictCharField(max_length=64, required=False, allow_blank=True)
        tier = TierField(required=False)
        # Unknown or malformed: the service's 400 invalid_invite_code.
        invite_code = StrictCharField(
            max_length=16, required=False, allow_blank=True,
            help_text=gettext_lazy("The inviter's code; bound once, before the member's first paid order."),
        )

    event_id = StrictCharField(max_length=100)
    member = MemberSerializer()


class MemberHookView(SignedHookView):
    """``POST /api/v1/hooks/members/``: create or update a member by ``external_id``."""

    endpoint = "members"
    input_serializer = MemberHookSerializer

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Member
            fields = ("external_id", "username", "nickname", "phone", "tier")

    def apply(self, data):
        fields = dict(data["member"])
        external_id = fields.pop("external_id")
        if "phone" in fields:
            fields["phone"] = fields["phone"] or None
        if not fields.get("invite_code"):
            fields.pop("invite_code", None)
        try:
            member, created, points = members.upsert_from_shop(external_id=external_id, fields=fields)
        except InvalidFields as exc:  # reported under the body's "member" object
            raise InvalidFields({"member": exc.fields}) from None
        except InviteError as exc:  # the same, keeping its code (invalid_invite_code...)
            exc.fields = {"member": exc.fields}
            raise
        return 200, {"member": self.OutputSerializer(member).data, "created": created, "points": points}


# --------------------------------------------------------------------------- orders


class LineSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64)
    categories = serializers.ListField(child=StrictCharField(max_length=32), required=False,
                                       default=list, max_length=20)
    amount = money_field(min_value=Decimal("0"), help_text=gettext_lazy("Line total after discounts."))
    quantity = StrictIntegerField(min_value=1, default=1)


class OrderPaidSerializer(serializers.Serializer):
    class OrderSerializer(serializers.Serializer):
        id = StrictCharField(max_length=64)
        member = StrictCharField(max_length=64)
        amount = money_field(min_value=Decimal("0"))
        lines = LineSerializer(many=True, allow_empty=False, max_length=500)
        paid_at = serializers.DateTimeField()
        merchant = StrictCharField(
            max_length=32, required=False, allow_null=True,
            help_text=gettext_lazy("The code of the merchant (众店) that sold it; absent for the "
                                   "mall's own orders."),
        )

        def validate(self, attrs):
            # Line totals may fall short of the order (shipping, fees) but never exceed it:
            # points would be earned on money that was never paid.
            lines_total = sum(line["amount"] for line in attrs["lines"])
            if lines_total > attrs["amount"]:
                raise serializers.ValidationError({"lines": [
                    _("The lines add up to %(lines)s, more than the order amount %(amount)s.")
                    % {"lines": lines_total, "amount": attrs["amount"]}
                ]})
            return attrs

    event_id = StrictCharField(max_length=100)
    type = serializers.ChoiceField(choices=["order.paid"])
    order = OrderSerializer()


class OrderRefundedSerializer(serializers.Serializer):
    class OrderSerializer(serializers.Serializer):
        id = StrictCharField(max_length=64)
        refund_amount = money_field(min_value=Decimal("0.01"))

    event_id = StrictCharField(max_length=100)
    type = serializers.ChoiceField(choices=["order.refunded"])
    order = OrderSerializer()


class OrderHookView(SignedHookView):
    """``POST /api/v1/hooks/orders/``: ``order.paid`` earns, ``order.refunded`` reverses."""

    endpoint = "orders"
    serializers_by_type = {"order.paid": OrderPaidSerializer, "order.refunded": OrderRefundedSerializer}

    def validate(self, payload):
        kind = payload.get("type")
        serializer_class = self.serializers_by_type.get(kind) if isinstance(kind, str) else None
        if serializer_class is None:
            raise exceptions.ValidationError({"type": [
                _("Must be one of: %(types)s.") % {"types": ", ".join(self.serializers_by_type)}
            ]})
        serializer = serializer_class(data=payload)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def apply(self, data):
        order = data["order"]
        if data["type"] == "order.paid":
            member = members.by_external_id(order["member"])
            try:
                paid = referral_orders.record_paid_order(
                    member, order_id=order["id"], amount=order["amount"], lines=order["lines"],
                    paid_at=order["paid_at"], merchant=order.get("merchant"),
                )
            except UnknownMerchant as exc:  # reported under the body's "order" object
                exc.fields = {"order": exc.fields}
                raise
            result = paid.earning
            return 200, {
                "points": result.points,
                "status": result.status,
                "available_at": result.available_at,
                "explanation": result.explanation,
                "rewards": [
                    {"kind": record.kind, "outcome": record.outcome, "points": record.points,
                     "level": record.level}
                    for record in paid.rewards
                ],
            }
        refunded = referral_orders.record_refund(order_id=order["id"], refund_amount=order["refund_amount"],
                                                 key=f"hook:{data['event_id']}")
        result = refunded.earning
        return 200, {
            "points_reversed": result.points_reversed,
            "reversed_total": result.reversed_total,
            "refunded_amount": f"{result.refunded_amount:.2f}",
            "rewards_reversed": refunded.rewards_reversed,
        }


# --------------------------------------------------------------------------- behaviours


class BehaviourHookSerializer(serializers.Serializer):
    class MetaSerializer(serializers.Serializer):
        photo = StrictBooleanField(default=False)

    event_id = StrictCharField(max_length=100)
    member = StrictCharField(max_length=64)
    action = StrictCharField(max_length=32)
    occurred_at = serializers.DateTimeField()
    meta = MetaSerializer(required=False)


class BehaviourHookView(SignedHookView):
    """``POST /api/v1/hooks/behaviours/``: a review, share... earns by the behaviour rules."""

    endpoint = "behaviours"
    input_serializer = BehaviourHookSerializer

    def apply(self, data):
        member = members.by_external_id(data["member"])
        points, reason = earning.record_behaviour(
            member, action=data["action"], occurred_at=data["occurred_at"],
            photo=data.get("meta", {}).get("photo", False), key=f"hook:{data['event_id']}",
        )
        return 200, {"points": points, "reason": reason}
