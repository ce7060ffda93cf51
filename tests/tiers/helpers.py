"""Shared by the tier tests: earnings at chosen moments, and what a member's tier row, changes
and messages are."""

from datetime import datetime

from mall.models import Member, Message, TierChange
from points import services
from tests.points.ledger import at, clock

# A Sunday night in June 2026; the default rules: window 365 days, grace 30 days,
# normal 0 / silver 2,000 / gold 10,000.
NOW = at(2026, 6, 14, 2)
EARNED_AT = at(2026, 6, 1, 12)


def earn(member, points: int, *, when: datetime = EARNED_AT, key: str | None = None):
    with clock(when):
        return services.earn(member, points, key=key or f"e:{member.pk}:{points}:{when.isoformat()}",
                             reason="test earning")


def state(member) -> tuple:
    row = Member.objects.values_list("tier", "tier_grace_until").get(pk=member.pk)
    return row


def changes(member) -> list[tuple]:
    return list(TierChange.objects.filter(member=member).order_by("id")
                .values_list("from_tier", "to_tier", "reason", "earned_points", "grace_until"))


def inbox(member) -> list[tuple]:
    return list(Message.objects.filter(member=member).order_by("id")
                .values_list("purpose", "title", "body"))


def set_tier(member, tier: str, grace_until=None) -> None:
    """Put a member in a tier without a change record (the population a test starts from)."""
    Member.objects.filter(pk=member.pk).update(tier=tier, tier_grace_until=grace_until)
    member.tier, member.tier_grace_until = tier, grace_until
