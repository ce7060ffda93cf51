"""A member's invite code, link and QR code for the member pages.

Until ``referrals`` exists (DESIGN.md 3.4) the code is derived from the member id: the first 40
bits of an HMAC-SHA256 of the id under ``SECRET_KEY``, in base32 (8 characters, A-Z and 2-7).
It is stable for as long as the secret is, cannot be guessed from the id or walked like a
sequence, and is not reversible: it is kept with a sign-up but not resolved to the inviter yet.
When referrals store real codes, ``invite_code`` reads the member's stored code instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import segno
from django.conf import settings
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

# The format the API's register endpoint also accepts: 4 to 16 letters or digits.
INVITE_CODE_RE = re.compile(r"^[A-Za-z0-9]{4,16}\Z")


def invite_code(member) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"invite:{member.pk}".encode(),
                      hashlib.sha256).digest()
    return base64.b32encode(digest[:5]).decode("ascii")


def invite_url(request, member) -> str:
    """The absolute sign-up link that carries the member's code (``/accounts/register/?invite=``)."""
    path = f"{reverse('register')}?{urlencode({'invite': invite_code(member)})}"
    return request.build_absolute_uri(path)


def qr_svg(data: str) -> SafeString:
    """``data`` as an inline SVG QR code (no XML declaration, scalable through CSS).

    The SVG holds only path data computed from ``data``, never the text itself, so it is safe
    to emit unescaped.
    """
    qr = segno.make(data, error="m")
    svg = qr.svg_inline(scale=6, border=2, dark="#111827", light="#ffffff",
                        svgclass="qr", omitsize=True)
    return mark_safe(svg)  # noqa: S308 - generated markup, no user text inside
