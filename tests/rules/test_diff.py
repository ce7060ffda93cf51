"""``rules.diff.diff_rule_sets``: a rule set against another, field by field and row by row, with
names rather than codes."""

from decimal import Decimal

import pytest
from django.utils import translation

from rules import services
from rules.diff import ADDED, CHANGED, REMOVED, diff_rule_sets
from rules.models import BehaviourRule, CategoryBonus, RuleSet, RuleSetEvent, SpendTier, TierRule
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def v1():
    return RuleSet.objects.get(version=1)


@pytest.fixture
def draft(v1):
    return services.clone_as_draft(v1, actor=StaffFactory(username="editor"))


def sections_of(old, new):
    return {section.key: section for section in diff_rule_sets(old, new)}


def test_a_clone_differs_in_nothing(v1, draft):
    assert diff_rule_sets(v1, draft) == []


def test_a_changed_field_old_to_new(v1, draft):
    RuleSet.objects.filter(pk=draft.pk).update(pending_days=10, base_points_per_yuan=Decimal("1.5"))
    draft.refresh_from_db()
    with translation.override("en"):
        sections = sections_of(v1, draft)
    assert list(sections) == ["settings"]
    changes = [(c.field, c.label, c.old, c.new) for c in sections["settings"].fields]
    assert changes == [("base_points_per_yuan", "Points per yuan", "1", "1.5"),
                       ("pending_days", "Pending days", "7", "10")]
    assert sections["settings"].rows == ()


def test_rows_added_removed_and_changed_named_by_their_labels(v1, draft):
    TierRule.objects.filter(rule_set=draft, code="gold").update(multiplier=Decimal("2"))
    CategoryBonus.objects.create(rule_set=draft, category="organic", label="有机水果", bonus_percent=20)
    CategoryBonus.objects.filter(rule_set=draft, category="seasonal").delete()
    SpendTier.objects.filter(rule_set=draft, threshold=300).update(bonus_points=60)
    BehaviourRule.objects.filter(rule_set=draft, action="share").update(points=80, daily_limit=None)
    BehaviourRule.objects.filter(rule_set=draft, action="invite").delete()
    draft.check_in_steps.filter(day=7).delete()

    with translation.override("zh-hans"):
        sections = sections_of(v1, draft)
    assert list(sections) == ["tiers", "category_bonuses", "spend_tiers", "behaviours", "check_in_steps"]

    (gold,) = sections["tiers"].rows
    assert (gold.kind, gold.key, gold.name) == (CHANGED, "gold", "金卡会员")
    assert [(c.field, c.old, c.new) for c in gold.changes] == [("multiplier", "1.5", "2")]

    categories = sections["category_bonuses"]
    assert [(row.kind, row.key, row.name) for row in categories.rows] == [
        (ADDED, "organic", "有机水果"), (REMOVED, "seasonal", "应季水果")]
    assert [(c.field, c.old, c.new) for c in categories.added[0].changes] == [
        ("label", "", "有机水果"), ("bonus_percent", "", "20")]
    assert [(c.field, c.old, c.new) for c in categories.removed[0].changes] == [
        ("label", "应季水果", ""), ("bonus_percent", "30", "")]

    (spend,) = sections["spend_tiers"].changed
    assert spend.key == "300" and [(c.old, c.new) for c in spend.changes] == [("40", "60")]

    behaviours = sections["behaviours"]
    assert [(row.kind, row.name) for row in behaviours.rows] == [(REMOVED, "邀请好友"), (CHANGED, "分享")]
    assert [(c.field, c.old, c.new) for c in behaviours.changed[0].changes] == [
        ("points", "50", "80"), ("daily_limit", "3", "-")]

    (day,) = sections["check_in_steps"].rows
    assert (day.kind, day.key) == (REMOVED, "7")


def test_tier_names_follow_the_language(v1, draft):
    TierRule.objects.filter(rule_set=draft, code="silver").update(qualify_points=3000)
    with translation.override("en"):
        (row,) = sections_of(v1, draft)["tiers"].rows
    assert row.name == "Silver"
    with translation.override("zh-hans"):
        (row,) = sections_of(v1, draft)["tiers"].rows
    assert row.name == "银卡会员"


def test_a_label_missing_falls_back_to_the_code(v1, draft):
    CategoryBonus.objects.create(rule_set=draft, category="nuts", label="", bonus_percent=5)
    (row,) = sections_of(v1, draft)["category_bonuses"].rows
    assert (row.kind, row.name) == (ADDED, "nuts")


def test_nothing_published_everything_is_added(draft):
    sections = sections_of(None, draft)
    assert all(change.old == "" for change in sections["settings"].fields)
    assert {row.kind for section in sections.values() for row in section.rows} == {ADDED}
    assert len(sections["tiers"].rows) == 3


def test_the_diff_writes_nothing(v1, draft):
    before = (RuleSet.objects.count(), RuleSetEvent.objects.count())
    diff_rule_sets(v1, draft)
    assert (RuleSet.objects.count(), RuleSetEvent.objects.count()) == before
