"""Simulate a rule set over the paid orders of the last N days, against the active version.

Every stored paid order (``points.models.Order`` with its lines) paid in the window is evaluated
twice with the pure evaluator — under the rule set and under the published version — with the tier
the member had when paying (``Order.tier``). Nothing is written. Orders and lines are read in one
set-based query streamed through a server-side cursor, so the cost is one query, however many
orders there are, and memory grows with the number of members, not of orders.

The figures are what each version would award at payment: later refunds are ignored (they take
back the same share of the points under either version).

``rules`` imports nothing of the other apps at module level (DESIGN.md 2); the paid orders are a
read of ``points`` done inside :func:`simulate`, which is how the design's simulation reaches them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _

from rules.evaluator import MemberContext, Order, OrderLine, RuleBook, evaluate_order
from rules.models import RuleSet
from rules.selectors import active_rulebook, points_worth, rulebook

CHUNK_SIZE = 5000
MAX_DAYS = 3660


@dataclass(frozen=True)
class MemberChange:
    member_id: int
    member: str  # username (nickname) for display
    orders: int
    active_points: int
    candidate_points: int

    @property
    def difference(self) -> int:
        return self.candidate_points - self.active_points


@dataclass(frozen=True)
class SimulationResult:
    candidate_version: int
    active_version: int
    days: int
    since: datetime
    until: datetime
    orders: int  # paid orders re-evaluated
    orders_changed: int  # of which the points differ between the versions
    members: int  # members with at least one order in the window
    members_affected: int  # members whose points over the window differ
    active_points: int
    candidate_points: int
    cost_yuan: Decimal  # the difference at the candidate's redemption rate (negative: a saving)
    redemption_points_per_yuan: int
    top_changes: tuple[MemberChange, ...]  # the largest per-member changes, by absolute size
    seconds: float

    @property
    def difference(self) -> int:
        return self.candidate_points - self.active_points


def simulate(rule_set: RuleSet, *, days: int = 30, now: datetime | None = None,
             top: int = 20) -> SimulationResult:
    """Re-evaluate the paid orders of ``[now - days, now)`` under ``rule_set`` and the active
    version. Reads only: one query for the orders and their lines, one for the names of the
    ``top`` members, and the rule books (cached once a version left the draft stage).
    Raises ``ValueError`` for ``days`` outside 1..3660 or a negative ``top``."""
    from points.models import Order as PaidOrder

    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}")
    if top < 0:
        raise ValueError("top must not be negative")
    started = time.perf_counter()
    until = now or timezone.now()
    since = until - timedelta(days=days)
    candidate = rulebook(rule_set)
    active = active_rulebook()

    rows = (
        PaidOrder.objects.filter(paid_at__gte=since, paid_at__lt=until)
        .order_by("id", "lines__id")
        .values_list("id", "member_id", "tier", "amount",
                     "lines__sku", "lines__amount", "lines__categories", "lines__quantity")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    totals = _Totals(candidate, active)
    current = None
    for order_id, member_id, tier, amount, sku, line_amount, categories, quantity in rows:
        if current is None or order_id != current[0]:
            if current is not None:
                totals.add(*current[1:])
            current = (order_id, member_id, tier, amount, [])
        if sku is not None:  # an order without lines comes once, with NULLs from the outer join
            current[4].append(OrderLine(sku, line_amount, tuple(categories), quantity))
    if current is not None:
        totals.add(*current[1:])
    return totals.result(rule_set, days=days, since=since, until=until, top=top, started=started)


class _Totals:
    """Running totals of one simulation: per member [orders, active points, candidate points]."""

    def __init__(self, candidate: RuleBook, active: RuleBook):
        self.candidate = candidate
        self.active = active
        self.contexts: dict[str, MemberContext] = {}
        self.per_member: dict[int, list[int]] = {}
        self.orders = self.orders_changed = 0

    def add(self, member_id: int, tier: str, amount: Decimal, lines: list[OrderLine]) -> None:
        context = self.contexts.get(tier)
        if context is None:
            context = self.contexts[tier] = MemberContext(tier=tier)
        order = Order(amount=amount, lines=tuple(lines))
        was = evaluate_order(self.active, context, order, explain=False).points
        would = evaluate_order(self.candidate, context, order, explain=False).points
        self.orders += 1
        if was != would:
            self.orders_changed += 1
        sums = self.per_member.get(member_id)
        if sums is None:
            self.per_member[member_id] = [1, was, would]
        else:
            sums[0] += 1
            sums[1] += was
            sums[2] += would

    def result(self, rule_set, *, days, since, until, top, started) -> SimulationResult:
        active_points = sum(sums[1] for sums in self.per_member.values())
        candidate_points = sum(sums[2] for sums in self.per_member.values())
        changed = [(member_id, sums) for member_id, sums in self.per_member.items() if sums[1] != sums[2]]
        # Largest change first; equal changes by member id so the list is stable.
        changed.sort(key=lambda item: (-abs(item[1][2] - item[1][1]), item[0]))
        largest = changed[:top]
        names = _member_names([member_id for member_id, _sums in largest])
        return SimulationResult(
            candidate_version=rule_set.version,
            active_version=self.active.version,
            days=days,
            since=since,
            until=until,
            orders=self.orders,
            orders_changed=self.orders_changed,
            members=len(self.per_member),
            members_affected=len(changed),
            active_points=active_points,
            candidate_points=candidate_points,
            cost_yuan=points_worth(self.candidate, candidate_points - active_points),
            redemption_points_per_yuan=self.candidate.redemption_points_per_yuan,
            top_changes=tuple(
                MemberChange(member_id=member_id, member=names.get(member_id, f"#{member_id}"),
                             orders=sums[0], active_points=sums[1], candidate_points=sums[2])
                for member_id, sums in largest
            ),
            seconds=time.perf_counter() - started,
        )


def _member_names(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    names = {}
    for pk, username, nickname in get_user_model().objects.filter(pk__in=ids).values_list(
        "pk", "username", "nickname"
    ):
        names[pk] = f"{username} ({nickname})" if nickname and nickname != username else username
    return names


def summary_lines(result: SimulationResult) -> list[str]:
    """The figures as text, for the management command (the admin page shows the same fields)."""
    lines = [
        _("Rules v%(candidate)s against the active v%(active)s, paid orders of the last %(days)s days "
          "(%(since)s to %(until)s)") % {
            "candidate": result.candidate_version, "active": result.active_version, "days": result.days,
            "since": timezone.localtime(result.since).strftime("%Y-%m-%d %H:%M"),
            "until": timezone.localtime(result.until).strftime("%Y-%m-%d %H:%M"),
        },
        _("Orders re-evaluated: %(orders)s (%(changed)s with different points)") % {
            "orders": result.orders, "changed": result.orders_changed,
        },
        _("Points under the active v%(version)s: %(points)s") % {
            "version": result.active_version, "points": result.active_points,
        },
        _("Points under v%(version)s: %(points)s") % {
            "version": result.candidate_version, "points": result.candidate_points,
        },
        _("Difference: %(difference)+d points") % {"difference": result.difference},
        _("Members affected: %(affected)s of %(members)s") % {
            "affected": result.members_affected, "members": result.members,
        },
        _("Cost of the difference: %(cost)s yuan (at %(rate)s points per yuan)") % {
            "cost": result.cost_yuan, "rate": result.redemption_points_per_yuan,
        },
    ]
    if result.top_changes:
        lines.append(_("Largest changes per member:"))
        for change in result.top_changes:
            lines.append(_("  %(member)s: %(active)s -> %(candidate)s (%(difference)+d) in %(orders)s "
                           "order(s)") % {
                "member": change.member, "active": change.active_points,
                "candidate": change.candidate_points, "difference": change.difference,
                "orders": change.orders,
            })
    lines.append(_("Computed in %(seconds).2f s; nothing was written.") % {"seconds": result.seconds})
    return lines
