"""Every change to a reward plan goes through here, and each writes its history row.

Life cycle: draft -> published -> retired; only drafts are edited (a published plan is cloned).
The person who last edited a draft cannot publish it (four eyes). ``validate`` holds the
guardrails (DESIGN.md 3.4): a plan that breaks one cannot be saved or published, whatever form or
import it came from; the database's check constraints hold the same limits once more.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from common import audit
from referrals import rewards
from referrals.errors import PlanInvalid, PlanLocked, PlanSameEditor, PlanTransition
from referrals.models import LEVEL_LIMIT, SHARE_FIELDS, PlanStatus, RewardPlan, RewardPlanEvent, Rotation

Action = RewardPlanEvent.Action
# What staff edit: never the version, status or audit fields.
PLAN_FIELDS = tuple(
    field.name for field in RewardPlan._meta.concrete_fields if field.editable and not field.primary_key
)


def validate(plan: RewardPlan) -> None:
    """Raise ``PlanInvalid`` (with the fields' messages) when ``plan`` breaks a guardrail."""
    errors: dict[str, list[str]] = {}
    for name in SHARE_FIELDS:
        value = getattr(plan, name)
        if value is None or value < 0 or value > 100:
            errors.setdefault(name, []).append(_("A share is 0 to 100%."))
    if not errors and plan.total_share > 100:
        errors.setdefault("direct_share", []).append(
            _("The shares add up to %(total)s%%: together they can be at most 100%% of the budget, "
              "so a plan never pays out more than was funded.") % {"total": f"{plan.total_share:f}"})
    budget = plan.own_order_budget_percent
    if budget is None or not Decimal("0") <= budget <= Decimal("20"):
        errors.setdefault("own_order_budget_percent", []).append(_("The budget of own orders is 0 to 20%."))
    if plan.max_levels is None or not 1 <= plan.max_levels <= LEVEL_LIMIT:
        errors.setdefault("max_levels", []).append(
            _("At most %(limit)s invite levels above the buyer may be paid (禁止传销条例).")
            % {"limit": LEVEL_LIMIT})
    if plan.upgrade_threshold is None or plan.upgrade_threshold < 1:
        errors.setdefault("upgrade_threshold", []).append(_("At least one qualified invitee."))
    for name in ("daily_cap_per_member", "cap_per_order"):
        value = getattr(plan, name)
        if value is not None and value < 1:
            errors.setdefault(name, []).append(_("Leave empty for no cap, or enter at least 1."))
    if errors:
        raise PlanInvalid(_("The plan breaks a guardrail."), fields=errors)


def warnings(plan: RewardPlan) -> list[str]:
    """What staff should read before publishing (shown in the admin), not refusals."""
    result = []
    passes_up = plan.rotation == Rotation.PASS_UP and plan.direct_share > 0
    if plan.max_levels > 1 and (plan.team_share > 0 or plan.same_level_share > 0 or passes_up):
        result.append(_("This plan pays beyond the direct inviter (up to %(levels)s levels). "
                        "Multi-level pay is restricted under China's anti-pyramid rules "
                        "(禁止传销条例): have it reviewed before publishing.") % {"levels": plan.max_levels})
    if plan.repurchase_points == 0:
        result.append(_("Repurchase is off: members can collect rewards without ever buying again."))
    return result


def _log(plan: RewardPlan, action: str, actor, detail: str = "") -> None:
    RewardPlanEvent.objects.create(plan=plan, action=action, actor=actor, detail=detail[:255])


def _next_version() -> int:
    return (RewardPlan.objects.aggregate(top=Max("version"))["top"] or 0) + 1


def _lock_draft(plan: RewardPlan) -> RewardPlan:
    locked = RewardPlan.objects.select_for_update().get(pk=plan.pk)
    if not locked.is_editable:
        raise PlanLocked()
    return locked


@transaction.atomic
def create_draft(*, actor, name: str, **fields) -> RewardPlan:
    plan = RewardPlan(version=_next_version(), name=name, created_by=actor, updated_by=actor, **fields)
    validate(plan)
    plan.save()
    _log(plan, Action.CREATED, actor)
    return plan


@transaction.atomic
def clone_as_draft(source: RewardPlan, *, actor) -> RewardPlan:
    fields = {name: getattr(source, name) for name in PLAN_FIELDS}
    clone = RewardPlan.objects.create(version=_next_version(), created_by=actor, updated_by=actor, **fields)
    _log(clone, Action.CLONED, actor, f"from v{source.version}")
    return clone


@transaction.atomic
def save_draft(plan: RewardPlan, *, actor, fields: Mapping[str, Any]) -> bool:
    """Set ``fields`` (names of ``PLAN_FIELDS``) of a draft and record the edit; returns whether
    anything changed (saving without a change is not an edit: it would make the viewer the last
    editor, who may not publish). Raises ``PlanLocked``, ``PlanInvalid``."""
    unknown = sorted(set(fields) - set(PLAN_FIELDS))
    if unknown:
        raise ValueError(f"Not fields of a reward plan: {', '.join(unknown)}.")
    locked = _lock_draft(plan)
    changed = [name for name, value in fields.items() if getattr(locked, name) != value]
    for name in changed:
        setattr(locked, name, fields[name])
    if not changed:
        return False
    validate(locked)
    locked.updated_by, locked.updated_at = actor, timezone.now()
    locked.save(update_fields=[*changed, "updated_by", "updated_at"])
    for name in [*changed, "updated_by", "updated_at"]:
        setattr(plan, name, getattr(locked, name))
    _log(locked, Action.EDITED, actor,
         ", ".join(str(RewardPlan._meta.get_field(name).verbose_name) for name in changed))
    return True


@transaction.atomic
def publish(plan: RewardPlan, *, actor) -> RewardPlan:
    """Make a draft the plan for every new order; the previous one is retired. Orders already
    rewarded keep the version they were rewarded under."""
    ids = set(RewardPlan.objects.filter(status=PlanStatus.PUBLISHED).values_list("id", flat=True))
    locked = {p.pk: p for p in RewardPlan.objects.select_for_update().filter(id__in=ids | {plan.pk})
              .order_by("id")}
    plan = locked[plan.pk]
    if plan.status != PlanStatus.DRAFT:
        raise PlanTransition(_("v%(version)s is %(status)s.")
                             % {"version": plan.version, "status": plan.get_status_display()})
    if plan.updated_by_id is not None and plan.updated_by_id == getattr(actor, "pk", None):
        raise PlanSameEditor()
    validate(plan)
    previous = RewardPlan.objects.filter(status=PlanStatus.PUBLISHED).first()
    if previous is not None:
        previous.status = PlanStatus.RETIRED
        previous.save(update_fields=["status"])
        _log(previous, Action.RETIRED, actor, f"replaced by v{plan.version}")
    plan.status = PlanStatus.PUBLISHED
    plan.published_by, plan.published_at = actor, timezone.now()
    plan.save(update_fields=["status", "published_by", "published_at"])
    _log(plan, Action.PUBLISHED, actor, f"replacing v{previous.version}" if previous else "")
    audit.record("referrals.plan_publish", plan, actor=actor,
                 changes={"status": (PlanStatus.DRAFT, PlanStatus.PUBLISHED)},
                 data={"version": plan.version, "replaces": previous.version if previous else None})
    return plan


def published_plan() -> RewardPlan | None:
    return RewardPlan.objects.filter(status=PlanStatus.PUBLISHED).first()


@lru_cache(maxsize=32)
def frozen_plan(plan_id: int) -> RewardPlan:
    """A plan that left the draft stage, cached: its terms can no longer change (``save_draft``
    refuses), so every order need not read it again. Keyed by primary key, never reused."""
    return RewardPlan.objects.get(pk=plan_id)


@lru_cache(maxsize=32)
def _terms(plan_id: int) -> rewards.Terms:
    return rewards.Terms.of(frozen_plan(plan_id))


def forget_cached_plans() -> None:
    """Drop the cached plans and terms (a test that edits a published plan in place)."""
    frozen_plan.cache_clear()
    _terms.cache_clear()


def terms_of(plan: RewardPlan) -> rewards.Terms:
    """The plan's terms for ``referrals.rewards``; cached unless it is a draft."""
    return rewards.Terms.of(plan) if plan.is_editable else _terms(plan.pk)


DEFAULT_PLAN = {
    "name": "链动3+1",
    "notes": "Default plan (issue 9): 5% of own orders; direct 30%, team 20%, same level 10%, "
             "buyer 30% and merchant 10% of merchant orders; leader after 3 qualified invitees.",
    "own_order_budget_percent": Decimal("5"),
    "direct_share": Decimal("30"),
    "team_share": Decimal("20"),
    "same_level_share": Decimal("10"),
    "buyer_share": Decimal("30"),
    "merchant_share": Decimal("10"),
    "max_levels": 3,
    "upgrade_threshold": 3,
    "slide_keep": None,
    "repurchase_points": 5000,
    "rotation": "pass_up",
    "excluded_categories": ["package", "membership"],
}


def install_default() -> RewardPlan:
    """Install the default plan as published unless one is (tests that flush the database, and
    the data migration's logic)."""
    existing = published_plan()
    if existing is not None:
        return existing
    return RewardPlan.objects.create(version=_next_version(), status=PlanStatus.PUBLISHED,
                                     published_at=timezone.now(), **DEFAULT_PLAN)
