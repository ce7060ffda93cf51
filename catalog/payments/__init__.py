"""Payment providers for the cash part of a points + cash redemption.

``base.PaymentProvider`` is the interface an adapter (WeChat Pay, Alipay) implements;
``sandbox.SandboxProvider`` is the one for development and tests (an HMAC-signed callback posted
by the page ``/pay/sandbox/<reference>/``). ``get_provider(name)`` returns the adapter configured
under ``name`` in ``settings.PAYMENT_PROVIDERS`` (``{name: dotted class path}``); without a name,
``settings.PAYMENT_PROVIDER`` (default ``"sandbox"``).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from catalog.errors import PaymentNotFound
from catalog.payments.base import CallbackResult, PaymentProvider

DEFAULT_PROVIDERS = {"sandbox": "catalog.payments.sandbox.SandboxProvider"}


def default_provider_name() -> str:
    return getattr(settings, "PAYMENT_PROVIDER", "") or "sandbox"


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider configured as ``name`` (default: ``settings.PAYMENT_PROVIDER``); raises
    ``PaymentNotFound`` for a name that is not configured."""
    name = name or default_provider_name()
    providers = getattr(settings, "PAYMENT_PROVIDERS", None) or DEFAULT_PROVIDERS
    path = providers.get(name) if isinstance(name, str) else None
    if path is None:
        raise PaymentNotFound()
    provider = import_string(path)()
    provider.name = name
    return provider


__all__ = ["CallbackResult", "PaymentProvider", "default_provider_name", "get_provider"]
