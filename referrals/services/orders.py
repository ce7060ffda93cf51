"""Paid orders and refunds with their referral rewards: what the shop's order hook calls.

``record_paid_order`` stores the order and its own points (``points.services.earning``), updates
the trees (the buyer qualifies their inviter, who may be upgraded), and pays the plan's rewards
(``referrals.rewards``) as ledger earnings, pending for the rule set's refund window like the
order's own points, with one ``RewardRecord`` per reward. ``record_refund`` reverses the order's
points and its rewards in proportion (through ``points.services.reverse``: debt if spent), and a
full refund un-qualifies the buyer.

Both run in one transaction with everything they write, and lock in the project's order
(``points.services.lock_objects``): the referral nodes they read, ancestors first; then all the
accounts they may post to, in id order; then the order row and the postings.

Idempotent: an order is rewarded once (``RewardedOrder`` is its primary key; the records are
unique per order and kind); a repeated delivery returns what the first one paid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from common.text import clip, stored_text
from points import services as ledger
from points.errors import IdempotencyConflict, OrderNotFound
from points.models import Order
from points.policy import default_expires_at
from points.services import earning
from points.services.lock_objects import accounts_lock_sql, clean_accounts, lock_accounts_of_members
from referrals import rewards as rules_of_rewards
from referrals.errors import UnknownMerchant
from referrals.models import (
    REFERRAL_KINDS,
    Merchant,
    Node,
    Outcome,
    RewardedOrder,
    RewardKind,
    RewardRecord,
)
from referrals.services import plans
from referrals.services.tree import ensure_nodes, lock_nodes, node_of, upgrade


@dataclass(frozen=True)
class PaidOrder:
    """The order's own points (``earning``) and the rewards it paid (``rewards``, records)."""

    earning: earning.OrderEarning
    rewards: list[RewardRecord]


def record_paid_order(member, *, order_id: str, amount, lines: Iterable[Mapping[str, Any]],
                      paid_at: datetime, merchant: str | None = None,
                      now: datetime | None = None) -> PaidOrder:
    """Store a paid order, credit its points and pay its referral rewards (see the module).

    ``merchant`` is the code of the 众店 that sold it (None: the mall's own order). Raises
    ``UnknownMerchant`` for an unknown or inactive code, ``IdempotencyConflict`` for an order
    received before with other content or another merchant, and what ``earning`` raises.
    """
    now = now or timezone.now()
    with transaction.atomic():
        shop = _merchant_for(merchant, order_id)
        positions, plan_id, rate, clean = _lock_chain(member.pk, shop.owner_id if shop else None)
        result = earning.record_paid_order(member, order_id=order_id, amount=amount, lines=lines,
                                           paid_at=paid_at, now=now)
        if result.replayed:
            return PaidOrder(result, _replay(result.order, shop))
        plan = plans.frozen_plan(plan_id) if plan_id is not None else None
        order_lines = _Line.of(lines)
        excluded = plans.terms_of(plan).excluded_categories if plan is not None else frozenset()
        # What funds rewards also qualifies: an order of packages or entry fees only (or a free
        # one) neither funds a reward, nor qualifies the buyer, nor restarts their repurchase.
        base = rules_of_rewards.base_amount(result.order.amount, order_lines, excluded)
        if base <= 0:
            return PaidOrder(result, [])
        counters = _qualify(positions, member.pk, plan, now)
        if plan is None:
            _write(None, [], counters)
            return PaidOrder(result, [])
        records = _reward(result.order, base, plan, shop, positions, result.rulebook, rate,
                          now, counters, clean)
    return PaidOrder(result, records)


def _merchant_for(code: str | None, order_id) -> Merchant | None:
    """The merchant of a new order (active), or of a redelivered one (active or not since)."""
    if code is None:
        return None
    merchant = Merchant.objects.filter(code=code).first()
    if merchant is None or (not merchant.active
                            and not Order.objects.filter(external_id=order_id).exists()):
        raise UnknownMerchant()
    return merchant


@dataclass(slots=True)
class _Position:
    """What an order reads of a locked node (and of its member)."""

    member_id: int
    inviter_id: int | None
    inviter_2_id: int | None
    inviter_3_id: int | None
    leader_id: int | None
    is_leader: bool
    qualified: bool
    qualified_direct_count: int
    since_purchase: int
    is_active: bool


# The ids an order reads: the buyer, their three inviters, their team leader and the leader's
# inviter (an unlocked read: the invite tree never changes; the leader is checked again once the
# buyer's node is locked), and the merchant's owner.
_CHAIN_IDS = """ARRAY(
    SELECT unnest(ARRAY[b.member_id, b.inviter_id, b.inviter_2_id, b.inviter_3_id, b.leader_id,
                        l.inviter_id])
    FROM referrals_node b LEFT JOIN referrals_node l ON l.member_id = b.leader_id
    WHERE b.member_id = %(buyer)s) || %(more)s::bigint[]"""


def _lock_chain_sql() -> str:
    # Two statements in one round trip: the nodes, ancestors first (the sort runs below the lock),
    # then their accounts in id order, as lock_objects.lock_accounts_of_members locks them.
    return f"""
        SELECT n.member_id, n.inviter_id, n.inviter_2_id, n.inviter_3_id, n.leader_id, n.is_leader,
               n.qualified, n.qualified_direct_count, n.rewards_since_purchase, m.is_active,
               (SELECT id FROM referrals_rewardplan WHERE status = 'published'),
               (SELECT redemption_points_per_yuan FROM rules_ruleset WHERE status = 'published')
        FROM referrals_node n JOIN {get_user_model()._meta.db_table} m ON m.id = n.member_id
        WHERE n.member_id = ANY({_CHAIN_IDS})
        ORDER BY n.depth, n.member_id
        FOR UPDATE OF n;
        {accounts_lock_sql(_CHAIN_IDS)}
    """


def _lock_chain(buyer_id: int, owner_id: int | None
                ) -> tuple[dict[int, _Position], int | None, int | None, set[int]]:
    """Read and lock every node the order may read or pay (``_CHAIN_IDS``), then their accounts,
    in one round trip. Returns the nodes by member id, the published plan's id, the published
    rule set's redemption rate, and the members whose account exists without debt
    (``lock_accounts_of_members``).

    The ids are read just before the rows are locked. If the chain changed in between (a binding
    or an upgrade committed while the order waited for the buyer's lock, both rare), the
    statement runs again for the rows it missed: the buyer's lock, now held, keeps the chain
    still. A member without a node (created by another path: the admin) gets a root node first.
    """
    more = [owner_id] if owner_id is not None else []
    positions: dict[int, _Position] = {}
    clean: set[int] = set()
    plan_id = rate = None
    with connection.cursor() as cursor:
        for _attempt in range(4):
            cursor.execute(_lock_chain_sql(), {"buyer": buyer_id, "more": more})
            rows = cursor.fetchall()
            cursor.nextset()
            clean |= clean_accounts(cursor.fetchall())
            positions.update((row[0], _Position(*row[:10])) for row in rows)
            if rows:
                plan_id, rate = rows[0][10], rows[0][11]
            missing = _missing(positions, buyer_id, owner_id)
            if not missing:
                return positions, plan_id, rate, clean
            absent = [pk for pk in missing if not Node.objects.filter(member_id=pk).exists()]
            if absent:
                ensure_nodes(absent)
    raise RuntimeError(f"The referral chain of member {buyer_id} kept changing while locking it.")


def _missing(positions: dict[int, _Position], buyer_id: int, owner_id: int | None) -> set[int]:
    """Members the order needs whose nodes are not locked yet."""
    buyer = positions.get(buyer_id)
    if buyer is None:
        return {buyer_id}
    needed = {buyer.inviter_id, buyer.inviter_2_id, buyer.inviter_3_id, buyer.leader_id, owner_id}
    leader = positions.get(buyer.leader_id) if buyer.leader_id else None
    if leader is not None:
        needed.add(leader.inviter_id)
    return {pk for pk in needed if pk is not None} - set(positions)


@dataclass
class _Counters:
    """Changes to the nodes' counters, written in one statement at the end (``_write``)."""

    reset: set[int] = field(default_factory=set)  # own paid order: repurchase count from 0
    qualify: set[int] = field(default_factory=set)
    qualified_invitees: dict[int, int] = field(default_factory=dict)
    since_purchase: dict[int, int] = field(default_factory=dict)


def _qualify(positions: dict[int, _Position], buyer_id: int, plan, now: datetime) -> _Counters:
    """The buyer's own paid order: their repurchase count starts again, and their first one
    qualifies them for their inviter, who becomes a leader at the plan's threshold (now, so the
    order is rewarded in the reshaped teams)."""
    counters = _Counters()
    buyer = positions[buyer_id]
    if buyer.since_purchase:
        counters.reset.add(buyer_id)
        buyer.since_purchase = 0
    if buyer.qualified:
        return counters
    counters.qualify.add(buyer_id)
    buyer.qualified = True
    if buyer.inviter_id is None:
        return counters
    inviter = positions[buyer.inviter_id]
    inviter.qualified_direct_count += 1
    counters.qualified_invitees[inviter.member_id] = 1
    if plan is not None and not inviter.is_leader and (
            inviter.qualified_direct_count >= plan.upgrade_threshold):
        upgrade(inviter.member_id, old_leader=inviter.leader_id, keep=plan.kept_on_upgrade, now=now)
        inviter.is_leader, inviter.leader_id = True, None
        buyer.leader_id = Node.objects.values_list("leader_id", flat=True).get(member_id=buyer_id)
    return counters


def _chain(buyer: _Position, positions: dict[int, _Position]) -> rules_of_rewards.Chain:
    leader = positions.get(buyer.leader_id) if buyer.leader_id else None
    leader_inviter = positions.get(leader.inviter_id) if leader is not None and leader.inviter_id else None
    return rules_of_rewards.Chain(
        buyer=buyer.member_id,
        inviters=tuple(pk for pk in (buyer.inviter_id, buyer.inviter_2_id, buyer.inviter_3_id) if pk),
        leader=buyer.leader_id,
        leader_inviter=leader_inviter.member_id if leader_inviter else None,
        leader_inviter_is_leader=bool(leader_inviter and leader_inviter.is_leader),
    )


def _standing(positions: dict[int, _Position], terms: rules_of_rewards.Terms, now: datetime):
    today = {}
    if terms.daily_cap_per_member is not None:
        start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        today = dict(RewardRecord.objects.filter(beneficiary_id__in=list(positions), created_at__gte=start)
                     .exclude(outcome=Outcome.LAPSED).values("beneficiary_id")
                     .annotate(total=Sum("points")).values_list("beneficiary_id", "total"))
    return {pk: rules_of_rewards.Standing(active=position.is_active,
                                          since_purchase=position.since_purchase,
                                          today=today.get(pk) or 0)
            for pk, position in positions.items()}


@dataclass(frozen=True)
class _Line:
    amount: Decimal
    categories: tuple[str, ...]

    @classmethod
    def of(cls, lines) -> list[_Line]:
        # Already validated by earning.record_paid_order, which stored them.
        return [cls(Decimal(line["amount"]) if isinstance(line, Mapping) else line.amount,
                    tuple((line.get("categories") if isinstance(line, Mapping) else line.categories) or ()))
                for line in lines]


def _reward(order: Order, base: Decimal, plan, shop: Merchant | None, positions: dict[int, _Position],
            book, rate: int, now: datetime, counters: _Counters, clean: set[int]) -> list[RewardRecord]:
    terms = plans.terms_of(plan)
    funding = rules_of_rewards.Funding(
        base_amount=base,
        budget_percent=shop.rebate_percent if shop else terms.own_order_budget_percent,
        # Points at the published rule set's rate (the one members redeem at), even for a buyer
        # in a gray release; the refund window is the buyer's book's, like the order's own points.
        rate=rate,
        merchant_owner=shop.owner_id if shop else None,
    )
    buyer = positions[order.member_id]
    decided = rules_of_rewards.compute(terms, _chain(buyer, positions), funding,
                                       _standing(positions, terms, now))
    available_at = order.paid_at + timedelta(days=book.pending_days)
    paid = [reward for reward in decided if reward.outcome != Outcome.LAPSED and reward.points > 0]
    kinds = dict(RewardKind.choices)
    credits = [ledger.Credit(
        reward.beneficiary, reward.points, key=f"reward:{order.external_id}:{reward.kind}",
        reason=clip(stored_text(gettext_noop("%(kind)s, order %(order)s"),
                                kind=kinds[reward.kind], order=order.external_id), 255),
        reference=order.external_id, rule_version=f"plan v{plan.version}",
        explanation={**reward.detail, "order": order.external_id, "kind": reward.kind},
    ) for reward in paid]
    # The order is new (a replay returned before), so are its reward keys; the accounts were locked
    # at the start: with all of them clean, the batch needs no savepoint.
    entries = ledger.earn_many(credits, available_at=available_at,
                               expires_at=default_expires_at(now, book) or ledger.NEVER,
                               locked_clean_new=all(credit.member_id in clean for credit in credits))
    entry_of = {reward.kind: entry for reward, entry in zip(paid, entries, strict=True)}
    records = [
        RewardRecord(order=order, kind=reward.kind, beneficiary_id=reward.beneficiary,
                     intended_id=reward.intended, level=reward.level, plan=plan, outcome=reward.outcome,
                     points=reward.points, entry=entry_of.get(reward.kind),
                     available_at=available_at if reward.kind in entry_of else None,
                     detail={**reward.detail, "order": order.external_id}, created_at=now)
        for reward in decided
    ]
    for reward in paid:
        if reward.kind in REFERRAL_KINDS:
            counters.since_purchase[reward.beneficiary] = (
                counters.since_purchase.get(reward.beneficiary, 0) + reward.points)
    rewarded = RewardedOrder(order=order, plan=plan, merchant=shop, base_amount=base,
                             budget_percent=funding.budget_percent, budget_points=int(funding.budget),
                             created_at=now)
    _write(rewarded, records, counters)
    return records


_RECORD_COLUMNS = ("order_id", "kind", "beneficiary_id", "intended_id", "level", "plan_id", "outcome",
                   "points", "points_reversed", "entry_id", "available_at", "detail", "created_at")
_RECORD_TYPES = ("bigint", "text", "bigint", "bigint", "smallint", "bigint", "text", "bigint", "bigint",
                 "bigint", "timestamptz", "jsonb", "timestamptz")
_RECORD_ROW = "(" + ", ".join(f"%s::{kind}" for kind in _RECORD_TYPES) + ")"
_NODE_ROW = "(%s::bigint, %s::bool, %s::bool, %s::int, %s::bigint)"


def _write(rewarded: RewardedOrder | None, records: list[RewardRecord], counters: _Counters) -> None:
    """One statement for what the order changes in referrals: its ``RewardedOrder``, its records
    (their ids set on ``records``) and every node counter (one row is changed at most once).
    Rows go in as VALUES lists: for a handful of rows, scalar parameters cost the client less to
    send than arrays."""
    members = sorted(counters.reset | counters.qualify | set(counters.qualified_invitees)
                     | set(counters.since_purchase))
    ctes, params = [], []
    if members:
        ctes.append(
            "counters AS (UPDATE referrals_node n SET "
            "rewards_since_purchase = CASE WHEN v.reset THEN 0 ELSE n.rewards_since_purchase END + v.since, "
            "qualified = n.qualified OR v.qualify, "
            "qualified_direct_count = n.qualified_direct_count + v.invitees "
            f"FROM (VALUES {', '.join([_NODE_ROW] * len(members))}) "
            "AS v(member_id, reset, qualify, invitees, since) WHERE n.member_id = v.member_id)")
        for pk in members:
            params += [pk, pk in counters.reset, pk in counters.qualify,
                       counters.qualified_invitees.get(pk, 0), counters.since_purchase.get(pk, 0)]
    if rewarded is not None:
        ctes.append(
            "rewarded AS (INSERT INTO referrals_rewardedorder (order_id, plan_id, merchant_id, "
            "base_amount, budget_percent, budget_points, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s))")
        params += [rewarded.order_id, rewarded.plan_id, rewarded.merchant_id, rewarded.base_amount,
                   rewarded.budget_percent, rewarded.budget_points, rewarded.created_at]
    if records:
        ctes.append(
            f"record AS (INSERT INTO referrals_rewardrecord ({', '.join(_RECORD_COLUMNS)}) "
            f"VALUES {', '.join([_RECORD_ROW] * len(records))} RETURNING id, kind)")
        for r in records:
            params += [r.order_id, r.kind, r.beneficiary_id, r.intended_id, r.level, r.plan_id,
                       r.outcome, r.points, 0, r.entry_id, r.available_at,
                       json.dumps(r.detail, ensure_ascii=False), r.created_at]
    if not ctes:
        return
    result = "SELECT id, kind FROM record" if records else "SELECT NULL, NULL"
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} {result}", params)
        ids = dict((kind, pk) for pk, kind in cursor.fetchall())
    for record in records:
        record.pk = ids[record.kind]
        record._state.adding = False


def _replay(order: Order, shop: Merchant | None) -> list[RewardRecord]:
    rewarded = RewardedOrder.objects.filter(order=order).first()
    if rewarded is not None and rewarded.merchant_id != (shop.pk if shop else None):
        raise IdempotencyConflict(f"Order {order.external_id} was already received with another merchant.")
    return list(RewardRecord.objects.filter(order=order).order_by("id"))


# --------------------------------------------------------------------------- refunds


@dataclass(frozen=True)
class RefundedOrder:
    earning: earning.RefundResult
    rewards_reversed: int  # reward points reversed by this refund


def record_refund(*, order_id: str, refund_amount, key: str) -> RefundedOrder:
    """Record a refund (``earning.record_refund``) and reverse the order's rewards in the same
    proportion: after it, each reward has lost ``floor(points × refunded / amount)`` (all of it
    once fully refunded). A fully refunded order no longer qualifies the buyer (unless another of
    their orders does); an upgrade already granted stays. Idempotent per ``key``."""
    order_id = earning._check_order_id(order_id)
    with transaction.atomic():
        order = Order.objects.filter(external_id=order_id).only("id", "member_id").first()
        if order is None:
            raise OrderNotFound(f"No paid order {order_id} has been received.")
        beneficiaries = list(RewardRecord.objects.filter(order=order, entry__isnull=False)
                             .values_list("beneficiary_id", flat=True))
        buyer = node_of(order.member_id)
        nodes = lock_nodes([order.member_id, buyer.inviter_id, *beneficiaries])
        lock_accounts_of_members(nodes)
        result = earning.record_refund(order_id=order_id, refund_amount=refund_amount, key=key)
        order = result.order
        reversed_now = _reverse_rewards(order, key)
        if order.refunded_amount >= order.amount:
            _unqualify(nodes[order.member_id], nodes)
    return RefundedOrder(result, reversed_now)


def _reverse_rewards(order: Order, key: str) -> int:
    total = 0
    records = (RewardRecord.objects.select_for_update().filter(order=order, entry__isnull=False)
               .select_related("entry"))
    for record in records.order_by("id"):
        if order.refunded_amount >= order.amount or order.amount == 0:
            target = record.points
        else:
            target = record.points * int(order.refunded_amount * 100) // int(order.amount * 100)
        delta = target - record.points_reversed
        if delta <= 0:
            continue
        reason = stored_text(gettext_noop("Refund of order %(order)s: %(kind)s reversed"),
                             order=order.external_id, kind=RewardKind(record.kind).label)
        ledger.reverse(record.entry, delta, key=f"reward-refund:{record.pk}:{key}",
                       reason=clip(reason, 255))
        RewardRecord.objects.filter(pk=record.pk).update(points_reversed=F("points_reversed") + delta)
        if record.kind in REFERRAL_KINDS:
            # The reversed part no longer counts towards the repurchase threshold.
            Node.objects.filter(member_id=record.beneficiary_id, rewards_since_purchase__gte=delta).update(
                rewards_since_purchase=F("rewards_since_purchase") - delta)
        total += delta
    return total


def _unqualify(buyer: Node, nodes: dict[int, Node]) -> None:
    still = Order.objects.filter(member_id=buyer.member_id, amount__gt=0).filter(
        Q(refunded_amount__lt=F("amount"))).exists()
    if still or not buyer.qualified:
        return
    Node.objects.filter(pk=buyer.pk).update(qualified=False)
    buyer.qualified = False
    if buyer.inviter_id is not None:
        Node.objects.filter(pk=buyer.inviter_id, qualified_direct_count__gt=0).update(
            qualified_direct_count=F("qualified_direct_count") - 1)
