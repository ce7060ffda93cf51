"""The codes an operator picks from lists instead of typing them: tiers, order-line categories
and behaviour actions, each shown by its name with the code in brackets.

The known codes of a kind are those of the rule set being edited or tried and of the published
one (a draft may add a category the published version does not have yet); the names are the
tables' own (a tier's name, a category bonus's or a behaviour's label), the published set's
first.
"""

from __future__ import annotations

from rules.models import BehaviourRule, CategoryBonus, RuleSet, RuleSetStatus
from rules.tiers import published_tiers, tiers_of


def _label(name: str, code: str) -> str:
    return f"{name} ({code})" if name and name != code else code


def _rule_sets(rule_set: RuleSet | None) -> list[int]:
    ids = list(RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).values_list("pk", flat=True))
    if rule_set is not None and rule_set.pk is not None and rule_set.pk not in ids:
        ids.append(rule_set.pk)
    return ids


def _coded(model, field: str, rule_set: RuleSet | None) -> list[tuple[str, str]]:
    names: dict[str, str] = {}
    ids = _rule_sets(rule_set)
    # The published set's labels first (ids[0]), then the draft's for codes it adds.
    rows = sorted(model.objects.filter(rule_set_id__in=ids).values_list("rule_set_id", field, "label"),
                  key=lambda row: (ids.index(row[0]), row[1]))
    for _rule_set, code, label in rows:
        if not names.get(code):
            names[code] = label
    return sorted(((code, _label(label, code)) for code, label in names.items()), key=lambda c: c[0])


def category_choices(rule_set: RuleSet | None = None) -> list[tuple[str, str]]:
    """``(code, "进口水果 (imported)")`` for the categories with a bonus in ``rule_set`` or the
    published version."""
    return _coded(CategoryBonus, "category", rule_set)


def action_choices(rule_set: RuleSet | None = None) -> list[tuple[str, str]]:
    """``(code, "评价 (review)")`` for the behaviour actions of ``rule_set`` or the published
    version."""
    return _coded(BehaviourRule, "action", rule_set)


def tier_choices(rule_set: RuleSet | None = None) -> list[tuple[str, str]]:
    """``(code, "金卡会员 (gold)")`` for the published tiers and those of ``rule_set``, lowest
    rank first."""
    table = {info.code: info for info in published_tiers()}
    if rule_set is not None and rule_set.pk is not None:
        for info in tiers_of(rule_set):
            table.setdefault(info.code, info)
    return [(info.code, _label(info.label(), info.code))
            for info in sorted(table.values(), key=lambda info: info.rank)]


def tier_label(code: str, rule_set: RuleSet | None = None) -> str:
    """The name of tier ``code`` (the published one's, else ``rule_set``'s); the code if none."""
    for info in (*published_tiers(), *(tiers_of(rule_set) if rule_set is not None else ())):
        if info.code == code:
            return info.label()
    return code
