"""The shop's signature on its server-to-server requests (hooks and checkout, DESIGN.md §4).

``X-Signature`` is the hex HMAC-SHA256, keyed with ``settings.HOOKS_SECRET``, of
``"{X-Timestamp}.{raw body}"``, and ``X-Timestamp`` (unix seconds) must be within 5 minutes of our
clock. Otherwise 401 and nothing is read or written.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

SIGNATURE_WINDOW_SECONDS = 5 * 60


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
