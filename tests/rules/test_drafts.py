"""Editing a draft through rules.services (issue 8 §5): one rule for what is editable, and the
writes the admin and the importers share — save_draft (fields and rows, one history row),
save_rows (rows only) and record_edit."""

from decimal import Decimal

import pytest
from django.utils import translation

from rules import services
from rules.errors import RuleSetLocked
from rules.models import CategoryBonus, RuleSet, RuleSetEvent, RuleSetStatus, SpendTier
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

Action = RuleSetEvent.Action


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def editor():
    return StaffFactory(username="editor")


@pytest.fixture
def v1():
    return RuleSet.objects.get(version=1)


@pytest.fixture
def draft(v1):
    """v2, cloned from the default rule set by someone else."""
    return services.clone_as_draft(v1, actor=StaffFactory(username="author"))


def history(rule_set):
    return list(RuleSetEvent.objects.filter(rule_set=rule_set).order_by("id")
                .values_list("action", "actor__username", "detail"))


def state(rule_set):
    """The draft's scalars, spend tiers, category bonuses and history, as stored."""
    fresh = RuleSet.objects.get(pk=rule_set.pk)
    return (
        (fresh.pending_days, fresh.expiry_months, fresh.status, fresh.updated_by_id),
        sorted(fresh.spend_tiers.values_list("threshold", "bonus_points")),
        sorted(fresh.category_bonuses.values_list("category", "bonus_percent")),
        history(fresh),
    )


# --------------------------------------------------------------------------- what is editable


@pytest.mark.parametrize(("status", "editable"), [
    (RuleSetStatus.DRAFT, True),
    (RuleSetStatus.CANDIDATE, False),
    (RuleSetStatus.PUBLISHED, False),
    (RuleSetStatus.RETIRED, False),
])
def test_only_a_draft_is_editable(status, editable):
    rule_set = RuleSet(version=7, name="x", status=status)

    assert services.is_editable(rule_set) is editable
    if editable:
        assert services.check_editable(rule_set) is rule_set
    else:
        with pytest.raises(RuleSetLocked) as refused:
            services.check_editable(rule_set)
        assert refused.value.code == "rule_set_locked"
        assert refused.value.message == (
            f"v7 is {RuleSetStatus(status).label}; clone it to change it.")


# --------------------------------------------------------------------------- save_draft


def test_save_draft_writes_fields_and_rows_and_records_one_edit(draft, editor):
    low = draft.spend_tiers.get(threshold=Decimal("100"))
    high = draft.spend_tiers.get(threshold=Decimal("300"))
    high.bonus_points = 45
    gift = CategoryBonus(rule_set=draft, category="gift", label="礼盒", bonus_percent=Decimal("20"))

    written = services.save_draft(draft, actor=editor, fields={"pending_days": 10, "expiry_months": 6},
                                  rows=[high, gift], deleted=[low])

    assert written is True
    assert state(draft) == (
        (10, 6, RuleSetStatus.DRAFT, editor.pk),
        [(Decimal("300.00"), 45)],
        sorted([*RuleSet.objects.get(version=1).category_bonuses.values_list("category", "bonus_percent"),
                ("gift", Decimal("20.00"))]),
        [(Action.CLONED, "author", "from v1"),
         (Action.EDITED, "editor", "pending days, validity in months, category bonuses, spend tiers")],
    )
    assert (draft.pending_days, draft.expiry_months, draft.updated_by) == (10, 6, editor)


def test_save_draft_takes_the_callers_detail(draft, editor):
    services.save_draft(draft, actor=editor, fields={"pending_days": 3}, detail="by hand")

    assert history(draft)[-1] == (Action.EDITED, "editor", "by hand")


def test_save_draft_without_a_change_is_not_an_edit(draft, editor):
    before = state(draft)

    assert services.save_draft(draft, actor=editor, fields={}, rows=[], deleted=[]) is False
    assert state(draft) == before


def test_save_draft_refuses_a_released_version_with_nothing_written(v1, editor):
    before = state(v1)
    row = v1.spend_tiers.get(threshold=Decimal("300"))
    row.bonus_points = 99

    with pytest.raises(RuleSetLocked) as refused:
        services.save_draft(v1, actor=editor, fields={"pending_days": 30}, rows=[row])

    assert refused.value.message == "v1 is Published; clone it to change it."
    assert state(v1) == before


def test_save_draft_reads_the_status_from_the_database_not_the_callers_object(draft, editor):
    stale = RuleSet.objects.get(pk=draft.pk)
    services.publish(draft, actor=editor)  # released meanwhile (the clone is by "author")
    before = state(draft)

    with pytest.raises(RuleSetLocked):
        services.save_draft(stale, actor=editor, fields={"pending_days": 30})

    assert state(draft) == before


@pytest.mark.parametrize("fields", [{"status": RuleSetStatus.PUBLISHED}, {"version": 9},
                                    {"updated_by": None}, {"nonsense": 1}])
def test_save_draft_writes_only_policy_fields(draft, editor, fields):
    before = state(draft)

    with pytest.raises(ValueError, match="Not policy fields of a rule set"):
        services.save_draft(draft, actor=editor, fields=fields)

    assert state(draft) == before


def test_save_draft_refuses_a_row_of_another_rule_set_and_writes_nothing(draft, v1, editor):
    before, before_v1 = state(draft), state(v1)
    foreign = v1.spend_tiers.get(threshold=Decimal("300"))
    foreign.bonus_points = 99

    with pytest.raises(ValueError, match="is not a row of the tables of v2"):
        services.save_draft(draft, actor=editor, fields={"pending_days": 30}, rows=[foreign])

    assert (state(draft), state(v1)) == (before, before_v1)


def test_save_draft_refuses_a_row_that_is_not_of_a_rule_table(draft, editor):
    with pytest.raises(ValueError, match="is not a row of the tables of v2"):
        services.save_draft(draft, actor=editor, rows=[editor])


# --------------------------------------------------------------------------- save_rows, record_edit


def test_save_rows_writes_rows_without_recording_an_edit(draft):
    before = history(draft)

    services.save_rows(draft, [SpendTier(rule_set=draft, threshold=Decimal("500"), bonus_points=80)])

    assert sorted(draft.spend_tiers.values_list("threshold", "bonus_points")) == [
        (Decimal("100.00"), 10), (Decimal("300.00"), 40), (Decimal("500.00"), 80)]
    assert history(draft) == before


def test_save_rows_refuses_a_released_version(v1):
    before = state(v1)

    with pytest.raises(RuleSetLocked):
        services.save_rows(v1, [SpendTier(rule_set=v1, threshold=Decimal("500"), bonus_points=80)])

    assert state(v1) == before


def test_record_edit_reads_the_status_from_the_database(draft, editor):
    stale = RuleSet.objects.get(pk=draft.pk)
    services.publish(draft, actor=editor)
    before = state(draft)

    with pytest.raises(RuleSetLocked):
        services.record_edit(stale, actor=editor, detail="late")

    assert state(draft) == before


def test_lock_for_edit_returns_the_rule_sets_as_stored_in_id_order(v1, draft):
    RuleSet.objects.filter(pk=draft.pk).update(name="renamed")

    locked = services.lock_for_edit(RuleSet.objects.filter(version__in=[2, 1]).order_by("-id"))

    assert [(rule_set.pk, rule_set.name) for rule_set in locked] == [(v1.pk, v1.name), (draft.pk, "renamed")]
