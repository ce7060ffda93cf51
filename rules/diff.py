"""What a release changes: a rule set against another (usually the published one), field by field
and row by row, for the confirmation pages of the rule-set admin.

:func:`diff_rule_sets` only reads the two rule sets and their tables; it writes nothing. Rows are
matched on their key (a tier's code, a category, a threshold, an action, a streak day) and named
by what an operator reads: the tier's name, the category's and the behaviour's label (the code only
when there is no label).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.text import capfirst
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from rules.models import BehaviourRule, CategoryBonus, CheckInStep, RuleSet, SpendTier, TierRule

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class FieldChange:
    field: str  # the field's name in code
    label: str  # its verbose name
    old: str
    new: str


@dataclass(frozen=True)
class RowChange:
    kind: str  # ADDED, REMOVED or CHANGED
    key: str  # the row's key (a code), for tests and anchors
    name: str  # what the operator reads: a name or label rather than the code
    changes: tuple[FieldChange, ...]  # added: "" → new; removed: old → ""; changed: the fields that differ


@dataclass(frozen=True)
class Section:
    key: str  # "settings" or the table's related name
    title: str
    fields: tuple[FieldChange, ...] = ()
    rows: tuple[RowChange, ...] = ()

    @property
    def added(self) -> tuple[RowChange, ...]:
        return tuple(row for row in self.rows if row.kind == ADDED)

    @property
    def removed(self) -> tuple[RowChange, ...]:
        return tuple(row for row in self.rows if row.kind == REMOVED)

    @property
    def changed(self) -> tuple[RowChange, ...]:
        return tuple(row for row in self.rows if row.kind == CHANGED)


SETTINGS_FIELDS = tuple(
    field.name for field in RuleSet._meta.concrete_fields
    if field.editable and not field.primary_key and field.name not in ("name", "notes")
)


def _english() -> bool:
    return (get_language() or "").startswith("en")


def _tier_row_name(row: TierRule) -> str:
    return (row.name_en if _english() and row.name_en else row.name) or row.code


def _spend_name(row: SpendTier) -> str:
    return _("Orders from %(threshold)s yuan") % {"threshold": _value(row.threshold)}


def _day_name(row: CheckInStep) -> str:
    return _("Streak day %(day)s") % {"day": row.day}


# (related name, model, key of a row, name of a row, compared fields)
TABLES = (
    ("tiers", TierRule, lambda row: row.code, _tier_row_name,
     ("name", "name_en", "rank", "multiplier", "qualify_points")),
    ("category_bonuses", CategoryBonus, lambda row: row.category,
     lambda row: row.label or row.category, ("label", "bonus_percent")),
    ("spend_tiers", SpendTier, lambda row: _value(row.threshold), _spend_name, ("bonus_points",)),
    ("behaviours", BehaviourRule, lambda row: row.action, lambda row: row.label or row.action,
     ("label", "points", "photo_bonus_percent", "daily_limit", "lifetime_limit")),
    ("check_in_steps", CheckInStep, lambda row: str(row.day), _day_name, ("points",)),
)


def _value(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value) or "-"
    return str(value)


def _label(model, name: str) -> str:
    return str(capfirst(model._meta.get_field(name).verbose_name))


def _settings_section(old: RuleSet | None, new: RuleSet) -> Section:
    changes = []
    for name in SETTINGS_FIELDS:
        before = getattr(old, name) if old is not None else None
        after = getattr(new, name)
        if old is None or before != after:
            changes.append(FieldChange(name, _label(RuleSet, name),
                                       _value(before) if old is not None else "", _value(after)))
    return Section("settings", _("Settings"), fields=tuple(changes))


def _rows(rule_set: RuleSet | None, related: str, key) -> dict:
    if rule_set is None:
        return {}
    return {key(row): row for row in getattr(rule_set, related).all()}


def _table_section(old, new, related, model, key, name, fields) -> Section:
    before, after = _rows(old, related, key), _rows(new, related, key)
    rows = []
    for row_key, row in after.items():
        if row_key not in before:
            rows.append(RowChange(ADDED, row_key, name(row), tuple(
                FieldChange(field, _label(model, field), "", _value(getattr(row, field)))
                for field in fields
            )))
    for row_key, row in before.items():
        if row_key not in after:
            rows.append(RowChange(REMOVED, row_key, name(row), tuple(
                FieldChange(field, _label(model, field), _value(getattr(row, field)), "")
                for field in fields
            )))
    for row_key, row in after.items():
        was = before.get(row_key)
        if was is None:
            continue
        changes = tuple(
            FieldChange(field, _label(model, field), _value(getattr(was, field)), _value(getattr(row, field)))
            for field in fields if getattr(was, field) != getattr(row, field)
        )
        if changes:
            rows.append(RowChange(CHANGED, row_key, name(row), changes))
    return Section(related, str(capfirst(model._meta.verbose_name_plural)), rows=tuple(rows))


def diff_rule_sets(old: RuleSet | None, new: RuleSet) -> list[Section]:
    """The sections that differ from ``old`` to ``new``: the settings (fields old → new) and each
    rule table (rows added, removed and changed with old → new values). ``old`` may be ``None``
    (nothing published): everything is added. Sections without a change are left out."""
    sections = [_settings_section(old, new)]
    for related, model, key, name, fields in TABLES:
        sections.append(_table_section(old, new, related, model, key, name, fields))
    return [section for section in sections if section.fields or section.rows]
