"""The interface of a payment provider (WeChat Pay, Alipay, the sandbox).

An adapter does two things, and nothing else: it sends the member to pay (``start``) and it reads
the provider's asynchronous notification (``parse_callback``). It never writes a row: the
callback view hands the ``CallbackResult`` to ``catalog.services.payments.confirm_payment``, which
decides (idempotently) what the notification means for the redemption.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from decimal import Decimal

from catalog.errors import BadSignature

__all__ = ["BadSignature", "CallbackResult", "PaymentProvider"]


@dataclass(frozen=True)
class CallbackResult:
    """What a verified callback says: the payment ``reference`` (``Payment.reference``), whether
    it was ``paid`` (False: failed or closed by the member) and the ``amount`` in yuan."""

    reference: str
    paid: bool
    amount: Decimal


class PaymentProvider(abc.ABC):
    """One payment provider. ``name`` is the key it is configured under in
    ``settings.PAYMENT_PROVIDERS`` (set by ``catalog.payments.get_provider``); it is stored on the
    payment and names the callback URL ``/api/v1/payments/<name>/callback/``."""

    name: str = ""

    @abc.abstractmethod
    def start(self, payment) -> str:
        """Begin paying ``payment`` (a ``catalog.Payment``: ``reference``, ``amount``,
        ``expires_at``) and return the URL the member is sent to (the provider's cashier page, or
        a deep link into its app). May call the provider's API (to create its order); must not
        write rows. Called after the redemption's transaction has committed."""

    @abc.abstractmethod
    def parse_callback(self, body: bytes, headers) -> CallbackResult:
        """Verify and read the provider's notification: ``body`` is the raw request body,
        ``headers`` the request's headers (case-insensitive mapping). Raises ``BadSignature``
        for a missing or invalid signature (checked before anything in the body is trusted),
        then a ``common.errors`` 400 for a signed body it cannot read (``MalformedBody``,
        ``InvalidFields``)."""

    def acknowledge(self) -> dict:
        """The body the provider expects back when the notification was handled (a provider
        that wants ``SUCCESS`` or ``{"code": "SUCCESS"}`` overrides this)."""
        return {"code": "SUCCESS"}
