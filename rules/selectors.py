"""Which rules apply, as immutable ``RuleBook`` snapshots for the evaluator."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from rules.evaluator import BehaviourSpec, MemberContext, RuleBook, in_gray_cohort
from rules.models import RuleSet, RuleSetStatus


def build_rulebook(rule_set: RuleSet) -> RuleBook:
    """Snapshot a rule set and its tables (a few small queries)."""
    bonuses = list(rule_set.category_bonuses.all())
    return RuleBook(
        version=rule_set.version,
        base_points_per_yuan=rule_set.base_points_per_yuan,
        tier_multipliers={row.code: row.multiplier for row in rule_set.tiers.all()},
        category_bonuses={row.category: row.bonus_percent for row in bonuses},
        category_labels={row.category: row.label for row in bonuses if row.label},
        spend_tiers=tuple((row.threshold, row.bonus_points)
                          for row in rule_set.spend_tiers.order_by("threshold")),
        behaviours={
            row.action: BehaviourSpec(
                action=row.action, points=row.points, photo_bonus_percent=row.photo_bonus_percent,
                daily_limit=row.daily_limit, lifetime_limit=row.lifetime_limit, label=row.label,
            )
            for row in rule_set.behaviours.all()
        },
        check_in_steps=tuple((row.day, row.points) for row in rule_set.check_in_steps.order_by("day")),
        daily_behaviour_cap=rule_set.daily_behaviour_cap,
        max_points_per_order=rule_set.max_points_per_order,
        pending_days=rule_set.pending_days,
        expiry_months=rule_set.expiry_months,
        reminder_days=tuple(int(day) for day in rule_set.reminder_days.split(",") if day.strip()),
        redemption_points_per_yuan=rule_set.redemption_points_per_yuan,
        redemption_max_percent=rule_set.redemption_max_percent,
        redemption_min_points=rule_set.redemption_min_points,
        new_member_days=rule_set.new_member_days,
        new_member_redemption_discount=rule_set.new_member_redemption_discount,
    )


@lru_cache(maxsize=32)
def _frozen_rulebook(rule_set_id: int) -> RuleBook:
    # Only rule sets that left the draft stage are cached: their tables can no longer change.
    # Keyed by primary key, which (unlike a version number) is never reused.
    return build_rulebook(RuleSet.objects.get(pk=rule_set_id))


def rulebook(rule_set: RuleSet) -> RuleBook:
    if rule_set.status == RuleSetStatus.DRAFT:
        return build_rulebook(rule_set)
    return _frozen_rulebook(rule_set.pk)


def rulebook_for_version(version: int) -> RuleBook:
    rule_set = RuleSet.objects.get(version=version)
    return rulebook(rule_set)


def _live_versions():
    """(published rule set, candidate rule set or None): one indexed query."""
    published = candidate = None
    for rule_set in RuleSet.objects.filter(
        status__in=[RuleSetStatus.PUBLISHED, RuleSetStatus.CANDIDATE]
    ).only("id", "version", "status", "gray_percent", "gray_tiers", "gray_segments"):
        if rule_set.status == RuleSetStatus.PUBLISHED:
            published = rule_set
        else:
            candidate = rule_set
    if published is None:
        raise RuleSet.DoesNotExist("No published rule set: publish one in the admin.")
    return published, candidate


def active_rulebook() -> RuleBook:
    """The version published for everyone."""
    published, _candidate = _live_versions()
    return _frozen_rulebook(published.pk)


def member_context(member) -> MemberContext:
    return MemberContext(tier=member.tier, member_id=member.pk, segment=getattr(member, "segment", ""))


def rulebook_for(member) -> RuleBook:
    """The candidate for members in its gray cohort, the published version for everyone else."""
    published, candidate = _live_versions()
    if candidate is not None and in_gray_cohort(
        member_context(member), candidate.gray_percent, candidate.gray_tiers, candidate.gray_segments
    ):
        return _frozen_rulebook(candidate.pk)
    return _frozen_rulebook(published.pk)


def points_worth(book: RuleBook, points: int) -> Decimal:
    """What ``points`` are worth in yuan at the book's redemption rate."""
    return (Decimal(points) / book.redemption_points_per_yuan).quantize(Decimal("0.01"))
