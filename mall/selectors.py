"""Reads about members that several features share (win-back, broadcasts)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from catalog.models import Redemption
from mall.models import Member
from points.models import CheckIn, Order


def inactive_members(days: int, *, now: datetime | None = None):
    """Members with no activity for ``days`` days: no sign-in or request (``last_login``,
    ``last_active_at``), no paid order, no check-in and no redemption since, and joined before.

    A queryset of ``Member`` (set-based: ``NOT EXISTS`` on each activity's member index), for
    the win-back job and for broadcasts to inactive members.
    """
    now = now or timezone.now()
    since = now - timedelta(days=days)
    since_day = timezone.localdate(since)
    return (
        Member.objects.filter(is_active=True, is_staff=False, date_joined__lt=since)
        .exclude(Q(last_login__gte=since) | Q(last_active_at__gte=since))
        .exclude(Exists(Order.objects.filter(member=OuterRef("pk"), paid_at__gte=since)))
        .exclude(Exists(CheckIn.objects.filter(member=OuterRef("pk"), day__gte=since_day)))
        .exclude(Exists(Redemption.objects.filter(member=OuterRef("pk"), created_at__gte=since)))
    )
