"""Reads of the referral trees and rewards that the member pages and the API share.

Everything here is of one member's own rows: their node, their direct invitees and the reward
records they are the beneficiary of. Other members appear only by a masked name (``mask_name``):
a member sees that an invitee joined and qualified, never who they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referrals.explain import explain
from referrals.models import Node, RewardKind, RewardRecord
from referrals.services.plans import published_plan
from referrals.services.tree import node_of

# Stars between the first and last character: a fixed number for longer names, so the mask does
# not tell the length of the name either.
MASK_STARS = 3


def mask_name(name: str) -> str:
    """A display name as another member may see it: "alice" -> "a***e", "张三丰" -> "张*丰",
    "张三" -> "张*", "张" -> "*"."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return f"{name[0]}*"
    return f"{name[0]}{'*' * min(len(name) - 2, MASK_STARS)}{name[-1]}"


def masked(member) -> str:
    """``member``'s display name (nickname, else username), masked."""
    return mask_name(str(member))


@dataclass(frozen=True)
class Rewards:
    """Reward points of one member, net of refunds: still in the refund window (``pending``),
    past it (``settled``), and taken back by refunds (``reversed``)."""

    pending: int = 0
    settled: int = 0
    reversed: int = 0


@dataclass(frozen=True)
class TeamSummary:
    inviter: object | None  # the inviter member, or None
    is_leader: bool
    leader_since: datetime | None
    direct_count: int
    qualified_direct_count: int
    team_size: int  # members whose team leader this member is (0 when not a leader)
    upgrade_threshold: int | None  # of the published plan; None without one
    rewards: Rewards

    @property
    def upgrade_progress(self) -> int:
        """Percent of the way to leading a team (100 once a leader; 0 without a plan)."""
        if self.is_leader:
            return 100
        if not self.upgrade_threshold:
            return 0
        return min(100, self.qualified_direct_count * 100 // self.upgrade_threshold)

    @property
    def invitees_to_go(self) -> int:
        """Qualified invitees still needed to lead a team (0 once a leader or without a plan)."""
        if self.is_leader or not self.upgrade_threshold:
            return 0
        return max(0, self.upgrade_threshold - self.qualified_direct_count)


def team_summary(member, *, now: datetime | None = None) -> TeamSummary:
    """The member's place in the trees, the plan's upgrade threshold and their reward totals."""
    now = now or timezone.now()
    node = node_of(member.pk)
    inviter = node.inviter if node.inviter_id is not None else None
    team_size = Node.objects.filter(leader_id=member.pk).count() if node.is_leader else 0
    plan = published_plan()
    return TeamSummary(
        inviter=inviter,
        is_leader=node.is_leader,
        leader_since=node.leader_since,
        direct_count=node.direct_count,
        qualified_direct_count=node.qualified_direct_count,
        team_size=team_size,
        upgrade_threshold=plan.upgrade_threshold if plan is not None else None,
        rewards=reward_totals(member, now=now),
    )


def reward_totals(member, *, now: datetime | None = None) -> Rewards:
    """One query: the member's reward points, net of what refunds reversed, split by whether
    their refund window (``available_at``) is still open."""
    now = now or timezone.now()
    net = F("points") - F("points_reversed")
    credited = Q(entry__isnull=False)
    totals = RewardRecord.objects.filter(beneficiary_id=member.pk).aggregate(
        pending=Coalesce(Sum(net, filter=credited & Q(available_at__gt=now)), 0),
        settled=Coalesce(Sum(net, filter=credited & Q(available_at__lte=now)), 0),
        reversed=Coalesce(Sum("points_reversed"), 0),
    )
    return Rewards(**{name: int(value) for name, value in totals.items()})


def direct_invitees(member) -> QuerySet[Node]:
    """The nodes of the members ``member`` invited, first invited first, with each one's member
    (``qualified``: has a paid order that is not fully refunded; ``leader``: their team's)."""
    return (Node.objects.filter(inviter_id=member.pk).select_related("member", "leader")
            .order_by("invited_at", "member_id"))


def reward_records(member) -> QuerySet[RewardRecord]:
    """The reward records ``member`` is the beneficiary of, newest first, with what their
    explanation reads."""
    return (RewardRecord.objects.filter(beneficiary_id=member.pk)
            .select_related("order", "plan", "intended").order_by("-created_at", "-id"))


class RecordStatus:
    PENDING = "pending"
    SETTLED = "settled"
    REVERSED = "reversed"
    LAPSED = "lapsed"

    choices = [
        (PENDING, _("Pending")),
        (SETTLED, _("Settled")),
        (REVERSED, _("Reversed")),
        (LAPSED, _("Lapsed")),
    ]
    labels = dict(choices)


def record_status(record: RewardRecord, *, now: datetime | None = None) -> str:
    """``reversed`` once refunds took back all of it, ``lapsed`` when nothing was credited,
    else ``pending`` or ``settled`` by its refund window (a partly refunded reward keeps its
    window's status)."""
    if record.points == 0 or record.available_at is None:
        return RecordStatus.LAPSED
    if record.points_reversed >= record.points:
        return RecordStatus.REVERSED
    now = now or timezone.now()
    return RecordStatus.PENDING if record.available_at > now else RecordStatus.SETTLED


def records_with_status(records: QuerySet[RewardRecord], status: str, *,
                        now: datetime | None = None) -> QuerySet[RewardRecord]:
    """``records`` narrowed to those ``record_status`` gives ``status`` (the same rules in SQL)."""
    now = now or timezone.now()
    credited = Q(points__gt=0, available_at__isnull=False)
    whole = Q(points_reversed__gte=F("points"))
    condition = {
        RecordStatus.LAPSED: ~credited,
        RecordStatus.REVERSED: credited & whole,
        RecordStatus.PENDING: credited & ~whole & Q(available_at__gt=now),
        RecordStatus.SETTLED: credited & ~whole & Q(available_at__lte=now),
    }[status]
    return records.filter(condition)


def member_explanation(record: RewardRecord) -> str:
    """The record's explanation as its beneficiary reads it: in the active language, with the
    member a reward passed up from masked like every other member's name."""
    return explain(record, name_of=masked)


def rewards_from_invitees(member, invitee_ids) -> dict[int, int]:
    """``{invitee id: points}``: what ``member`` was paid (net of refunds) for the orders of each
    of ``invitee_ids`` (the direct rewards of their own buying). One grouped query."""
    rows = (RewardRecord.objects.filter(beneficiary_id=member.pk, order__member_id__in=list(invitee_ids),
                                        kind=RewardKind.DIRECT)
            .values("order__member_id").annotate(points=Sum(F("points") - F("points_reversed"))))
    return {row["order__member_id"]: int(row["points"] or 0) for row in rows}
