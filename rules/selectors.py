"""Which rules apply, as immutable ``RuleBook`` snapshots for the evaluator."""

from __future__ import annotations

import time
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.db import connections, transaction
from django.db.models.signals import post_delete, post_save

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


def _query_live_versions():
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


# Which versions are live changes only when staff publish, start, change or stop a gray release
# or roll back, a few times a month; reading it was one query in every posting that needs the
# default expiry or the member's rule book. So each process keeps its copy for
# RULES_LIVE_CACHE_SECONDS: every such change saves a RuleSet, which clears the copy of the
# process that made it at once and again at commit; other processes see it within those seconds,
# as if the orders in between had arrived a moment earlier. ``(deadline, published, candidate)``.
_live_cache = None


def _live_versions():
    global _live_cache
    connection = connections["default"]
    if getattr(connection, "rules_written", False):
        if connection.in_atomic_block:
            # This transaction changed rule sets: only it sees them, so neither trust the copy
            # nor keep what it reads (it might roll back).
            return _query_live_versions()
        connection.rules_written = False
    cached = _live_cache
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], cached[2]
    published, candidate = _query_live_versions()
    _live_cache = (time.monotonic() + settings.RULES_LIVE_CACHE_SECONDS, published, candidate)
    return published, candidate


def forget_live_versions():
    """Drop this process's copy of the live versions (the next read queries)."""
    global _live_cache
    _live_cache = None


def _rule_set_changed(sender, using, **kwargs):
    connection = connections[using]
    connection.rules_written = True
    forget_live_versions()
    transaction.on_commit(forget_live_versions, using=using)


post_save.connect(_rule_set_changed, sender=RuleSet, dispatch_uid="rules.live_versions.save")
post_delete.connect(_rule_set_changed, sender=RuleSet, dispatch_uid="rules.live_versions.delete")


def _live_book(choose) -> RuleBook:
    """The frozen rule book of ``choose(published, candidate)``."""
    try:
        return _frozen_rulebook(choose(*_live_versions()).pk)
    except RuleSet.DoesNotExist:
        # The copy named a rule set that is gone (only a flushed test database loses them).
        forget_live_versions()
        return _frozen_rulebook(choose(*_live_versions()).pk)


def active_rulebook() -> RuleBook:
    """The version published for everyone."""
    return _live_book(lambda published, _candidate: published)


def member_context(member) -> MemberContext:
    return MemberContext(tier=member.tier, member_id=member.pk, segment=getattr(member, "segment", ""))


def rulebook_for(member) -> RuleBook:
    """The candidate for members in its gray cohort, the published version for everyone else."""
    context = member_context(member)

    def choose(published, candidate):
        if candidate is not None and in_gray_cohort(
            context, candidate.gray_percent, candidate.gray_tiers, candidate.gray_segments
        ):
            return candidate
        return published

    return _live_book(choose)


def points_worth(book: RuleBook, points: int) -> Decimal:
    """What ``points`` are worth in yuan at the book's redemption rate."""
    return (Decimal(points) / book.redemption_points_per_yuan).quantize(Decimal("0.01"))
