"""Simulate a rule set over paid orders, against the active version (DESIGN.md 3.2).

:func:`simulate` is pure: it takes the orders as an iterable of :class:`PaidOrder` (the member,
the tier they had when paying, and the evaluator's ``Order``), evaluates each twice with the pure
evaluator — under the rule set and under the published version — and writes nothing. It reads
only rule books (and the names of the largest changes' members), so ``rules`` stays importable and
testable with no ledger. Memory grows with the number of members, not of orders: feed it a stream.

:func:`simulate_recent` is what the admin's "Simulate" page and ``manage.py simulate_rules`` run:
the paid orders of the last N days, from the source named by ``settings.RULES_PAID_ORDERS`` (the
shop's orders are stored by the ledger: ``points.selectors.paid_orders``, one set-based query
streamed through a server-side cursor). A setting rather than an import, so ``rules`` never
imports the layer above it.

The figures are what each version would award at payment: later refunds are ignored (they take
back the same share of the points under either version).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from rules.evaluator import MemberContext, Order, RuleBook, evaluate_order, in_gray_cohort
from rules.models import RuleSet
from rules.selectors import active_rulebook, points_worth, rulebook

MAX_DAYS = 3660


class PaidOrder(NamedTuple):
    """One paid order as the simulation needs it: plain evaluator input (a plain
    ``(member_id, tier, order)`` tuple is taken as well)."""

    member_id: int
    tier: str  # the member's tier when they paid
    order: Order


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


def simulate_recent(rule_set: RuleSet, *, days: int = 30, now: datetime | None = None,
                    top: int = 20) -> SimulationResult:
    """Re-evaluate the paid orders of ``[now - days, now)`` (from ``settings.RULES_PAID_ORDERS``)
    under ``rule_set`` and the active version. Raises ``ValueError`` for ``days`` outside
    1..3660 or a negative ``top``."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}")
    until = now or timezone.now()
    since = until - timedelta(days=days)
    paid_orders = import_string(settings.RULES_PAID_ORDERS)
    return simulate(rule_set, paid_orders(since=since, until=until), days=days, since=since,
                    until=until, top=top)


def simulate(rule_set: RuleSet, orders: Iterable[PaidOrder], *, days: int = 30,
             since: datetime | None = None, until: datetime | None = None,
             top: int = 20) -> SimulationResult:
    """Evaluate ``orders`` under ``rule_set`` and the active version. ``since``/``until`` (default:
    the ``days`` up to now) and ``days`` only label the result: the caller chose the orders. Reads
    only the rule books (cached once a version left the draft stage) and the names of the ``top``
    members. Raises ``ValueError`` for a negative ``top``."""
    if top < 0:
        raise ValueError("top must not be negative")
    until = until or timezone.now()
    since = since or until - timedelta(days=days)
    started = time.perf_counter()
    totals = _Totals(rulebook(rule_set), active_rulebook())
    for member_id, tier, order in orders:
        totals.add(member_id, tier, order)
    return totals.result(rule_set, days=days, since=since, until=until, top=top, started=started)


class _Totals:
    """Running totals of one simulation: per member [orders, active points, candidate points]."""

    def __init__(self, candidate: RuleBook, active: RuleBook):
        self.candidate = candidate
        self.active = active
        self.contexts: dict[str, MemberContext] = {}
        self.per_member: dict[int, list[int]] = {}
        self.orders = self.orders_changed = 0

    def add(self, member_id: int, tier: str, order: Order) -> None:
        context = self.contexts.get(tier)
        if context is None:
            context = self.contexts[tier] = MemberContext(tier=tier)
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


# --------------------------------------------------------------------------- release impact


@dataclass(frozen=True)
class ReleaseCost:
    """Points issued over the last ``days`` of paid orders under the version members earn under
    now (``old``) and under the one they would earn under after the release (``new``)."""

    old_version: int
    new_version: int
    days: int
    orders: int
    old_points: int
    new_points: int
    cost_yuan: Decimal
    cohort_only: bool  # only the orders of the gray cohort's members

    @property
    def difference(self) -> int:
        return self.new_points - self.old_points

    @property
    def percent_change(self) -> Decimal | None:
        if not self.old_points:
            return None
        return (Decimal(self.difference) * 100 / self.old_points).quantize(Decimal("0.1"))


def release_cost(rule_set: RuleSet, *, days: int = 30, percent: int | None = None, tiers=(),
                 reverse: bool = False, now: datetime | None = None) -> ReleaseCost:
    """The simulated cost of a release over the paid orders of the last ``days``: ``rule_set``
    against the published version, for the orders of a gray cohort when ``percent`` is given
    (with ``tiers``). ``reverse`` swaps the two sides (stopping a gray release: its cohort goes back
    to the published version)."""
    until = now or timezone.now()
    since = until - timedelta(days=days)
    orders = import_string(settings.RULES_PAID_ORDERS)(since=since, until=until)
    if percent is not None:
        tiers = tuple(tiers)
        orders = (row for row in orders
                  if in_gray_cohort(MemberContext(tier=row[1], member_id=row[0]), percent, tiers))
    result = simulate(rule_set, orders, days=days, since=since, until=until, top=0)
    old = (result.active_version, result.active_points)
    new = (result.candidate_version, result.candidate_points)
    if reverse:
        old, new = new, old
    book = rulebook(rule_set)
    return ReleaseCost(
        old_version=old[0], new_version=new[0], days=days, orders=result.orders,
        old_points=old[1], new_points=new[1], cost_yuan=points_worth(book, new[1] - old[1]),
        cohort_only=percent is not None,
    )


def _members():
    return get_user_model().objects.filter(is_active=True, is_staff=False)


def member_count() -> int:
    """All members (active, not staff): whom publishing or rolling back concerns."""
    return _members().count()


def cohort_size(percent: int, tiers=(), *, chunk_size: int = 10000) -> tuple[int, int]:
    """(members in a gray cohort of ``percent`` and ``tiers``, all members): the evaluator's own
    rule (``in_gray_cohort``) over the member table, read in chunks of ids and tiers."""
    tiers = tuple(tiers)
    total = inside = 0
    for member_id, tier in _members().values_list("pk", "tier").iterator(chunk_size=chunk_size):
        total += 1
        if in_gray_cohort(MemberContext(tier=tier, member_id=member_id), percent, tiers):
            inside += 1
    return inside, total
