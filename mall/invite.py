"""A member's invite code, link and QR code for the member pages.

The code is the member's stored code (``referrals``: derived from the id when the member's node is
created, see ``referrals.services.tree``); the link carries it to the sign-up page, which binds
the holder as the new member's inviter.
"""

from __future__ import annotations

import re

import segno
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from referrals.services.tree import node_of

# The format the API's register endpoint also accepts: 4 to 16 letters or digits.
INVITE_CODE_RE = re.compile(r"^[A-Za-z0-9]{4,16}\Z")


def invite_code(member) -> str:
    return node_of(member.pk).invite_code


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
