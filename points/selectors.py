"""Reads of the ledger that pages, the API and the admin share."""

from __future__ import annotations

from calendar import monthrange
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Sum
from django.utils import timezone

from points.models import Account, Entry, Lot
from points.policy import last_valid_day, month_end_expiry


@dataclass(frozen=True)
class Balance:
    available: int = 0
    pending: int = 0
    held: int = 0
    debt: int = 0
    lifetime_earned: int = 0
    lifetime_spent: int = 0
    lifetime_expired: int = 0
    # (last valid day of the month, points) for the coming months, soonest first.
    expiring: list[tuple[date, int]] = field(default_factory=list)


def balance(member, *, months: int = 12, now=None) -> Balance:
    """The member's totals and the points that expire in each of the next ``months`` months.

    Points reserved by an open hold are not counted as expiring: a capture honours them.
    """
    account = Account.objects.filter(member_id=member.pk).first()
    if account is None:
        return Balance()
    now = now or timezone.now()
    horizon = month_end_expiry(now, months=months)
    per_month: dict[date, int] = defaultdict(int)
    rows = (
        Lot.objects.filter(account=account, remaining__gt=0, expires_at__gt=now,
                           expires_at__lte=horizon)
        .values("expires_at")
        .annotate(points=Sum("remaining"))
    )
    for row in rows:
        day = last_valid_day(row["expires_at"])
        per_month[day.replace(day=monthrange(day.year, day.month)[1])] += row["points"]
    return Balance(
        available=account.available,
        pending=account.pending,
        held=account.held,
        debt=account.debt,
        lifetime_earned=account.lifetime_earned,
        lifetime_spent=account.lifetime_spent,
        lifetime_expired=account.lifetime_expired,
        expiring=sorted(per_month.items()),
    )


def recent_entries(member, limit: int = 20):
    return Entry.objects.filter(account__member_id=member.pk).order_by("-id")[:limit]
