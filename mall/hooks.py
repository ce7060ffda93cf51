"""Signed server-to-server hooks for the shop's order system (DESIGN.md §4, issue 3).

Authentication is the signature, nothing else: ``X-Signature`` is the hex HMAC-SHA256, keyed with
``settings.HOOKS_SECRET``, of ``"{X-Timestamp}.{raw body}"``, and ``X-Timestamp`` (unix seconds)
must be within 5 minutes of our clock. Otherwise 401 and nothing is read or written.

Exactly once per ``event_id``. The transaction that applies an event first inserts its
``HookEvent`` row (``ON CONFLICT DO NOTHING``), then does the work, then stores the response in
that row and commits. A concurrent duplicate blocks on the unique index until the first commits,
then reads the stored response; a redelivery later reads it too. The same ``event_id`` with a
different body (the JSON compared after parsing, so whitespace and key order do not matter) is a
409 ``idempotency_conflict``.

Refusals are not stored. A 4xx (unknown member or order, unknown action, a field error) rolls the
whole transaction back, its ``HookEvent`` row included, so nothing at all is written and the
shop's redelivery is evaluated again: an order reported before its member, or a refund before its
order, succeeds once the missing piece has arrived. Only applied events (200) are replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from common.fields import StrictBooleanField, StrictCharField, StrictIntegerField, money_field
from common.parsers import parse_object
from mall.models import HookEvent, Member, phone_validator
from points import earning
from points.errors import IdempotencyConflict
from rules.evaluator import UnknownAction
from rules.tiers import Tier

SIGNATURE_WINDOW_SECONDS = 5 * 60


# --------------------------------------------------------------------------- signature


def sign(body: bytes, timestamp: str, secret: str | None = None) -> str:
    """The hex signature the shop sends for ``body`` at ``timestamp``."""
    key = (secret if secret is not None else settings.HOOKS_SECRET).encode()
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(headers, body: bytes) -> None:
    """Raise ``AuthenticationFailed`` (401) unless the request is signed and fresh."""
    timestamp = headers.get("X-Timestamp", "").strip()
    signature = headers.get("X-Signature", "").strip().lower()
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise exceptions.AuthenticationFailed(_("Missing or malformed X-Timestamp."),
                                              code="invalid_timestamp")
    if abs(timezone.now().timestamp() - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        raise exceptions.AuthenticationFailed(_("X-Timestamp is outside the 5-minute window."),
                                              code="stale_timestamp")
    # Compared as bytes: compare_digest refuses non-ASCII str, and the header is the caller's.
    if not hmac.compare_digest(sign(body, timestamp).encode(), signature.encode("utf-8", "replace")):
        raise exceptions.AuthenticationFailed(_("Invalid signature."), code="invalid_signature")


# Sent in ``WWW-Authenticate``; it is what makes DRF answer 401 (not 403) to a failed signature.
AUTHENTICATE_HEADER = 'HMAC-SHA256 realm="hooks"'


class ShopSignature:
    """``request.auth`` of a request that ``SignatureAuthentication`` accepted."""


class SignatureAuthentication(BaseAuthentication):
    """DRF authentication for the shop's other signed endpoints (checkout): ``verify_signature``
    on the raw body, before the view reads anything. Fails with 401; never returns None, so an
    unsigned request can never fall through to another scheme.

    The hooks themselves keep calling ``verify_signature`` in ``SignedHookView.post`` (after
    DRF's method check), so a GET on a hook stays a 405.
    """

    def authenticate(self, request):
        verify_signature(request.headers, request.body)
        return AnonymousUser(), ShopSignature()

    def authenticate_header(self, request):
        return AUTHENTICATE_HEADER


class IsShopSigned(BasePermission):
    """Only requests authenticated by ``SignatureAuthentication``."""

    def has_permission(self, request, view):
        return isinstance(request.auth, ShopSignature)


# --------------------------------------------------------------------------- exactly once


def apply_once(*, event_id: str, endpoint: str, payload: dict, work) -> tuple[int, dict]:
    """Run ``work()`` -> ``(status, response)`` once per ``event_id`` and return its outcome.

    Raises ``IdempotencyConflict`` when the event id was applied with another body; an exception
    from ``work`` rolls everything back (see the module docstring).
    """
    request_hash = hashlib.sha256(
        json.dumps([endpoint, payload], sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder,
                   ensure_ascii=False).encode()
    ).hexdigest()
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {HookEvent._meta.db_table} (event_id, endpoint, request_hash, created_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING RETURNING id",
                [event_id, endpoint, request_hash, timezone.now()],
            )
            row = cursor.fetchone()
        if row is None:
            # Applied before (or just now by a concurrent delivery we waited for).
            stored = HookEvent.objects.get(event_id=event_id)
            if stored.request_hash != request_hash:
                raise IdempotencyConflict(
                    f"Event {event_id!r} was already received with a different body."
                )
            return stored.status, stored.response
        status, response = work()
        # Stored and returned after the same JSON round trip, so every delivery sees equal bodies.
        response = json.loads(json.dumps(response, cls=DjangoJSONEncoder))
        HookEvent.objects.filter(pk=row[0]).update(status=status, response=response)
    return status, response


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


def find_member(external_id: str) -> Member:
    member = Member.objects.filter(external_id=external_id).first()
    if member is None:
        raise exceptions.NotFound(
            _("No member with external id %(id)s.") % {"id": external_id}, code="member_not_found"
        )
    return member


# --------------------------------------------------------------------------- members


class MemberHookSerializer(serializers.Serializer):
    class MemberSerializer(serializers.Serializer):
        external_id = StrictCharField(max_length=64)
        username = StrictCharField(max_length=150, required=False,
                                   validators=[UnicodeUsernameValidator()])
        phone = StrictCharField(max_length=20, required=False, allow_null=True,
                                allow_blank=True, validators=[phone_validator])
        nickname = StrictCharField(max_length=64, required=False, allow_blank=True)
        tier = serializers.ChoiceField(choices=Tier.choices, required=False)

    event_id = StrictCharField(max_length=100)
    member = MemberSerializer()


def upsert_shop_member(*, external_id: str, fields: dict, now=None) -> tuple[Member, bool, int]:
    """Create or update the member with the shop's ``external_id``; returns
    ``(member, created, register points)``.

    ``fields`` may hold ``username`` (default ``ext_{external_id}`` for a new member), ``phone``,
    ``nickname`` and ``tier``; absent fields are left alone. A new member has no usable password
    (they log in through the shop) and earns the ``register`` behaviour once (0 if the rules have
    no such behaviour). A username or phone held by another member raises a 400 field error.
    """
    now = now or timezone.now()
    with transaction.atomic():
        member = Member.objects.select_for_update().filter(external_id=external_id).first()
        created = member is None
        if created:
            member = Member(external_id=external_id, username=f"ext_{external_id}", date_joined=now)
            member.set_unusable_password()
        for name, value in fields.items():
            setattr(member, name, value)
        _check_unique(member)
        try:
            with transaction.atomic():
                member.save()
        except IntegrityError:
            if created and Member.objects.filter(external_id=external_id).exists():
                # A concurrent delivery created this member first: update it instead.
                return upsert_shop_member(external_id=external_id, fields=fields, now=now)
            _check_unique(member)  # a username or phone taken meanwhile: a 400, not a 500
            raise
        points = 0
        if created:
            try:
                points, _reason = earning.record_behaviour(
                    member, action="register", occurred_at=now, key=f"register:{member.pk}"
                )
            except UnknownAction:
                points = 0
    return member, created, points


def _check_unique(member: Member) -> None:
    errors = {}
    others = Member.objects.exclude(pk=member.pk) if member.pk else Member.objects.all()
    if others.filter(username=member.username).exists():
        errors["username"] = [_("This username is taken by another member.")]
    if member.phone and others.filter(phone=member.phone).exists():
        errors["phone"] = [_("This phone number is taken by another member.")]
    if errors:
        raise exceptions.ValidationError({"member": errors})


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
        member, created, points = upsert_shop_member(external_id=external_id, fields=fields)
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
            member = find_member(order["member"])
            result = earning.record_paid_order(
                member, order_id=order["id"], amount=order["amount"], lines=order["lines"],
                paid_at=order["paid_at"],
            )
            return 200, {
                "points": result.points,
                "status": result.status,
                "available_at": result.available_at,
                "explanation": result.explanation,
            }
        result = earning.record_refund(order_id=order["id"], refund_amount=order["refund_amount"],
                                       key=f"hook:{data['event_id']}")
        return 200, {
            "points_reversed": result.points_reversed,
            "reversed_total": result.reversed_total,
            "refunded_amount": f"{result.refunded_amount:.2f}",
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
        member = find_member(data["member"])
        points, reason = earning.record_behaviour(
            member, action=data["action"], occurred_at=data["occurred_at"],
            photo=data.get("meta", {}).get("photo", False), key=f"hook:{data['event_id']}",
        )
        return 200, {"points": points, "reason": reason}
