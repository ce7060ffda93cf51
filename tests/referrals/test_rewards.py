"""How orders are rewarded (issue 9): the worked example, merchants, refunds, the level limit,
repurchase, rotation, caps, and idempotency."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from points.errors import IdempotencyConflict
from points.models import Entry
from points.services import activate_due
from referrals.errors import UnknownMerchant
from referrals.models import Merchant, Node, RewardedOrder, RewardRecord
from tests.referrals.helpers import (
    make_leader,
    member,
    node,
    pay,
    points_of,
    refund,
    rewards_of,
    set_plan,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def example():
    """A is a leader. A invited B. B invites C1, C2, C3, who each place a paid order: B becomes a
    leader, C1-C3 stay in A's team. B invites C4 (B's team)."""
    a = member(username="A")
    make_leader(a)
    b = member(a, username="B")
    cs = [member(b, username=f"C{i}") for i in (1, 2, 3)]
    for i, c in enumerate(cs, start=1):
        pay(c, order_id=f"first-C{i}")
    c4 = member(b, username="C4")
    return a, b, cs, c4


def test_worked_example(example):
    a, b, (c1, c2, c3), c4 = example
    assert node(b).is_leader and node(b).leader_id is None
    assert [node(c).leader_id for c in (c1, c2, c3)] == [a.pk] * 3
    assert node(c4).leader_id == b.pk
    assert node(b).qualified_direct_count == 3

    before_a, before_b = points_of(a), points_of(b)
    pay(c4, "100.00", order_id="C4-order")
    assert rewards_of("C4-order") == {
        "direct": ("B", 150, "paid"),
        "team": ("B", 100, "paid"),
        "same_level": ("A", 50, "paid"),
    }
    assert points_of(b) - before_b == 250
    assert points_of(a) - before_a == 50

    pay(c1, "100.00", order_id="C1-order")
    assert rewards_of("C1-order") == {"direct": ("B", 150, "paid"), "team": ("A", 100, "paid")}
    rewarded = RewardedOrder.objects.get(order__external_id="C4-order")
    assert (rewarded.budget_percent, rewarded.budget_points) == (Decimal("5.00"), 500)


def test_rewards_are_pending_until_the_refund_window_closes(example):
    a, b, _cs, c4 = example
    paid_at = timezone.now()
    pay(c4, "100.00", order_id="pending-order", paid_at=paid_at)
    record = RewardRecord.objects.get(order__external_id="pending-order", kind="direct")
    assert record.available_at == paid_at + timedelta(days=7)  # the rule set's pending days
    lot = record.entry.lots.get()
    assert lot.pending
    activate_due(now=paid_at + timedelta(days=7, seconds=1))
    lot.refresh_from_db()
    assert not lot.pending


def test_explanations_name_the_share_and_the_budget(example):
    *_rest, c4 = example
    pay(c4, "100.00", order_id="explained")
    record = RewardRecord.objects.get(order__external_id="explained", kind="direct")
    from django.utils.translation import override

    with override("en"):
        assert record.explanation == "Direct reward: 30% of the 500-point budget of order explained"


def test_merchant_order_pays_buyer_merchant_and_referrers():
    owner = member(username="owner")
    Merchant.objects.create(code="shop1", name="Shop 1", owner=owner, rebate_percent=Decimal("10"))
    inviter = member(username="inv")
    buyer = member(inviter, username="buyer")
    pay(buyer, "200.00", merchant="shop1", order_id="m-1")
    # budget = 10% of 200.00 = 20.00 yuan = 2,000 points
    assert rewards_of("m-1") == {
        "buyer_rebate": ("buyer", 600, "paid"),
        "merchant_rebate": ("owner", 200, "paid"),
        "direct": ("inv", 600, "paid"),
    }
    assert RewardedOrder.objects.get(order__external_id="m-1").merchant.code == "shop1"


def test_unknown_or_inactive_merchant_is_refused_and_writes_nothing():
    owner = member()
    Merchant.objects.create(code="closed", name="Closed", owner=owner, rebate_percent=Decimal("5"),
                            active=False)
    buyer = member()
    for code in ("nope", "closed"):
        with pytest.raises(UnknownMerchant):
            pay(buyer, merchant=code, order_id=f"bad-{code}")
    assert not RewardedOrder.objects.exists()
    assert not Entry.objects.filter(account__member=buyer).exclude(reference="register").exists()


def test_a_duplicate_order_rewards_once(example):
    *_rest, c4 = example
    paid_at = timezone.now()
    first = pay(c4, "100.00", order_id="dup", paid_at=paid_at)
    again = pay(c4, "100.00", order_id="dup", paid_at=paid_at)
    assert [r.pk for r in again.rewards] == [r.pk for r in first.rewards]
    assert RewardRecord.objects.filter(order__external_id="dup").count() == 3
    with pytest.raises(IdempotencyConflict):
        owner = member()
        Merchant.objects.create(code="other", name="Other", owner=owner, rebate_percent=Decimal("5"))
        pay(c4, "100.00", order_id="dup", paid_at=paid_at, merchant="other")


def test_partial_then_full_refund_before_settlement(example):
    a, b, _cs, c4 = example
    before_a, before_b = points_of(a), points_of(b)
    pay(c4, "100.00", order_id="r-1")
    refund("r-1", "40.00")  # 40%: direct 150 -> 60 reversed, team 100 -> 40, same level 50 -> 20
    assert {r.kind: r.points_reversed for r in RewardRecord.objects.filter(order__external_id="r-1")} == {
        "direct": 60, "team": 40, "same_level": 20}
    assert points_of(b) - before_b == 150
    refund("r-1", "60.00")
    assert {r.kind: r.points_reversed for r in RewardRecord.objects.filter(order__external_id="r-1")} == {
        "direct": 150, "team": 100, "same_level": 50}
    assert (points_of(a) - before_a, points_of(b) - before_b) == (0, 0)


def test_refund_after_settlement_and_spending_leaves_debt():
    from points.models import Account
    from points.services import spend

    parent = member(username="spender")
    kid = member(parent)
    pay(kid, "100.00", order_id="settled", paid_at=timezone.now() - timedelta(days=10))
    activate_due(now=timezone.now())
    assert Account.objects.get(member=parent).available == 150
    spend(parent, 100, key="spend-most", reason="test")
    assert refund("settled", "20.00").rewards_reversed == 30  # partial, after settlement: 50 -> 20
    assert Account.objects.get(member=parent).available == 20
    spend(parent, 20, key="spend-rest", reason="test")
    result = refund("settled", "80.00")
    assert result.rewards_reversed == 120
    account = Account.objects.get(member=parent)
    assert (account.debt, account.available) == (120, 0)
    assert RewardRecord.objects.get(order__external_id="settled").points_reversed == 150


def test_full_refund_unqualifies_the_invitee_but_the_upgrade_stays(example):
    _a, b, _cs, _c4 = example
    refund("first-C1", "100.00")
    assert not node(member_named("C1")).qualified
    assert node(b).qualified_direct_count == 2
    assert node(b).is_leader  # granted upgrades stay


def member_named(username):
    from mall.models import Member

    return Member.objects.get(username=username)


def test_no_beneficiary_beyond_three_levels():
    top = member(username="top")
    make_leader(top)
    m1 = member(top, username="m1")
    m2 = member(m1, username="m2")
    m3 = member(m2, username="m3")
    buyer = member(m3, username="buyer4")  # top is 4 levels above
    assert node(buyer).leader_id == top.pk
    pay(buyer, "100.00", order_id="deep")
    rewards = rewards_of("deep")
    assert rewards["direct"] == ("m3", 150, "paid")
    assert rewards["team"] == (None, 0, "lapsed")
    record = RewardRecord.objects.get(order__external_id="deep", kind="team")
    assert record.intended_id == top.pk and record.detail["why"] == "beyond_level_limit"
    assert not RewardRecord.objects.filter(beneficiary=top).exists()


def test_repurchase_gate_passes_up_then_unlocks_on_own_order():
    set_plan(repurchase_points=300)
    grand = member(username="grand")
    parent = member(grand, username="parent")
    kids = [member(parent, username=f"kid{i}") for i in range(3)]
    pay(kids[0], "100.00", order_id="g-1")  # parent 150
    pay(kids[1], "100.00", order_id="g-2")  # parent 300: reaches the threshold
    pay(kids[2], "100.00", order_id="g-3")  # gated: passes up to grand
    assert rewards_of("g-3")["direct"] == ("grand", 150, "passed_up")
    record = RewardRecord.objects.get(order__external_id="g-3", kind="direct")
    assert record.intended_id == parent.pk and record.detail["why"] == "repurchase"
    pay(parent, "10.00", order_id="parent-own")
    assert node(parent).rewards_since_purchase == 0
    pay(kids[0], "100.00", order_id="g-4")
    assert rewards_of("g-4")["direct"] == ("parent", 150, "paid")


def test_rotation_lapse_when_the_plan_says_so():
    set_plan(repurchase_points=100, rotation="lapse")
    grand = member()
    parent = member(grand, username="p")
    kid = member(parent)
    pay(kid, "100.00", order_id="l-1")
    pay(kid, "100.00", order_id="l-2")
    assert rewards_of("l-2")["direct"] == (None, 0, "lapsed")
    assert not RewardRecord.objects.filter(beneficiary=grand).exists()


def test_inactive_beneficiary_is_passed_over():
    grand = member(username="g")
    parent = member(grand, username="p", is_active=False)
    kid = member(parent)
    pay(kid, "100.00", order_id="i-1")
    assert rewards_of("i-1")["direct"] == ("g", 150, "passed_up")


def test_daily_and_per_order_caps():
    set_plan(daily_cap_per_member=200, cap_per_order=120)
    parent = member(username="p")
    kids = [member(parent) for _ in range(3)]
    pay(kids[0], "100.00", order_id="c-1")
    assert rewards_of("c-1")["direct"] == ("p", 120, "paid")  # per order
    set_plan(cap_per_order=None)
    pay(kids[1], "100.00", order_id="c-2")
    assert rewards_of("c-2")["direct"] == ("p", 80, "paid")  # 200 a day
    pay(kids[2], "100.00", order_id="c-3")
    assert rewards_of("c-3")["direct"] == (None, 0, "lapsed")


def test_excluded_categories_fund_nothing():
    parent = member(username="p")
    kid = member(parent)
    pay(kid, "100.00", order_id="pkg", lines=[
        {"sku": "vip", "amount": Decimal("60.00"), "categories": ["package"]},
        {"sku": "tea", "amount": Decimal("40.00")},
    ])
    assert rewards_of("pkg")["direct"] == ("p", 60, "paid")  # 30% of 5% of 40.00


def test_no_plan_means_no_rewards():
    from referrals.models import RewardPlan

    RewardPlan.objects.update(status="retired")
    parent = member()
    kid = member(parent)
    pay(kid, order_id="none")
    assert not RewardRecord.objects.exists()
    assert node(kid).qualified


def test_rewards_never_exceed_the_budget():
    owner = member()
    Merchant.objects.create(code="s", name="S", owner=owner, rebate_percent=Decimal("20"))
    top = member()
    make_leader(top)
    mid = member(top)
    make_leader(mid)
    Node.objects.filter(member=mid).update(leader=None)
    low = member(mid)
    buyer = member(low)
    pay(buyer, "33.33", merchant="s", order_id="budget")
    total = sum(r.points for r in RewardRecord.objects.filter(order__external_id="budget"))
    assert total <= RewardedOrder.objects.get(order__external_id="budget").budget_points


def test_a_merchant_owner_without_a_node_is_paid():
    from tests.factories import MemberFactory

    owner = MemberFactory(username="admin-made")  # created outside sign-up: no node yet
    assert not Node.objects.filter(member=owner).exists()
    Merchant.objects.create(code="new", name="New", owner=owner, rebate_percent=Decimal("10"))
    buyer = member(username="b")
    pay(buyer, "100.00", merchant="new", order_id="owner-node")
    assert rewards_of("owner-node")["merchant_rebate"] == ("admin-made", 100, "paid")


def test_an_order_of_packages_only_neither_qualifies_nor_restarts_repurchase():
    a = member(username="A")
    kids = [member(a) for _ in range(3)]
    for i, kid in enumerate(kids):
        pay(kid, "99.00", order_id=f"pkg-only-{i}",
            lines=[{"sku": "vip", "amount": Decimal("99.00"), "categories": ["package"]}])
    assert not node(a).is_leader and node(a).qualified_direct_count == 0
    assert not RewardRecord.objects.exists()


def test_points_at_the_published_rate_even_in_a_gray_release():
    from rules.models import RuleSet
    from rules.services import clone_as_draft, start_gray
    from tests.factories import StaffFactory

    editor, releaser = StaffFactory(), StaffFactory()
    candidate = clone_as_draft(RuleSet.objects.get(status="published"), actor=editor)
    RuleSet.objects.filter(pk=candidate.pk).update(redemption_points_per_yuan=200)
    start_gray(candidate, actor=releaser, percent=100)
    parent = member(username="p")
    kid = member(parent)
    pay(kid, "100.00", order_id="gray")
    assert rewards_of("gray")["direct"] == ("p", 150, "paid")  # 100 points a yuan, not 200


def test_a_redelivered_order_of_a_merchant_closed_since_replays():
    owner = member()
    shop = Merchant.objects.create(code="soon-closed", name="S", owner=owner, rebate_percent=Decimal("5"))
    buyer = member()
    paid_at = timezone.now()
    first = pay(buyer, "100.00", merchant="soon-closed", order_id="closed-later", paid_at=paid_at)
    Merchant.objects.filter(pk=shop.pk).update(active=False)
    again = pay(buyer, "100.00", merchant="soon-closed", order_id="closed-later", paid_at=paid_at)
    assert [r.pk for r in again.rewards] == [r.pk for r in first.rewards]
    with pytest.raises(UnknownMerchant):
        pay(buyer, "100.00", merchant="soon-closed", order_id="closed-new")
