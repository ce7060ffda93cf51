"""The sandbox provider: no real money. ``start`` sends the member to the page
``/pay/sandbox/<reference>/`` (``mall.payment_views``), whose Pay / Fail buttons post a callback
signed here to ``/api/v1/payments/sandbox/callback/``, as a real provider would.

Callback: a JSON body ``{"reference", "paid", "amount"}`` (amount a string, ``"9.90"``) with
``X-Sandbox-Signature``: the hex HMAC-SHA256 of the raw body keyed with
``settings.PAYMENT_SANDBOX_SECRET`` (default: ``SECRET_KEY``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from catalog.payments.base import BadSignature, CallbackResult, PaymentProvider
from common.errors import InvalidFields
from common.parsers import parse_object

SIGNATURE_HEADER = "X-Sandbox-Signature"


def _secret() -> bytes:
    return (getattr(settings, "PAYMENT_SANDBOX_SECRET", "") or settings.SECRET_KEY).encode()


def sign(body: bytes) -> str:
    return hmac.new(_secret(), body, hashlib.sha256).hexdigest()


def callback_body(reference: str, *, paid: bool, amount) -> bytes:
    """The body the sandbox's provider would post for ``reference``."""
    return json.dumps({"reference": reference, "paid": bool(paid), "amount": f"{Decimal(amount):.2f}"},
                      separators=(",", ":")).encode()


class SandboxProvider(PaymentProvider):
    name = "sandbox"

    def start(self, payment) -> str:
        return reverse("sandbox-pay", kwargs={"reference": payment.reference})

    def parse_callback(self, body: bytes, headers) -> CallbackResult:
        """The signature first (400 ``bad_signature``), then the body: malformed JSON is a 400
        ``parse_error``, missing or mistyped fields a 400 ``invalid``."""
        signature = (headers.get(SIGNATURE_HEADER) or "").strip().lower()
        if not signature or not hmac.compare_digest(sign(body).encode(),
                                                    signature.encode("utf-8", "replace")):
            raise BadSignature()
        data = parse_object(body)  # a malformed body is a 400 parse_error, as the API's
        reference, paid, amount = data.get("reference"), data.get("paid"), data.get("amount")
        errors = {}
        if not isinstance(reference, str) or not 0 < len(reference) <= 64:
            errors["reference"] = [_("A payment reference is required.")]
        if not isinstance(paid, bool):
            errors["paid"] = [_("Must be true or false.")]
        try:
            amount = Decimal(amount) if isinstance(amount, str) else None
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            errors["amount"] = [_("An amount in yuan such as \"9.90\" is required.")]
        if errors:
            raise InvalidFields(errors)
        return CallbackResult(reference=reference, paid=paid, amount=amount)
