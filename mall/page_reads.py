"""Reads the member pages need that no app's ``selectors`` offers yet.

Each is read-only and scoped to the member asking. When the owning app grows a selector that
does the same (``points.selectors``, ``catalog.selectors``), the pages should switch to it and
the function here should go.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Prefetch
from django.utils import timezone

from catalog.models import Category, CouponCode, Redemption
from points.models import CheckIn, Entry


def check_in_status(member, *, now=None) -> dict:
    """``{"checked_in_today", "streak", "points_today"}``: the streak that counts today (today's,
    else yesterday's that today's check-in would continue, else 0)."""
    today = timezone.localdate(now or timezone.now())
    rows = {
        row.day: row
        for row in CheckIn.objects.filter(member_id=member.pk,
                                          day__in=[today, today - timedelta(days=1)])
    }
    if today in rows:
        return {"checked_in_today": True, "streak": rows[today].streak,
                "points_today": rows[today].points}
    yesterday = rows.get(today - timedelta(days=1))
    return {"checked_in_today": False, "streak": yesterday.streak if yesterday else 0,
            "points_today": 0}


def entries(member, *, kind: str = "", date_from: date | None = None,
            date_to: date | None = None):
    """The member's ledger entries, newest first, filtered by kind and local day (inclusive)."""
    queryset = Entry.objects.filter(account__member_id=member.pk).order_by("-id")
    if kind:
        queryset = queryset.filter(kind=kind)
    if date_from is not None:
        queryset = queryset.filter(created_at__date__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(created_at__date__lte=date_to)
    return queryset.only("id", "kind", "delta", "balance_after", "reason", "explanation",
                         "created_at")


def categories() -> list[Category]:
    """Active top-level categories, in the staff's order."""
    return list(Category.objects.filter(active=True, parent__isnull=True).order_by("sort_order", "id"))


def _codes():
    return Prefetch("codes", queryset=CouponCode.objects.order_by("id").only("id", "code", "redemption_id"))


def redemptions(member):
    """The member's redemptions, newest first, with product and coupon codes."""
    return (Redemption.objects.filter(member_id=member.pk).select_related("product")
            .prefetch_related(_codes()).order_by("-id"))


def redemption(member, redemption_id: int) -> Redemption | None:
    """One of the member's redemptions; None for anyone else's (the pages answer 404)."""
    return redemptions(member).filter(pk=redemption_id).first()
