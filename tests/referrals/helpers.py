"""Builders for the referral tests: members invited through the real binding, orders through the
real order service (what the shop's hook calls)."""

from datetime import timedelta
from decimal import Decimal
from itertools import count

from django.utils import timezone

from points.models import Account
from referrals.models import Node, RewardPlan, RewardRecord
from referrals.services import orders, tree
from referrals.services.plans import published_plan
from tests.factories import MemberFactory

_orders = count(1)


def member(inviter=None, **fields):
    """A new member, invited by ``inviter`` (a member) through their invite code."""
    new = MemberFactory(**fields)
    tree.ensure_nodes([new.pk])
    if inviter is not None:
        tree.bind(new, tree.node_of(inviter.pk).invite_code)
    return new


def pay(buyer, amount="100.00", *, merchant=None, order_id=None, lines=None, paid_at=None, now=None):
    """A paid order of ``amount`` by ``buyer``; returns ``orders.PaidOrder``."""
    amount = Decimal(amount)
    order_id = order_id or f"ord-{next(_orders)}"
    paid_at = paid_at or timezone.now()
    lines = lines if lines is not None else [{"sku": "sku-1", "amount": amount}]
    return orders.record_paid_order(buyer, order_id=order_id, amount=amount, lines=lines,
                                    paid_at=paid_at, merchant=merchant, now=now or paid_at)


def refund(order_id, amount, key=None):
    return orders.record_refund(order_id=order_id, refund_amount=Decimal(amount),
                                key=key or f"refund-{order_id}-{amount}-{next(_orders)}")


def node(someone) -> Node:
    return Node.objects.get(member_id=someone.pk)


def make_leader(someone):
    Node.objects.filter(member_id=someone.pk).update(is_leader=True, leader=None,
                                                      leader_since=timezone.now() - timedelta(days=1))


def rewards_of(order_id) -> dict:
    """{kind: (beneficiary username or None, points, outcome)} for one order."""
    return {
        record.kind: (record.beneficiary.username if record.beneficiary_id else None, record.points,
                      record.outcome)
        for record in RewardRecord.objects.filter(order__external_id=order_id).select_related("beneficiary")
    }


def points_of(someone) -> int:
    account = Account.objects.filter(member_id=someone.pk).first()
    return 0 if account is None else account.available + account.pending - account.debt


def set_plan(**fields) -> RewardPlan:
    """Change the published plan in place (a test shortcut around drafts and four eyes)."""
    from referrals.services import plans

    plan = published_plan()
    for name, value in fields.items():
        setattr(plan, name, value)
    plan.save()
    plans.forget_cached_plans()  # published plans never change outside a test
    return plan
