"""Reads about members that several features share (win-back, broadcasts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog.models import Redemption
from mall.models import Member
from mall.services.tiers import window_start
from points.models import CheckIn, Entry, EntryKind, Order
from rules.models import RuleSet, RuleSetStatus
from rules.tiers import published_tiers, tier_info


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


@dataclass(frozen=True)
class TierProgress:
    tier: str
    tier_display: str
    multiplier: str  # a decimal as text without trailing zeros: "1.5"
    next_tier: str | None
    next_tier_display: str | None
    points_to_next: int
    progress_percent: int  # 0..100
    exclusive_products: int

    @property
    def points_to_next_text(self) -> str:
        return f"{self.points_to_next:,}"


def earned_in_window(member, *, now: datetime | None = None) -> int:
    """What ``member`` earned in the published rule set's tier window up to ``now``: earn
    entries less their reversals, as the nightly re-evaluation counts
    (``mall.services.tiers``)."""
    now = now or timezone.now()
    window_days = (RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED)
                   .values_list("tier_window_days", flat=True).first())
    if window_days is None:
        return 0
    start = window_start(timezone.localdate(now), window_days)
    # One statement: the window's earn entries and the reversals (up to now) of those earnings.
    earned = (Entry.objects.filter(account__member_id=member.pk, created_at__lte=now)
              .filter(Q(kind=EntryKind.EARN, created_at__gte=start)
                      | Q(reverses__kind=EntryKind.EARN, reverses__created_at__gte=start,
                          reverses__created_at__lte=now))
              .aggregate(points=Sum("delta"))["points"] or 0)
    return max(0, earned)


def tier_progress(member, *, now: datetime | None = None) -> TierProgress:
    """The member's tier card (home page) and ``GET /api/v1/me/``'s ``tier_progress``: the tier,
    its multiplier and the products only some tiers see that this tier sees, and how many more
    points earned in the window reach the next rank (none at the top: 0 and 100%)."""
    now = now or timezone.now()
    table = published_tiers()
    current = tier_info(member.tier, table)
    exclusive = catalog_selectors.exclusive_count(member.tier)
    if current is None:  # no published table (or a code it dropped): nothing to climb
        return TierProgress(member.tier, member.tier, "1", None, None, 0, 100, exclusive)
    higher = [info for info in table if info.rank > current.rank]
    multiplier = f"{current.multiplier.normalize():f}"
    if not higher:
        return TierProgress(current.code, current.label(), multiplier, None, None, 0, 100, exclusive)
    following = higher[0]
    earned = earned_in_window(member, now=now)
    to_next = max(0, following.qualify_points - earned)
    percent = min(100, earned * 100 // following.qualify_points) if following.qualify_points else 100
    return TierProgress(current.code, current.label(), multiplier, following.code,
                        following.label(), to_next, percent, exclusive)
