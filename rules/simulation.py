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
from datetime import date, datetime, timedelta
from datetime import time as day_time
from decimal import ROUND_FLOOR, Decimal
from typing import NamedTuple

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common import pii
from rules.evaluator import (
    HUNDRED,
    MemberContext,
    Order,
    OrderLine,
    RuleBook,
    evaluate_order,
    in_gray_cohort,
)
from rules.models import RuleSet, RuleSetEvent, RuleSetStatus
from rules.selectors import active_rulebook, points_worth, rulebook
from rules.tiers import published_tiers, tiers_of

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

    def context(self, tier: str) -> MemberContext:
        context = self.contexts.get(tier)
        if context is None:
            context = self.contexts[tier] = MemberContext(tier=tier)
        return context

    def add(self, member_id: int, tier: str, order: Order) -> None:
        context = self.context(tier)
        was = evaluate_order(self.active, context, order, explain=False).points
        would = evaluate_order(self.candidate, context, order, explain=False).points
        self.add_points(member_id, was, would)

    def add_points(self, member_id: int, was: int, would: int) -> None:
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
                 segments=(), reverse: bool = False, now: datetime | None = None) -> ReleaseCost:
    """The simulated cost of a release over the paid orders of the last ``days``: ``rule_set``
    against the published version, for the orders of a gray cohort when ``percent`` is given
    (with ``tiers`` and RFM ``segments``). ``reverse`` swaps the two sides (stopping a gray
    release: its cohort goes back to the published version)."""
    until = now or timezone.now()
    since = until - timedelta(days=days)
    orders = import_string(settings.RULES_PAID_ORDERS)(since=since, until=until)
    if percent is not None:
        tiers, segments = tuple(tiers), tuple(segments)
        # The order rows carry the tier, not the segment: the segments' members in one query.
        of_segments = (set(_members().filter(segment__in=segments).values_list("pk", flat=True))
                       if segments else set())
        orders = (row for row in orders
                  if row[0] in of_segments
                  or in_gray_cohort(MemberContext(tier=row[1], member_id=row[0]), percent, tiers))
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


def cohort_size(percent: int, tiers=(), segments=(), *, chunk_size: int = 10000) -> tuple[int, int]:
    """(members in a gray cohort of ``percent``, ``tiers`` and RFM ``segments``, all members): the
    evaluator's own rule (``in_gray_cohort``) over the member table, read in chunks of ids, tiers
    and segments."""
    tiers, segments = tuple(tiers), tuple(segments)
    total = inside = 0
    for member_id, tier, segment in _members().values_list("pk", "tier", "segment").iterator(
            chunk_size=chunk_size):
        total += 1
        if in_gray_cohort(MemberContext(tier=tier, member_id=member_id, segment=segment), percent, tiers,
                          segments):
            inside += 1
    return inside, total


# --------------------------------------------------------------------------- the simulation page

# The rule tables (and policies) an order's points come from, in the order the evaluator applies
# them: ``order_parts`` splits an order's points into these, and the parts add up to its points.
TABLES = (
    ("base", gettext_lazy("Base rate (points per yuan)")),
    ("tiers", gettext_lazy("Tier multipliers")),
    ("categories", gettext_lazy("Category bonuses")),
    ("spend_tiers", gettext_lazy("Spend tiers (满X返Y)")),
    ("cap", gettext_lazy("Cap per order")),
)


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def order_parts(book: RuleBook, member: MemberContext, order: Order) -> tuple[int, int, int, int, int]:
    """An order's points split by where they come from: (base rate, tier multiplier, category
    bonus, spend tier, cap), summing to exactly what ``evaluate_order`` gives. A line's points are
    computed with the evaluator's own expression (the same Decimal rounding); the base and the
    multiplied base are floored separately, so the tier and category parts are the differences
    between successive floors and the three add up to the line's points."""
    multiplier = book.tier_multipliers.get(member.tier, Decimal(1))
    rate = book.base_points_per_yuan
    base = tier = category = 0
    for line in order.lines:
        bonus = Decimal(0)
        for code in line.categories:
            percent = book.category_bonuses.get(code)
            if percent is not None and percent > bonus:
                bonus = percent
        points = _floor(line.amount * rate * multiplier * (1 + bonus / HUNDRED))
        plain = _floor(line.amount * rate)
        multiplied = _floor(line.amount * rate * multiplier)
        base += plain
        tier += multiplied - plain
        category += points - multiplied
    spend = 0
    for threshold, tier_bonus in reversed(book.spend_tiers):
        if order.amount >= threshold:
            spend = tier_bonus
            break
    total = base + tier + category + spend
    cap = 0
    if book.max_points_per_order is not None and total > book.max_points_per_order:
        cap = book.max_points_per_order - total
    return base, tier, category, spend, cap


@dataclass(frozen=True)
class Row:
    """One line of a breakdown: its key (a date, a tier code, a table key), what to show, the
    orders in it, and the points under the published (``active``) and the simulated version."""

    key: object
    label: str
    orders: int
    active_points: int
    candidate_points: int

    @property
    def difference(self) -> int:
        return self.candidate_points - self.active_points

    @property
    def percent_change(self) -> Decimal | None:
        return percent_change(self.active_points, self.candidate_points)


def percent_change(old: int, new: int) -> Decimal | None:
    """``(new - old) / old`` in percent, to one decimal; None when ``old`` is 0."""
    if not old:
        return None
    return (Decimal(new - old) * 100 / old).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class Breakdown:
    """The simulation page's figures for whole local days: the totals (``result``), one row per
    day (oldest first, every day even without orders), per tier (the tier members had when
    paying) and per rule table."""

    result: SimulationResult
    first_day: date
    last_day: date
    daily: tuple[Row, ...]
    by_tier: tuple[Row, ...]
    by_table: tuple[Row, ...]

    @property
    def percent_change(self) -> Decimal | None:
        return percent_change(self.result.active_points, self.result.candidate_points)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, day_time.min))


def simulate_days(rule_set: RuleSet, *, days: int = 30, now: datetime | None = None,
                  top: int = 20) -> Breakdown:
    """``simulate_recent`` over whole local (Asia/Shanghai) days: the paid orders from the start
    of the day ``days - 1`` days before today up to ``now``, with the daily, per-tier and
    per-table breakdowns. The orders come from ``settings.RULES_PAID_ORDERS`` one day at a time
    (its rows carry no date), so each order lands in its day. Raises ``ValueError`` like
    ``simulate_recent``."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}")
    if top < 0:
        raise ValueError("top must not be negative")
    until = now or timezone.now()
    last_day = timezone.localdate(until)
    first_day = last_day - timedelta(days=days - 1)
    since = _day_start(first_day)
    started = time.perf_counter()
    candidate, active = rulebook(rule_set), active_rulebook()
    totals = _Totals(candidate, active)
    paid_orders = import_string(settings.RULES_PAID_ORDERS)
    per_day, per_tier = [], {}
    per_table = [[0, 0] for _key in TABLES]
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        day_until = min(_day_start(day + timedelta(days=1)), until)
        sums = [0, 0, 0]  # orders, active, candidate
        for member_id, tier, order in paid_orders(since=_day_start(day), until=day_until):
            context = totals.context(tier)
            was, would = order_parts(active, context, order), order_parts(candidate, context, order)
            was_points, would_points = sum(was), sum(would)
            totals.add_points(member_id, was_points, would_points)
            sums[0] += 1
            sums[1] += was_points
            sums[2] += would_points
            tier_sums = per_tier.setdefault(tier, [0, 0, 0])
            tier_sums[0] += 1
            tier_sums[1] += was_points
            tier_sums[2] += would_points
            for index, (old, new) in enumerate(zip(was, would, strict=True)):
                per_table[index][0] += old
                per_table[index][1] += new
        per_day.append(Row(day, day.isoformat(), *sums))
    result = totals.result(rule_set, days=days, since=since, until=until, top=top, started=started)
    names = {info.code: (info.rank, info.label()) for info in published_tiers()}
    for info in tiers_of(rule_set):
        names.setdefault(info.code, (info.rank, info.label()))
    by_tier = sorted(per_tier.items(), key=lambda item: (names.get(item[0], (1000, ""))[0], item[0]))
    return Breakdown(
        result=result, first_day=first_day, last_day=last_day, daily=tuple(per_day),
        by_tier=tuple(Row(code, names.get(code, (0, code))[1], *sums) for code, sums in by_tier),
        by_table=tuple(Row(key, str(label), result.orders, *sums)
                       for (key, label), sums in zip(TABLES, per_table, strict=True)),
    )


def daily_csv_rows(breakdown: Breakdown) -> list[list]:
    """The daily numbers as the CSV download has them, with its header row."""
    result = breakdown.result
    rows = [[_("date"), _("orders"), _("points under v%(version)s") % {"version": result.active_version},
             _("points under v%(version)s") % {"version": result.candidate_version}, _("difference")]]
    rows += [[row.key.isoformat(), row.orders, row.active_points, row.candidate_points, row.difference]
             for row in breakdown.daily]
    return rows


# --------------------------------------------------------------------------- a running gray release

# The ledger's tables, looked up by app label at run time (like ``get_user_model()``): ``rules``
# sits below ``points`` and imports nothing from it.
LEDGER_APP = "points"


@dataclass(frozen=True)
class CohortActivity:
    members: int
    earned: int  # points earned (``earn`` entries)
    redeemed: int  # points spent (``spend`` and ``capture`` entries)
    earners: int  # members with at least one earning
    redeemers: int  # members with at least one spending

    @property
    def earned_per_member(self) -> Decimal | None:
        return _per(self.earned, self.members)

    @property
    def redeemed_per_member(self) -> Decimal | None:
        return _per(self.redeemed, self.members)


def _per(points: int, members: int) -> Decimal | None:
    return (Decimal(points) / members).quantize(Decimal("0.01")) if members else None


@dataclass(frozen=True)
class GrayComparison:
    version: int
    since: datetime
    until: datetime
    cohort: CohortActivity
    rest: CohortActivity


def gray_started_at(rule_set: RuleSet) -> datetime | None:
    """When ``rule_set``'s gray release started (its latest "gray release started" event)."""
    return (rule_set.events.filter(action=RuleSetEvent.Action.GRAY_STARTED)
            .order_by("-at", "-id").values_list("at", flat=True).first())


def gray_comparison(rule_set: RuleSet, *, now: datetime | None = None,
                    chunk_size: int = 10000) -> GrayComparison | None:
    """The gray cohort's earning and redemption against the rest of the members since the gray
    release started, or None unless ``rule_set`` is in gray release. The cohort is today's
    (``in_gray_cohort`` on the member table, as ``cohort_size`` reads it: the bucket is a crc32
    PostgreSQL does not have); the sums are one GROUP BY over the ledger's entries of the period,
    split by whether the member's id is in the cohort's array."""
    if rule_set.status != RuleSetStatus.CANDIDATE:
        return None
    since = gray_started_at(rule_set) or rule_set.updated_at
    until = now or timezone.now()
    percent, tiers = rule_set.gray_percent, tuple(rule_set.gray_tiers)
    segments = tuple(rule_set.gray_segments)
    inside, total = [], 0
    for member_id, tier, segment in _members().values_list("pk", "tier", "segment").iterator(
            chunk_size=chunk_size):
        total += 1
        if in_gray_cohort(MemberContext(tier=tier, member_id=member_id, segment=segment), percent, tiers,
                          segments):
            inside.append(member_id)
    entry = apps.get_model(LEDGER_APP, "Entry")
    account = entry._meta.get_field("account").related_model
    member_column = account._meta.get_field("member").column
    sql = f"""
        SELECT a.{member_column} = ANY(%(inside)s::bigint[]) AS in_cohort,
               COALESCE(SUM(e.delta) FILTER (WHERE e.kind = 'earn'), 0),
               COALESCE(-SUM(e.delta) FILTER (WHERE e.kind IN ('spend', 'capture')), 0),
               COUNT(DISTINCT a.{member_column}) FILTER (WHERE e.kind = 'earn'),
               COUNT(DISTINCT a.{member_column}) FILTER (WHERE e.kind IN ('spend', 'capture'))
          FROM {entry._meta.db_table} e
          JOIN {account._meta.db_table} a ON a.id = e.account_id
          JOIN {get_user_model()._meta.db_table} m ON m.id = a.{member_column}
         WHERE e.created_at >= %(since)s AND e.created_at < %(until)s
           AND m.is_active AND NOT m.is_staff
         GROUP BY 1
    """  # noqa: S608 (table and column names come from the models, values are parameters)
    sums = {True: (0, 0, 0, 0), False: (0, 0, 0, 0)}
    with connection.cursor() as cursor:
        cursor.execute(sql, {"inside": inside, "since": since, "until": until})
        for in_cohort, *values in cursor.fetchall():
            sums[bool(in_cohort)] = tuple(int(value) for value in values)
    return GrayComparison(
        version=rule_set.version, since=since, until=until,
        cohort=CohortActivity(len(inside), *sums[True]),
        rest=CohortActivity(total - len(inside), *sums[False]),
    )


# --------------------------------------------------------------------------- one stored paid order


@dataclass(frozen=True)
class StoredOrder:
    """A paid order the shop reported, as "try an order" shows and replays it."""

    id: int
    external_id: str
    member_id: int
    member: str
    tier: str  # when it was paid
    amount: Decimal
    paid_at: datetime
    order: Order


def _orders():
    return apps.get_model(LEDGER_APP, "Order").objects.select_related("member")


def _stored(row) -> StoredOrder:
    lines = tuple(OrderLine(line.sku, line.amount, tuple(line.categories), line.quantity)
                  for line in sorted(row.lines.all(), key=lambda line: line.pk))
    member = row.member
    name = member.username
    if getattr(member, "nickname", "") and member.nickname != member.username:
        name = f"{member.username} ({member.nickname})"
    return StoredOrder(id=row.pk, external_id=row.external_id, member_id=row.member_id, member=name,
                       tier=row.tier, amount=row.amount, paid_at=row.paid_at,
                       order=Order(amount=row.amount, lines=lines))


def find_paid_orders(text: str, *, limit: int = 10) -> list[StoredOrder]:
    """The most recent paid orders (at most ``limit``) whose id or external id is ``text``, or
    whose member's username, phone or external id is ``text``; empty for empty text."""
    text = text.strip()
    if not text:
        return []
    # The phone is encrypted: it is matched through its blind index.
    phone_index = pii.index_for(get_user_model(), "phone", text)
    query = (Q(external_id=text) | Q(member__username=text) | Q(member__phone_index=phone_index)
             | Q(member__external_id=text))
    if text.isdigit() and len(text) <= 18:
        query |= Q(pk=int(text))
    rows = _orders().filter(query).prefetch_related("lines").order_by("-paid_at", "-pk")[:limit]
    return [_stored(row) for row in rows]


def paid_order_by_id(text: str) -> StoredOrder | None:
    """The paid order whose external id is ``text``, else whose id is ``text``; None if none."""
    text = text.strip()
    rows = _orders().prefetch_related("lines")
    row = rows.filter(external_id=text).first() if text else None
    if row is None and text.isdigit() and len(text) <= 18:
        row = rows.filter(pk=int(text)).first()
    return _stored(row) if row is not None else None
