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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from points import services as ledger
from points.errors import IdempotencyConflict, OrderNotFound
from points.models import Order
from points.policy import default_expires_at
from points.services import earning
from points.services.lock_objects import lock_accounts_of_members
from referrals import rewards as rules_of_rewards
from referrals.errors import UnknownMerchant
from referrals.models import (
    REFERRAL_KINDS,
    Merchant,
    Node,
    Outcome,
    RewardedOrder,
    RewardRecord,
)
from referrals.services import plans
from referrals.services.tree import lock_nodes, node_of, upgrade


@dataclass(frozen=True)
class PaidOrder:
    """The order's own points (``earning``) and the rewards it paid (``rewards``, records)."""

    earning: earning.OrderEarning
    rewards: list[RewardRecord]


def merchant_by_code(code: str | None) -> Merchant | None:
    """The active merchant with ``code`` (None for none); raises ``UnknownMerchant``."""
    if code is None:
        return None
    merchant = Merchant.objects.filter(code=code, active=True).first()
    if merchant is None:
        raise UnknownMerchant()
    return merchant


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
        shop = merchant_by_code(merchant)
        plan = plans.published_plan()
        nodes, chain_ids = _lock_for(member.pk, shop)
        lock_accounts_of_members(chain_ids)
        result = earning.record_paid_order(member, order_id=order_id, amount=amount, lines=lines,
                                           paid_at=paid_at, now=now)
        if result.replayed:
            return PaidOrder(result, _replay(result.order, shop))
        if result.order.amount <= 0:  # a free order neither qualifies nor funds anything
            return PaidOrder(result, [])
        _qualify(nodes[member.pk], nodes, plan, now)
        if plan is None:
            return PaidOrder(result, [])
        records = _reward(result.order, _Line.of(lines), plan, shop, nodes, result.rulebook, now)
    return PaidOrder(result, records)


def _lock_for(buyer_id: int, shop: Merchant | None) -> tuple[dict[int, Node], list[int]]:
    """Lock every node the order may read or pay: the buyer, their three inviters, their team
    leader and the leader's inviter, the merchant's owner."""
    # One read for the ids. The invite tree never changes, so the leader's inviter can be read
    # before the lock; the leader itself is checked again once the buyer's node is locked.
    row = (Node.objects.filter(member_id=buyer_id)
           .annotate(leader_inviter=Subquery(Node.objects.filter(member_id=OuterRef("leader_id"))
                                             .values("inviter_id")[:1]))
           .values_list("inviter_id", "inviter_2_id", "inviter_3_id", "leader_id", "leader_inviter")
           .first()) or (None,) * 5
    nodes = lock_nodes([buyer_id, *row, shop.owner_id if shop else None])
    leader = nodes[buyer_id].leader_id
    if leader is not None and (leader not in nodes or nodes[leader].inviter_id not in (None, *nodes)):
        # An upgrade moved the buyer to another team between the read and the lock (rare): lock
        # the new leader and their inviter too.
        nodes.update(lock_nodes([leader, _inviter_of(leader)]))
    return nodes, list(nodes)


def _inviter_of(member_id: int) -> int | None:
    return Node.objects.filter(member_id=member_id).values_list("inviter_id", flat=True).first()


def _qualify(buyer: Node, nodes: dict[int, Node], plan, now: datetime) -> None:
    """The buyer's own paid order: their repurchase count starts again, and their first one
    qualifies them for their inviter, who becomes a leader at the plan's threshold."""
    updates = {}
    if buyer.rewards_since_purchase:
        buyer.rewards_since_purchase = 0
        updates["rewards_since_purchase"] = 0
    if not buyer.qualified:
        buyer.qualified = True
        updates["qualified"] = True
    if updates:
        Node.objects.filter(pk=buyer.pk).update(**updates)
    if "qualified" not in updates or buyer.inviter_id is None:
        return
    inviter = nodes[buyer.inviter_id]
    inviter.qualified_direct_count += 1
    Node.objects.filter(pk=inviter.pk).update(qualified_direct_count=F("qualified_direct_count") + 1)
    if plan is None or inviter.is_leader:
        return
    if inviter.qualified_direct_count >= plan.upgrade_threshold:
        upgrade(inviter, keep=plan.kept_on_upgrade, now=now)
        buyer.refresh_from_db(fields=["leader"])


def _chain(buyer: Node, nodes: dict[int, Node]) -> rules_of_rewards.Chain:
    leader = nodes.get(buyer.leader_id) if buyer.leader_id else None
    leader_inviter = nodes.get(leader.inviter_id) if leader is not None and leader.inviter_id else None
    return rules_of_rewards.Chain(
        buyer=buyer.member_id,
        inviters=tuple(pk for pk in (buyer.inviter_id, buyer.inviter_2_id, buyer.inviter_3_id) if pk),
        leader=buyer.leader_id,
        leader_inviter=leader_inviter.member_id if leader_inviter else None,
        leader_inviter_is_leader=bool(leader_inviter and leader_inviter.is_leader),
    )


def _standing(nodes: dict[int, Node], terms: rules_of_rewards.Terms, now: datetime):
    today = {}
    if terms.daily_cap_per_member is not None:
        start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        today = dict(RewardRecord.objects.filter(beneficiary_id__in=list(nodes), created_at__gte=start)
                     .exclude(outcome=Outcome.LAPSED).values("beneficiary_id")
                     .annotate(total=Sum("points")).values_list("beneficiary_id", "total"))
    return {pk: rules_of_rewards.Standing(active=node.member.is_active,
                                          since_purchase=node.rewards_since_purchase,
                                          today=today.get(pk) or 0)
            for pk, node in nodes.items()}


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


def _reward(order: Order, lines, plan, shop: Merchant | None, nodes: dict[int, Node], book,
            now: datetime) -> list[RewardRecord]:
    terms = rules_of_rewards.Terms.of(plan)
    base = rules_of_rewards.base_amount(order.amount, lines, terms.excluded_categories)
    funding = rules_of_rewards.Funding(
        base_amount=base,
        budget_percent=shop.rebate_percent if shop else terms.own_order_budget_percent,
        rate=book.redemption_points_per_yuan,
        merchant_owner=shop.owner_id if shop else None,
    )
    buyer = nodes[order.member_id]
    decided = rules_of_rewards.compute(terms, _chain(buyer, nodes), funding, _standing(nodes, terms, now))
    RewardedOrder.objects.create(order=order, plan=plan, merchant=shop, base_amount=base,
                                 budget_percent=funding.budget_percent,
                                 budget_points=int(funding.budget), created_at=now)
    available_at = order.paid_at + timedelta(days=book.pending_days)
    expires_at = default_expires_at(now, book) or ledger.NEVER
    records = []
    for reward in decided:
        record = RewardRecord(order=order, kind=reward.kind, beneficiary_id=reward.beneficiary,
                              intended_id=reward.intended, level=reward.level, plan=plan,
                              outcome=reward.outcome, points=reward.points,
                              detail={**reward.detail, "order": order.external_id}, created_at=now)
        if reward.outcome != Outcome.LAPSED and reward.points > 0:
            with override(settings.LANGUAGE_CODE):  # ledger reasons are stored in the site's language
                reason = _("%(kind)s, order %(order)s") % {"kind": record.get_kind_display(),
                                                          "order": order.external_id}
            record.entry = ledger.earn(
                nodes[reward.beneficiary].member, reward.points,
                key=f"reward:{order.external_id}:{reward.kind}", reason=reason[:255],
                reference=order.external_id, available_at=available_at, expires_at=expires_at,
                rule_version=f"plan v{plan.version}", explanation={**record.detail, "kind": reward.kind},
            )
            record.available_at = available_at
        records.append(record)
    RewardRecord.objects.bulk_create(records)
    counted: dict[int, int] = {}
    for reward in decided:
        if reward.outcome != Outcome.LAPSED and reward.kind in REFERRAL_KINDS and reward.points:
            counted[reward.beneficiary] = counted.get(reward.beneficiary, 0) + reward.points
    if counted:
        # One statement for every beneficiary's repurchase count.
        increment = Case(*(When(member_id=pk, then=Value(points)) for pk, points in counted.items()),
                         default=Value(0))
        Node.objects.filter(member_id__in=list(counted)).update(
            rewards_since_purchase=F("rewards_since_purchase") + increment)
    return records


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
        with override(settings.LANGUAGE_CODE):
            reason = _("Refund of order %(order)s: %(kind)s reversed") % {
                "order": order.external_id, "kind": record.get_kind_display()}
        ledger.reverse(record.entry, delta, key=f"reward-refund:{record.pk}:{key}", reason=reason[:255])
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
