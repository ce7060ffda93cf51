"""How one paid order is rewarded: a pure function of the plan, the buyer's chain, the funding and
the beneficiaries' standing. No database: the live path (``referrals.services.orders``) and the
simulation (``referrals.simulation``) feed it the same way, so a simulation is the real rule.

Every reward is a share of the order's funded budget (the merchant's rebate, or the plan's
percentage of the mall's own orders), converted to points at the redemption rate and rounded down
per reward, so the rewards of an order never add up to more than its budget. Nobody more than
``LEVEL_LIMIT`` (3) invite levels above the buyer is ever paid, whatever the plan says.

A beneficiary who cannot receive a reward (inactive, gated by repurchase, at their daily cap) is
passed over: the reward passes up to the next eligible inviter within the levels the plan pays, or
lapses when the plan says so or no one is left (轮动). Each decision keeps why, for the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal

from referrals.models import LEVEL_LIMIT, REFERRAL_KINDS, Outcome, RewardKind, Rotation

HUNDRED = Decimal("100")

# Budget order: when a per-order cap cuts, the buyer's and the merchant's shares come first.
KIND_ORDER = (RewardKind.BUYER_REBATE, RewardKind.MERCHANT_REBATE, RewardKind.DIRECT,
              RewardKind.TEAM, RewardKind.SAME_LEVEL)


@dataclass(frozen=True)
class Terms:
    """The numbers of a plan version that decide rewards."""

    version: int
    own_order_budget_percent: Decimal
    shares: Mapping[str, Decimal]
    max_levels: int = LEVEL_LIMIT
    repurchase_points: int = 5000
    rotation: str = Rotation.PASS_UP
    daily_cap_per_member: int | None = None
    cap_per_order: int | None = None
    excluded_categories: frozenset[str] = frozenset()

    @classmethod
    def of(cls, plan) -> Terms:
        return cls(
            version=plan.version,
            own_order_budget_percent=plan.own_order_budget_percent,
            shares={
                RewardKind.DIRECT: plan.direct_share, RewardKind.TEAM: plan.team_share,
                RewardKind.SAME_LEVEL: plan.same_level_share,
                RewardKind.BUYER_REBATE: plan.buyer_share,
                RewardKind.MERCHANT_REBATE: plan.merchant_share,
            },
            max_levels=min(plan.max_levels, LEVEL_LIMIT),
            repurchase_points=plan.repurchase_points,
            rotation=plan.rotation,
            daily_cap_per_member=plan.daily_cap_per_member,
            cap_per_order=plan.cap_per_order,
            excluded_categories=frozenset(plan.excluded_categories or ()),
        )


@dataclass(frozen=True)
class Chain:
    """What an order needs of the trees: the buyer, their inviters up to 3 levels (level 1 first),
    their team leader, and the leader's own inviter with whether that one leads a team too."""

    buyer: int
    inviters: tuple[int, ...] = ()
    leader: int | None = None
    leader_inviter: int | None = None
    leader_inviter_is_leader: bool = False

    def level_of(self, member_id: int | None) -> int | None:
        """Invite levels from the buyer up to ``member_id`` when within the stored three."""
        if member_id is None:
            return None
        try:
            return self.inviters.index(member_id) + 1
        except ValueError:
            return None


@dataclass(frozen=True)
class Funding:
    """``base_amount``: the order's amount less excluded lines; ``budget_percent``: the merchant's
    rebate or the plan's own-order percentage; ``rate``: points per yuan."""

    base_amount: Decimal
    budget_percent: Decimal
    rate: int
    merchant_owner: int | None = None

    @property
    def budget(self) -> Decimal:
        """The budget in points, exact (rewards round down each on their own)."""
        return self.base_amount * self.budget_percent / HUNDRED * self.rate

    def points(self, share: Decimal) -> int:
        return int((self.budget * share / HUNDRED).to_integral_value(rounding=ROUND_FLOOR))


@dataclass
class Standing:
    """A possible beneficiary as the order finds them: active, referral points received since
    their own last paid order, reward points received today."""

    active: bool = True
    since_purchase: int = 0
    today: int = 0


@dataclass(frozen=True)
class Reward:
    kind: str
    outcome: str
    beneficiary: int | None
    intended: int | None
    level: int | None
    points: int
    detail: dict = field(default_factory=dict)


def base_amount(amount: Decimal, lines, excluded: frozenset[str]) -> Decimal:
    """The part of the order that funds rewards: lines in an excluded category (a membership
    package, an entry fee) fund nothing, so no reward is ever paid for buying one."""
    if not excluded:
        return amount
    left_out = sum((line.amount for line in lines if excluded.intersection(line.categories)), Decimal("0"))
    return max(amount - left_out, Decimal("0"))


def compute(terms: Terms, chain: Chain, funding: Funding,
            standing: Mapping[int, Standing]) -> list[Reward]:
    """The rewards of one order, in ``KIND_ORDER``. ``standing`` holds every member of ``chain``
    (and the merchant's owner); it is updated with what this order pays, so a caller replaying
    many orders (the simulation) carries it from one to the next."""
    rewards = []
    order_left = terms.cap_per_order
    base_detail = {"budget": int(funding.budget.to_integral_value(rounding=ROUND_FLOOR))}
    for kind in KIND_ORDER:
        share = terms.shares.get(kind, Decimal("0"))
        if share <= 0:
            continue
        named, level, refusal = _named(kind, terms, chain, funding)
        if named is None and refusal is None:
            continue  # no such person (no inviter, no team): nothing to record
        points = funding.points(share)
        detail = {**base_detail, "share": f"{share.normalize():f}"}
        if points <= 0:
            continue
        if refusal is not None:
            rewards.append(Reward(kind, Outcome.LAPSED, None, named, None, 0, {**detail, "why": refusal,
                                                                               "planned": points}))
            continue
        if order_left is not None and order_left <= 0:
            rewards.append(Reward(kind, Outcome.LAPSED, None, named, level, 0,
                                  {**detail, "why": "order_cap", "planned": points}))
            continue
        reward = _place(kind, terms, chain, named, level, points, standing, detail)
        if order_left is not None and reward.points > order_left:
            reward = replace(reward, points=order_left,
                             detail={**reward.detail, "capped": "order_cap", "planned": points})
        if reward.outcome != Outcome.LAPSED:
            order_left = None if order_left is None else order_left - reward.points
            got = standing[reward.beneficiary]
            got.today += reward.points
            if kind in REFERRAL_KINDS:
                got.since_purchase += reward.points
        rewards.append(reward)
    return rewards


def _named(kind: str, terms: Terms, chain: Chain, funding: Funding):
    """(who the plan names, their level, why they cannot be paid at all or None)."""
    nobody = (None, None, None)
    if kind == RewardKind.BUYER_REBATE:
        return (chain.buyer, 0, None) if funding.merchant_owner is not None else nobody
    if kind == RewardKind.MERCHANT_REBATE:
        return (funding.merchant_owner, None, None) if funding.merchant_owner is not None else nobody
    if kind == RewardKind.DIRECT:
        return (chain.inviters[0], 1, None) if chain.inviters else (None, None, None)
    if kind == RewardKind.TEAM:
        named, level = chain.leader, chain.level_of(chain.leader)
    else:  # same level: the leader who invited the buyer's team leader, if a leader too
        if chain.leader is None or chain.leader_inviter is None or not chain.leader_inviter_is_leader:
            return None, None, None
        named = chain.leader_inviter
        leader_level = chain.level_of(chain.leader)
        level = None if leader_level is None else leader_level + 1
    if named is None:
        return None, None, None
    if level is None or level > terms.max_levels:
        return named, None, "beyond_level_limit"
    return named, level, None


def _refusal(kind: str, terms: Terms, state: Standing | None) -> str | None:
    if state is None or not state.active:
        return "inactive"
    if kind in REFERRAL_KINDS and terms.repurchase_points and state.since_purchase >= terms.repurchase_points:
        return "repurchase"
    if terms.daily_cap_per_member is not None and state.today >= terms.daily_cap_per_member:
        return "daily_cap"
    return None


def _place(kind, terms, chain, named, level, points, standing, detail) -> Reward:
    """Pay ``named``, or pass up the chain (or lapse) when they cannot receive it."""
    why = _refusal(kind, terms, standing.get(named))
    if why is None:
        return _paid(Outcome.PAID, kind, terms, named, named, level, points, standing, detail)
    if terms.rotation == Rotation.PASS_UP and kind in REFERRAL_KINDS:
        for up_level in range(level + 1, terms.max_levels + 1):
            candidate = chain.inviters[up_level - 1] if up_level <= len(chain.inviters) else None
            if candidate is None:
                break
            if _refusal(kind, terms, standing.get(candidate)) is None:
                return _paid(Outcome.PASSED_UP, kind, terms, candidate, named, up_level, points,
                             standing, {**detail, "why": why})
        return Reward(kind, Outcome.LAPSED, None, named, level, 0,
                      {**detail, "why": why, "then": "no_eligible", "planned": points})
    return Reward(kind, Outcome.LAPSED, None, named, level, 0, {**detail, "why": why, "planned": points})


def _paid(outcome, kind, terms, beneficiary, named, level, points, standing, detail) -> Reward:
    cap = terms.daily_cap_per_member
    room = None if cap is None else cap - standing[beneficiary].today
    if room is not None and points > room:
        detail = {**detail, "capped": "daily_cap", "planned": points}
        points = room
    return Reward(kind, outcome, beneficiary, named, level, points, detail)
