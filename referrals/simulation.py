"""Simulate a reward plan over past paid orders, before publishing it (issue 9).

:func:`simulate_plan` replays the paid orders of ``[now - days, now)`` through the same pure
function the live path calls (``referrals.rewards.compute``) under ``Terms.of(plan)``, and sums what
the plan would have paid: points and their yuan value, the share of revenue, members rewarded,
the deepest level paid, points per kind, what lapsed and what passed up. :func:`compare_with_published`
does it for a plan and the published one in one pass over the orders, for the side-by-side view of
the admin's "Simulate" page and ``manage.py simulate_plan``. Nothing is written.

How each order is fed, as ``referrals.services.orders`` feeds it:

- its lines (only those in a category some simulated plan excludes: the others fund as usual),
  for ``base_amount``;
- its merchant, from the order's ``RewardedOrder`` row if it has one (else it is an own order of
  the mall), with the merchant's *current* rebate and owner, also when the merchant is inactive
  now;
- the redemption rate of the published rule set (``active_rulebook``);
- a free order (amount 0) funds nothing and does not reset its buyer's repurchase count, as live.

What it approximates — read the figures with this in mind:

- **Today's trees, not the trees as they were.** Each buyer's chain (inviters, team leader, the
  leader's inviter and whether that one leads) is read from the nodes as they are now, and
  ``active`` from ``Member.is_active`` now. An upgrade or a sliding that happened inside the window
  is applied to all of its orders, also those paid before it; the replay itself never upgrades
  anyone, even when the plan's threshold would have.
- **Standing starts from zero at the window's start.** Repurchase counts (rewards since the
  member's own last order) and the daily totals begin at 0 for everyone; a member near the
  repurchase threshold when the window opens is seen as far from it, so a short window
  overstates what the repurchase rule holds back. Counts then run on in memory in ``paid_at``
  order: a member's own paid order resets theirs, and the daily totals reset at midnight in
  ``settings.TIME_ZONE`` (Asia/Shanghai), by ``paid_at`` (live counts by when the order reached
  the platform, which is the same moment unless the shop delivered it late).
- **At payment, before refunds.** The figures are what each order would pay when paid; later
  refunds (which take back the same share under any plan) are ignored. The published rule set's
  rate is used for every order, also for members a gray-release candidate would have served.

When none of these changed — same trees, all activity inside the window, no refunds — simulating
the published plan reproduces the points its live reward records paid (the tests hold that).

Reads: one query for the chains of the window's buyers (their nodes, inviters, leaders and the
leaders' inviters joined), one for the merchants, one streamed (server-side cursor) for the orders
in ``paid_at`` order, and the rule book; an order received while those were read brings one read
of its own buyer (or merchant). Memory grows with the members involved, not with the orders.
Most of the time goes to ``compute`` itself, once per order and plan.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db.models import FilteredRelation, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from points.models import Order
from referrals.models import Merchant, Outcome, PlanStatus, RewardKind, RewardPlan
from referrals.rewards import Chain, Funding, Standing, Terms, base_amount, compute
from rules.evaluator import RuleBook
from rules.selectors import active_rulebook, points_worth

MAX_DAYS = 365
ORDERS_CHUNK = 5000
CENT = Decimal("0.01")
HUNDRED = Decimal("100")


@dataclass(frozen=True)
class PlanSimulation:
    """What one plan would have paid for the paid orders of ``[since, until)``."""

    version: int
    name: str
    status: str
    days: int
    since: datetime
    until: datetime
    orders: int  # paid orders replayed
    revenue: Decimal  # their amounts, summed
    total_points: int  # reward points paid
    value_yuan: Decimal  # at the redemption rate, 2 places
    percent_of_revenue: Decimal  # value / revenue, 2 places (0 when there is no revenue)
    members_rewarded: int  # distinct members paid at least one point
    deepest_level: int | None  # most invite levels above the buyer paid (0: the buyer; None: no one)
    by_kind: dict[str, int]  # points paid per RewardKind (every kind, 0 included)
    # Points of the rewards that lapsed (no eligible beneficiary, beyond the level limit, the order
    # cap spent); a reward cut short by a cap counts as paid, its cut in neither.
    lapsed_points: int
    passed_up: int  # rewards passed up from an ineligible beneficiary to the next inviter
    redemption_points_per_yuan: int
    seconds: float  # time of the whole replay (shared by the plans simulated together)


class _Line(NamedTuple):
    amount: Decimal
    categories: tuple[str, ...]


class _PaidOrder(NamedTuple):
    buyer: int
    amount: Decimal
    day: date  # the day it was paid, in the site's time zone
    merchant_id: int | None
    lines: tuple[_Line, ...]  # only the lines in an excluded category


def simulate_plan(plan: RewardPlan, *, days: int = 30, now: datetime | None = None) -> PlanSimulation:
    """Replay the paid orders of ``[now - days, now)`` under ``plan`` (see the module). Writes
    nothing. Raises ``ValueError`` for ``days`` outside 1..365."""
    return _simulate([plan], days=days, now=now)[0]


def compare_with_published(plan: RewardPlan, *, days: int = 30,
                           now: datetime | None = None) -> tuple[PlanSimulation, PlanSimulation | None]:
    """``plan`` and the published plan over the same orders, in one pass: (plan's, published's or
    None when no plan is published). When ``plan`` is the published one, both are the same."""
    published = RewardPlan.objects.filter(status=PlanStatus.PUBLISHED).first()
    if published is None:
        return simulate_plan(plan, days=days, now=now), None
    if published.pk == plan.pk:
        result = simulate_plan(plan, days=days, now=now)
        return result, result
    mine, theirs = _simulate([plan, published], days=days, now=now)
    return mine, theirs


def _simulate(plans: Sequence[RewardPlan], *, days: int, now: datetime | None) -> list[PlanSimulation]:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}")
    started = time.perf_counter()
    until = now or timezone.now()
    since = until - timedelta(days=days)
    book = active_rulebook()
    terms = [Terms.of(plan) for plan in plans]
    excluded = frozenset().union(*(t.excluded_categories for t in terms))

    trees = _Trees(Order.objects.filter(paid_at__gte=since, paid_at__lt=until).values("member_id"))
    replays = [_Replay(t, book, trees.active) for t in terms]

    orders = 0
    revenue = Decimal("0")
    day = None
    for order in _orders(since, until, excluded):
        orders += 1
        revenue += order.amount
        if order.amount <= 0:
            continue  # a free order funds nothing and counts as no purchase (as live)
        if order.day != day:  # the daily totals start again at midnight
            day = order.day
            for replay in replays:
                replay.new_day()
        chain = trees.chain(order.buyer)
        rebate, owner = trees.merchant(order.merchant_id) if order.merchant_id is not None else (None, None)
        for replay in replays:
            replay.add(order, chain, rebate, owner)

    seconds = time.perf_counter() - started
    return [replay.result(plan, days=days, since=since, until=until, orders=orders, revenue=revenue,
                          seconds=seconds)
            for plan, replay in zip(plans, replays, strict=True)]


class _Replay:
    """One plan's run over the orders: the members' standing, carried from order to order, and
    the running totals."""

    def __init__(self, terms: Terms, book: RuleBook, active: dict[int, bool]):
        self.terms = terms
        self.book = book
        self.rate = book.redemption_points_per_yuan
        # Shares ``active`` with the trees: members read late come in through ``_standing``.
        self.active = active
        self.standing = {pk: Standing(active=is_active) for pk, is_active in active.items()}
        self.paid_today: list[Standing] = []
        self.total = self.lapsed = self.passed_up = 0
        self.by_kind = dict.fromkeys(RewardKind.values, 0)
        self.rewarded: set[int] = set()
        self.deepest: int | None = None

    def new_day(self) -> None:
        for state in self.paid_today:
            state.today = 0
        self.paid_today = []

    def add(self, order: _PaidOrder, chain: Chain, rebate: Decimal | None, owner: int | None) -> None:
        terms = self.terms
        if len(self.standing) < len(self.active):
            self._standing()
        base = base_amount(order.amount, order.lines, terms.excluded_categories)
        if base <= 0:  # as live: packages or entry fees only fund nothing and restart nothing
            return
        # The buyer's own paid order starts their repurchase count again, before its rewards.
        self.standing[order.buyer].since_purchase = 0
        funding = Funding(
            base_amount=base,
            budget_percent=rebate if rebate is not None else terms.own_order_budget_percent,
            rate=self.rate,
            merchant_owner=owner,
        )
        for reward in compute(terms, chain, funding, self.standing):
            if reward.outcome == Outcome.LAPSED:
                self.lapsed += reward.detail.get("planned", 0)
                continue
            if reward.outcome == Outcome.PASSED_UP:
                self.passed_up += 1
            if reward.points <= 0:
                continue
            self.total += reward.points
            self.by_kind[reward.kind] += reward.points
            self.rewarded.add(reward.beneficiary)
            self.paid_today.append(self.standing[reward.beneficiary])
            if reward.level is not None and (self.deepest is None or reward.level > self.deepest):
                self.deepest = reward.level

    def _standing(self) -> None:
        for pk, is_active in self.active.items():
            if pk not in self.standing:
                self.standing[pk] = Standing(active=is_active)

    def result(self, plan: RewardPlan, *, days, since, until, orders, revenue, seconds) -> PlanSimulation:
        exact_yuan = Decimal(self.total) / self.rate
        return PlanSimulation(
            version=plan.version,
            name=plan.name,
            status=plan.status,
            days=days,
            since=since,
            until=until,
            orders=orders,
            revenue=revenue,
            total_points=self.total,
            value_yuan=points_worth(self.book, self.total),
            percent_of_revenue=(exact_yuan / revenue * HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
            if revenue > 0 else Decimal("0.00"),
            members_rewarded=len(self.rewarded),
            deepest_level=self.deepest,
            by_kind=self.by_kind,
            lapsed_points=self.lapsed,
            passed_up=self.passed_up,
            redemption_points_per_yuan=self.rate,
            seconds=seconds,
        )


class _Trees:
    """The chains of the window's buyers as the trees are now, the merchants as they are now, and
    ``is_active`` of everyone they name. Read in bulk before the orders; an order received while
    the simulation was reading them (its buyer or merchant not among those read) has its own read
    then, so it is replayed like the others."""

    def __init__(self, buyers):
        self.chains: dict[int, Chain] = {}
        self.active: dict[int, bool] = {}
        self.merchants: dict[int, tuple[Decimal, int]] = {}
        self._read_chains(buyers)
        self._read_merchants(Merchant.objects.all())

    def chain(self, buyer: int) -> Chain:
        chain = self.chains.get(buyer)
        if chain is None:
            self._read_chains([buyer])
            chain = self.chains.get(buyer) or Chain(buyer=buyer)
        return chain

    def merchant(self, merchant_id: int) -> tuple[Decimal, int]:
        if merchant_id not in self.merchants:
            self._read_merchants(Merchant.objects.filter(pk=merchant_id))
        return self.merchants[merchant_id]

    def _read_merchants(self, queryset) -> None:
        for pk, rebate, owner_id, owner_active in queryset.values_list(
                "pk", "rebate_percent", "owner_id", "owner__is_active"):
            self.merchants[pk] = (rebate, owner_id)
            self.active.setdefault(owner_id, owner_active)

    def _read_chains(self, buyers) -> None:
        """One query: each buyer's row with their node, their three inviters, their team leader
        and the leader's inviter joined (a buyer without a node is in no tree)."""
        self.chains.update(_chains(buyers, self.active))


def _chains(buyers, active: dict[int, bool]) -> dict[int, Chain]:
    rows = (
        get_user_model().objects.filter(pk__in=buyers)
        .values_list(
            "pk", "is_active",
            "referral__inviter_id", "referral__inviter__is_active",
            "referral__inviter_2_id", "referral__inviter_2__is_active",
            "referral__inviter_3_id", "referral__inviter_3__is_active",
            "referral__leader_id", "referral__leader__is_active",
            "referral__leader__referral__inviter_id", "referral__leader__referral__inviter__is_active",
            "referral__leader__referral__inviter__referral__is_leader",
        )
        .iterator(chunk_size=ORDERS_CHUNK)
    )
    chains: dict[int, Chain] = {}
    for (buyer, buyer_active, inv1, inv1_active, inv2, inv2_active, inv3, inv3_active,
         leader, leader_active, leader_inviter, leader_inviter_active, leader_inviter_leads) in rows:
        for pk, is_active in ((buyer, buyer_active), (inv1, inv1_active), (inv2, inv2_active),
                              (inv3, inv3_active), (leader, leader_active),
                              (leader_inviter, leader_inviter_active)):
            if pk is not None:
                active[pk] = is_active
        chains[buyer] = Chain(
            buyer=buyer,
            inviters=tuple(pk for pk in (inv1, inv2, inv3) if pk),
            leader=leader,
            leader_inviter=leader_inviter,
            leader_inviter_is_leader=bool(leader_inviter_leads),
        )
    return chains


def _orders(since: datetime, until: datetime, excluded: Iterable[str]) -> Iterator[_PaidOrder]:
    """The paid orders of ``[since, until)`` in ``paid_at`` order, each with its day in the site's
    time zone, its merchant (from its ``RewardedOrder``) and its lines in an ``excluded`` category:
    one streamed query."""
    excluded = sorted(excluded)
    # The day, not the moment: it is all the replay needs, and a date loads in half the time of
    # an aware datetime (measured over 100,000 orders).
    queryset = Order.objects.filter(paid_at__gte=since, paid_at__lt=until).annotate(
        day=TruncDate("paid_at", tzinfo=timezone.get_default_timezone()))
    columns = ["id", "member_id", "amount", "day", "referral__merchant_id"]
    if excluded:
        # Only the lines that can change the funded amount come back: one row per order otherwise.
        queryset = queryset.annotate(
            excluded_line=FilteredRelation("lines", condition=Q(lines__categories__overlap=excluded)))
        columns += ["excluded_line__amount", "excluded_line__categories"]
        order_by = ("paid_at", "id", "excluded_line__id")
    else:
        order_by = ("paid_at", "id")
    rows = queryset.order_by(*order_by).values_list(*columns).iterator(chunk_size=ORDERS_CHUNK)
    current = None
    lines: list[_Line] = []
    for row in rows:
        if current is None or row[0] != current[0]:
            if current is not None:
                yield _PaidOrder(current[1], current[2], current[3], current[4], tuple(lines))
            current, lines = row, []
        if excluded and row[5] is not None:
            lines.append(_Line(row[5], tuple(row[6])))
    if current is not None:
        yield _PaidOrder(current[1], current[2], current[3], current[4], tuple(lines))


# --------------------------------------------------------------------------- side by side


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    values: tuple[str, ...]  # one per simulation shown


def comparison_rows(*simulations: PlanSimulation | None) -> list[Row]:
    """The figures of ``simulations`` as text rows, one column each (None: an empty column), for
    the management command and the admin page, which show the same rows."""

    def cells(figure) -> tuple[str, ...]:
        return tuple("" if s is None else figure(s) for s in simulations)

    rows = [
        Row("orders", _("Paid orders"), cells(lambda s: str(s.orders))),
        Row("revenue", _("Revenue (yuan)"), cells(lambda s: f"{s.revenue:.2f}")),
        Row("total_points", _("Reward points"), cells(lambda s: str(s.total_points))),
        Row("value_yuan", _("Value (yuan)"), cells(lambda s: f"{s.value_yuan:.2f}")),
        Row("percent_of_revenue", _("Share of revenue"), cells(lambda s: f"{s.percent_of_revenue:.2f}%")),
        Row("members_rewarded", _("Members rewarded"), cells(lambda s: str(s.members_rewarded))),
        Row("deepest_level", _("Deepest level paid"),
            cells(lambda s: "—" if s.deepest_level is None else str(s.deepest_level))),
    ]
    for kind, label in RewardKind.choices:
        rows.append(Row(f"kind_{kind}", _("Points: %(kind)s") % {"kind": label},
                        cells(lambda s, kind=kind: str(s.by_kind.get(kind, 0)))))
    rows += [
        Row("lapsed_points", _("Points lapsed"), cells(lambda s: str(s.lapsed_points))),
        Row("passed_up", _("Rewards passed up"), cells(lambda s: str(s.passed_up))),
    ]
    return rows


def column_title(simulation: PlanSimulation) -> str:
    status = PlanStatus(simulation.status).label
    return _("v%(version)s (%(status)s)") % {"version": simulation.version, "status": status}
