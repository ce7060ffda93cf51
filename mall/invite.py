"""A member's invite code, link and QR code for the member pages.

The code is the member's stored code (``referrals``: derived from the id when the member's node is
created, see ``referrals.services.tree``); the link carries it to the sign-up page, which binds
the holder as the new member's inviter.
"""

from __future__ import annotations

import re
from decimal import Decimal

import segno
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from common import pii
from referrals import selectors as referral_selectors
from referrals.services.plans import published_plan
from referrals.services.tree import node_of
from rules.selectors import rulebook_for

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


mask_phone = pii.mask_phone  # "13900001111" -> "139****1111"


def _friend_name(friend) -> str:
    return mask_phone(friend.phone) if friend.phone else referral_selectors.masked(friend)


def invited_friends(member, *, limit: int = 50) -> list[dict]:
    """The friends ``member`` invited directly, first invited first (``limit`` of them): masked
    phone (else masked name), when they joined, whether they bought (``qualified``) and the
    points ``member`` got for their orders. Two queries."""
    nodes = list(referral_selectors.direct_invitees(member)[:limit])
    rewards = referral_selectors.rewards_from_invitees(member, [node.member_id for node in nodes])
    return [{
        "name": _friend_name(node.member),
        "joined": node.invited_at or node.member.date_joined,
        "qualified": node.qualified,
        "status": _("Has bought") if node.qualified else _("Signed up"),
        "points": rewards.get(node.member_id, 0),
    } for node in nodes]


def _percent_text(value: Decimal) -> str:
    return f"{value.normalize():f}"


def plan_rules(member) -> list[str]:
    """The referral terms in plain words, read from the rules (the ``invite`` and ``register``
    behaviours of ``member``'s rule book) and the published reward plan, in the active
    language. Nothing is said of a term that is off."""
    book = rulebook_for(member)
    lines: list[str] = []
    invite = book.behaviours.get("invite")
    if invite is not None and invite.points > 0:
        lines.append(_("You get %(points)s points for each friend you invite.")
                     % {"points": invite.points})
        if invite.daily_limit:
            lines.append(ngettext("At most %(count)s friend a day earns these points.",
                                  "At most %(count)s friends a day earn these points.",
                                  invite.daily_limit) % {"count": invite.daily_limit})
        if invite.lifetime_limit:
            lines.append(ngettext("At most %(count)s friend in all earns these points.",
                                  "At most %(count)s friends in all earn these points.",
                                  invite.lifetime_limit) % {"count": invite.lifetime_limit})
    register = book.behaviours.get("register")
    if register is not None and register.points > 0:
        lines.append(_("Your friend gets %(points)s points for joining.") % {"points": register.points})
    plan = published_plan()
    if plan is not None and plan.direct_share > 0 and plan.own_order_budget_percent > 0:
        per_hundred = (Decimal(100) * plan.own_order_budget_percent / 100 * plan.direct_share / 100
                       * book.redemption_points_per_yuan)
        lines.append(_("When a friend you invited buys in the mall, you get about %(points)s points "
                       "for every 100 yuan they pay.") % {"points": int(per_hundred)})
        lines.append(_("Reward points become usable once the order can no longer be refunded; a "
                       "refund takes them back."))
        if plan.daily_cap_per_member:
            lines.append(_("You can get at most %(points)s reward points a day.")
                         % {"points": plan.daily_cap_per_member})
        if plan.cap_per_order:
            lines.append(_("One order pays at most %(points)s reward points in all.")
                         % {"points": plan.cap_per_order})
        if plan.repurchase_points:
            lines.append(_("After %(points)s reward points, buy something yourself to keep receiving "
                           "rewards.") % {"points": plan.repurchase_points})
        lines.append(ngettext(
            "With %(count)s invited friend who has bought, you lead a team and earn from its orders too.",
            "With %(count)s invited friends who have bought, you lead a team and earn from its orders too.",
            plan.upgrade_threshold) % {"count": plan.upgrade_threshold})
    return lines
