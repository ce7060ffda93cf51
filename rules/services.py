"""Every change to a rule set goes through here, and each writes its history row.

Life cycle: draft -> candidate (gray release) -> published -> retired. Only drafts are edited.
The person who last edited a version cannot release it (gray or publish): four eyes on every
change that reaches members. Transitions lock the live rule sets in id order, so two staff
releasing at once cannot leave two published versions (the partial unique indexes would refuse
it anyway).

Edits. ``is_editable`` is the one rule for whether a rule set may change (``check_editable``
raises ``RuleSetLocked`` with it). The admin and the importers write through ``save_draft`` (the
scalar policies and table rows of one edit, recorded as one history row) and ``save_rows`` (table
rows only, for an importer that records its edit once at the end with ``record_edit``). Each locks
the rule set's row before writing (in id order when several): a release, which locks it too, waits
for the edit to commit and then sees who edited last.

Tiers are rows of each version (``rules.tiers``) and members hold the published version's codes.
A release checks the version's tier table as a whole (an import writes rows past the admin
form's checks), and publishing or rolling back refuses a version that lacks a code members or
products still hold (``TierInUse``, naming the code and the counts): a tier is renamed by
changing its names, keeping its code; a code is dropped once nobody holds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from common import audit
from rules import defaults
from rules import tiers as tier_rules
from rules.errors import InvalidTierTable, InvalidTransition, RuleSetLocked, SameEditor, TierInUse
from rules.models import (
    BehaviourRule,
    CategoryBonus,
    CheckInStep,
    RuleSet,
    RuleSetEvent,
    RuleSetStatus,
    SpendTier,
    TierRule,
)
from rules.segments import Segment

TABLES = (TierRule, CategoryBonus, SpendTier, BehaviourRule, CheckInStep)
# The scalar policies staff edit: never the version, status, release or audit fields.
POLICY_FIELDS = tuple(
    field.name for field in RuleSet._meta.concrete_fields if field.editable and not field.primary_key
)
Action = RuleSetEvent.Action


def _log(rule_set: RuleSet, action: str, actor, detail: str = "") -> None:
    RuleSetEvent.objects.create(rule_set=rule_set, action=action, actor=actor, detail=detail[:255])


def _next_version() -> int:
    return (RuleSet.objects.aggregate(top=Max("version"))["top"] or 0) + 1


def _lock(rule_set: RuleSet) -> RuleSet:
    """Lock every live rule set and this one, in id order, and return this one fresh."""
    ids = set(
        RuleSet.objects.filter(status__in=[RuleSetStatus.PUBLISHED, RuleSetStatus.CANDIDATE])
        .values_list("id", flat=True)
    ) | {rule_set.pk}
    locked = {rs.pk: rs for rs in RuleSet.objects.select_for_update().filter(id__in=ids).order_by("id")}
    return locked[rule_set.pk]


def _check_tiers(rule_set: RuleSet, *, replaces: RuleSet | None = None) -> None:
    """Refuse to release a rule set whose tier table breaks its rules (an import writes rows past
    the admin form's checks), or that would replace ``replaces`` (the published version) while
    dropping a tier code members or products still hold: members carry codes of the published
    set. A tier is renamed by changing its names, which keeps its code."""
    errors = tier_rules.rule_set_table_errors(rule_set)
    if errors:
        raise InvalidTierTable(_("The tiers of v%(version)s: %(errors)s")
                               % {"version": rule_set.version, "errors": " ".join(errors)})
    if replaces is None:
        return
    kept = {info.code for info in tier_rules.tiers_of(rule_set)}
    dropped = [info for info in tier_rules.tiers_of(replaces) if info.code not in kept]
    in_use = tier_rules.usage(info.code for info in dropped)
    if in_use:
        held = "; ".join(
            _("%(code)s (%(name)s): %(holders)s") % {
                "code": info.code, "name": info.label(), "holders": ", ".join(in_use[info.code])}
            for info in dropped if info.code in in_use
        )
        raise TierInUse(
            _("v%(version)s has no tier for codes still in use — %(held)s. Keep the code (rename a "
              "tier by changing its names) or move them to another tier first.")
            % {"version": rule_set.version, "held": held}
        )


def _check_four_eyes(rule_set: RuleSet, actor) -> None:
    if rule_set.updated_by_id is not None and rule_set.updated_by_id == getattr(actor, "pk", None):
        raise SameEditor(
            _("%(actor)s last edited v%(version)s; another person must release it.")
            % {"actor": actor, "version": rule_set.version}
        )


@transaction.atomic
def create_draft(*, actor, name: str, **fields) -> RuleSet:
    """A new, empty draft (staff fill its tables in the admin)."""
    rule_set = RuleSet.objects.create(
        version=_next_version(), name=name, created_by=actor, updated_by=actor, **fields
    )
    _log(rule_set, Action.CREATED, actor)
    return rule_set


@transaction.atomic
def clone_as_draft(source: RuleSet, *, actor) -> RuleSet:
    """Copy a version (scalars and every table) into a new draft to edit."""
    scalars = {
        field.name: getattr(source, field.name)
        for field in RuleSet._meta.concrete_fields
        if field.editable and field.name not in ("id",)
    }
    scalars["name"] = source.name
    clone = RuleSet.objects.create(
        version=_next_version(), cloned_from=source, created_by=actor, updated_by=actor, **scalars
    )
    for table in TABLES:
        rows = []
        for row in table.objects.filter(rule_set=source):
            row.pk = None
            row.rule_set = clone
            rows.append(row)
        table.objects.bulk_create(rows)
    _log(clone, Action.CLONED, actor, f"from v{source.version}")
    return clone


# --------------------------------------------------------------------------- editing drafts


def is_editable(rule_set: RuleSet) -> bool:
    """Whether ``rule_set`` may be edited: only a draft; a released version is cloned instead.
    The admin's permissions ask this; every write checks it with ``check_editable``."""
    return rule_set.status == RuleSetStatus.DRAFT


def check_editable(rule_set: RuleSet) -> RuleSet:
    """``rule_set`` itself if it may be edited (``is_editable``), else ``RuleSetLocked``."""
    if not is_editable(rule_set):
        raise RuleSetLocked(_("v%(version)s is %(status)s; clone it to change it.")
                            % {"version": rule_set.version, "status": rule_set.get_status_display()})
    return rule_set


def lock_for_edit(rule_sets: models.QuerySet[RuleSet]) -> list[RuleSet]:
    """Lock the rows of ``rule_sets`` (FOR UPDATE, in id order) until the transaction ends and
    return them as they are now, editable or not: a release of one of them waits for the commit,
    so ``check_editable`` on what is returned holds until then."""
    return list(rule_sets.select_for_update().order_by("id"))


def _lock_draft(rule_set: RuleSet) -> RuleSet:
    locked = lock_for_edit(RuleSet.objects.filter(pk=rule_set.pk))
    if not locked:
        raise RuleSet.DoesNotExist(f"No rule set {rule_set.pk}.")
    return check_editable(locked[0])


def _write_rows(rule_set: RuleSet, rows: Iterable[models.Model], deleted: Iterable[models.Model]) -> set:
    """Delete ``deleted`` then save ``rows``, all rows of ``rule_set``'s tables; the tables
    touched."""
    touched = set()
    for row, write in [*((row, "delete") for row in deleted), *((row, "save") for row in rows)]:
        if type(row) not in TABLES or row.rule_set_id != rule_set.pk:
            raise ValueError(f"{row!r} is not a row of the tables of v{rule_set.version}.")
        getattr(row, write)()
        touched.add(type(row))
    return touched


@transaction.atomic
def save_rows(rule_set: RuleSet, rows: Iterable[models.Model] = (), *,
              deleted: Iterable[models.Model] = ()) -> None:
    """Save ``rows`` and delete ``deleted``, rows of a draft's tables (already validated), without
    recording an edit: for a caller that records one for many calls (``record_edit``), or whose
    draft was just created (``create_draft`` records that). Raises ``RuleSetLocked`` unless
    ``rule_set`` is a draft, ``ValueError`` for a row of another rule set or not of a table."""
    _write_rows(_lock_draft(rule_set), rows, deleted)


@transaction.atomic
def save_draft(rule_set: RuleSet, *, actor, fields: Mapping[str, Any] | None = None,
               rows: Iterable[models.Model] = (), deleted: Iterable[models.Model] = (),
               detail: str | None = None) -> bool:
    """One edit of a draft, in one transaction: set its scalar ``fields`` (names of
    ``POLICY_FIELDS``, already validated), save ``rows`` and delete ``deleted`` rows of its
    tables, and record the edit (``record_edit``) with ``detail``, by default the names of the
    fields and tables changed. Returns whether anything was written: saving without a change is
    not an edit (it would make the viewer the last editor, who may not release the version).

    ``rule_set`` gets the new field values. Raises ``RuleSetLocked`` unless it is a draft (nothing
    written), ``ValueError`` for another field or a row that is not one of its tables'.
    """
    fields = dict(fields or {})
    unknown = sorted(set(fields) - set(POLICY_FIELDS))
    if unknown:
        raise ValueError(f"Not policy fields of a rule set: {', '.join(unknown)}.")
    locked = _lock_draft(rule_set)
    for name, value in fields.items():
        setattr(locked, name, value)
        setattr(rule_set, name, value)
    if fields:
        locked.save(update_fields=list(fields))
    touched = _write_rows(locked, list(rows), list(deleted))
    if not fields and not touched:
        return False
    if detail is None:
        names = [RuleSet._meta.get_field(name).verbose_name for name in fields]
        names += [table._meta.verbose_name_plural for table in TABLES if table in touched]
        detail = ", ".join(str(name) for name in names)
    record_edit(locked, actor=actor, detail=detail)
    rule_set.updated_by, rule_set.updated_at = locked.updated_by, locked.updated_at
    return True


@transaction.atomic
def record_edit(rule_set: RuleSet, *, actor, detail: str = "") -> None:
    """Record that ``actor`` edited the draft (written by ``save_rows``, or a test): who edited
    last, and when. Raises ``RuleSetLocked`` unless it is a draft."""
    _lock_draft(rule_set)
    now = timezone.now()
    RuleSet.objects.filter(pk=rule_set.pk).update(updated_by=actor, updated_at=now)
    rule_set.updated_by, rule_set.updated_at = actor, now
    _log(rule_set, Action.EDITED, actor, detail)


@transaction.atomic
def start_gray(rule_set: RuleSet, *, actor, percent: int, tiers=(), segments=()) -> RuleSet:
    """Release a draft to ``percent``% of members (stable buckets) and/or the given tiers and RFM
    segments (``rules.segments``; a member's from the last nightly run); or
    widen the running gray release. Narrowing is refused: members would flip between versions
    (stop the release instead)."""
    rule_set = _lock(rule_set)
    if not isinstance(percent, int) or not 0 <= percent <= 100:
        raise InvalidTransition(_("The gray percentage must be a whole number from 0 to 100."))
    tiers = sorted(set(tiers))
    unknown = sorted(set(segments) - set(Segment.values))
    if unknown:
        raise InvalidTransition(_("Not RFM segments: %(codes)s.") % {"codes": ", ".join(unknown)})
    segments = [code for code in Segment.values if code in set(segments)]  # in the segments' order
    if percent == 0 and not tiers and not segments:
        raise InvalidTransition(_("Choose a percentage above 0, at least one tier or one RFM segment."))
    unknown = sorted(set(tiers) - set(tier_rules.tier_codes()))
    if unknown:
        # Members hold codes of the published set: another code would reach no one.
        raise InvalidTransition(_("Not tiers of the published rule set: %(codes)s.")
                                % {"codes": ", ".join(unknown)})
    _check_four_eyes(rule_set, actor)
    _check_tiers(rule_set)
    if rule_set.status == RuleSetStatus.DRAFT:
        if RuleSet.objects.filter(status=RuleSetStatus.CANDIDATE).exists():
            raise InvalidTransition(
                _("Another version is already in gray release; stop or publish it first.")
            )
        action = Action.GRAY_STARTED
    elif rule_set.status == RuleSetStatus.CANDIDATE:
        if (percent < rule_set.gray_percent or not set(rule_set.gray_tiers) <= set(tiers)
                or not set(rule_set.gray_segments) <= set(segments)):
            raise InvalidTransition(_("A gray release can only be widened; stop it to narrow it."))
        action = Action.GRAY_WIDENED
    else:
        raise InvalidTransition(_("v%(version)s is %(status)s.") % {
            "version": rule_set.version, "status": rule_set.get_status_display()})
    before = (rule_set.status, rule_set.gray_percent, list(rule_set.gray_tiers), list(rule_set.gray_segments))
    rule_set.status = RuleSetStatus.CANDIDATE
    rule_set.gray_percent = percent
    rule_set.gray_tiers = tiers
    rule_set.gray_segments = segments
    rule_set.save(update_fields=["status", "gray_percent", "gray_tiers", "gray_segments"])
    cohort = "".join(f" + {', '.join(codes)}" for codes in (tiers, segments) if codes)
    _log(rule_set, action, actor, f"{percent}%{cohort}")
    audit.record("rules.gray_release", rule_set, actor=actor, data={"version": rule_set.version},
                 changes=dict(zip(("status", "gray_percent", "gray_tiers", "gray_segments"), zip(
                     before, (rule_set.status, percent, tiers, segments), strict=True), strict=True)))
    return rule_set


@transaction.atomic
def publish(rule_set: RuleSet, *, actor) -> RuleSet:
    """Make a draft or the gray candidate the version for everyone; the old one is retired.

    Refused (``InvalidTierTable``, ``TierInUse``) when its tier table breaks the table's rules
    or drops a tier code that members or products still hold."""
    rule_set = _lock(rule_set)
    if rule_set.status not in (RuleSetStatus.DRAFT, RuleSetStatus.CANDIDATE):
        raise InvalidTransition(_("v%(version)s is %(status)s.") % {
            "version": rule_set.version, "status": rule_set.get_status_display()})
    _check_four_eyes(rule_set, actor)
    if rule_set.status == RuleSetStatus.DRAFT and RuleSet.objects.filter(
        status=RuleSetStatus.CANDIDATE
    ).exists():
        raise InvalidTransition(_("Another version is in gray release; publish or stop it first."))
    previous = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()
    _check_tiers(rule_set, replaces=previous)
    status_before = rule_set.status
    if previous is not None:
        previous.status = RuleSetStatus.RETIRED
        previous.save(update_fields=["status"])
        _log(previous, Action.RETIRED, actor, f"replaced by v{rule_set.version}")
    rule_set.status = RuleSetStatus.PUBLISHED
    rule_set.gray_percent = 0
    rule_set.gray_tiers = []
    rule_set.gray_segments = []
    rule_set.published_by = actor
    rule_set.published_at = timezone.now()
    rule_set.save(update_fields=["status", "gray_percent", "gray_tiers", "gray_segments", "published_by",
                                 "published_at"])
    _log(rule_set, Action.PUBLISHED, actor,
         f"replacing v{previous.version}" if previous is not None else "")
    audit.record("rules.publish", rule_set, actor=actor, changes={"status": (status_before, rule_set.status)},
                 data={"version": rule_set.version,
                       "replaces": previous.version if previous is not None else None})
    return rule_set


@transaction.atomic
def stop_gray(rule_set: RuleSet, *, actor) -> RuleSet:
    """End a gray release: everyone earns under the published version again."""
    rule_set = _lock(rule_set)
    if rule_set.status != RuleSetStatus.CANDIDATE:
        raise InvalidTransition(_("v%(version)s is not in gray release.") % {"version": rule_set.version})
    rule_set.status = RuleSetStatus.RETIRED
    rule_set.save(update_fields=["status"])
    _log(rule_set, Action.ROLLED_BACK, actor, "gray release stopped")
    audit.record("rules.gray_stop", rule_set, actor=actor, data={"version": rule_set.version},
                 changes={"status": (RuleSetStatus.CANDIDATE, RuleSetStatus.RETIRED)})
    return rule_set


@transaction.atomic
def roll_back(*, actor) -> RuleSet:
    """Re-publish the version that was published before the current one; returns it.

    New events earn under it at once; entries already posted keep the version they recorded.
    Refused (``TierInUse``) when members or products hold a tier code the earlier version lacks.
    """
    current = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()
    if current is None:
        raise InvalidTransition(_("Nothing is published."))
    current = _lock(current)
    if current.status != RuleSetStatus.PUBLISHED:
        # Someone else released or rolled back while we waited for the lock (e.g. a double click):
        # going on would publish a second version.
        raise InvalidTransition(_("v%(version)s is no longer published; reload and try again.")
                                % {"version": current.version})
    previous = (
        RuleSet.objects.select_for_update()
        .filter(status=RuleSetStatus.RETIRED, published_at__isnull=False,
                published_at__lt=current.published_at)
        .order_by("-published_at")
        .first()
    )
    if previous is None:
        raise InvalidTransition(_("There is no earlier published version to roll back to."))
    # Members may have reached a tier only the current version has (e.g. a new 铂金): rolling
    # back past it is refused as publishing is, naming who holds it.
    _check_tiers(previous, replaces=current)
    current.status = RuleSetStatus.RETIRED
    current.save(update_fields=["status"])
    _log(current, Action.ROLLED_BACK, actor, f"rolled back to v{previous.version}")
    previous.status = RuleSetStatus.PUBLISHED
    previous.published_by = actor
    # published_at is kept: it orders the versions' history for the next roll back.
    previous.save(update_fields=["status", "published_by"])
    _log(previous, Action.PUBLISHED, actor, f"restored by roll back from v{current.version}")
    audit.record("rules.rollback", previous, actor=actor,
                 changes={"published_version": (current.version, previous.version)},
                 data={"version": previous.version, "rolled_back": current.version})
    return previous


def roll_back_target() -> RuleSet | None:
    """The version ``roll_back`` would publish again (for the confirmation page; reads only)."""
    current = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()
    if current is None or current.published_at is None:
        return None
    return (
        RuleSet.objects.filter(status=RuleSetStatus.RETIRED, published_at__isnull=False,
                               published_at__lt=current.published_at)
        .order_by("-published_at")
        .first()
    )


def install_defaults() -> RuleSet:
    """Install the default rule set as published (tests that flush the database call this)."""
    existing = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()
    if existing is not None:
        return existing
    import rules.models as models

    return defaults.install(models, version=_next_version(), published_at=timezone.now())
