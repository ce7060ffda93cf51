"""The rule-set life cycle in rules.services: draft -> candidate -> published -> retired, with a
history row for every step and the four-eyes rule on every release."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict

from rules import services
from rules.errors import InvalidTransition, RuleSetLocked, SameEditor
from rules.models import RuleSet, RuleSetEvent, RuleSetStatus
from rules.selectors import rulebook_for
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

Action = RuleSetEvent.Action


@pytest.fixture
def editor():
    return StaffFactory(username="editor")


@pytest.fixture
def publisher():
    return StaffFactory(username="publisher")


@pytest.fixture
def v1():
    return RuleSet.objects.get(version=1)


@pytest.fixture
def draft(v1, editor):
    """v2, cloned from the default rule set and edited by ``editor``."""
    clone = services.clone_as_draft(v1, actor=editor)
    services.record_edit(clone, actor=editor, detail="tweaks")
    return clone


def table_rows(rule_set):
    """Every table of a rule set as comparable tuples, without ids."""
    return {
        table.__name__: sorted(
            tuple(sorted((k, v) for k, v in model_to_dict(row, exclude=["id", "rule_set"]).items()))
            for row in table.objects.filter(rule_set=rule_set)
        )
        for table in services.TABLES
    }


def history(rule_set):
    return list(
        RuleSetEvent.objects.filter(rule_set=rule_set).order_by("id").values_list("action", "actor__username",
                                                                                   "detail")
    )


def state(*rule_sets):
    return [
        (rs.version, rs.status, rs.gray_percent, rs.gray_tiers, rs.published_by_id)
        for rs in RuleSet.objects.filter(pk__in=[r.pk for r in rule_sets]).order_by("version")
    ]


def test_create_draft_takes_the_next_version_and_writes_history(editor):
    draft = services.create_draft(actor=editor, name="Summer", pending_days=10)
    draft.refresh_from_db()
    assert (draft.version, draft.status, draft.pending_days) == (2, RuleSetStatus.DRAFT, 10)
    assert (draft.created_by, draft.updated_by) == (editor, editor)
    assert history(draft) == [(Action.CREATED, "editor", "")]


def test_clone_copies_the_scalars_and_every_table(v1, editor):
    clone = services.clone_as_draft(v1, actor=editor)
    clone.refresh_from_db()
    assert (clone.version, clone.status, clone.cloned_from, clone.created_by, clone.updated_by) == (
        2, RuleSetStatus.DRAFT, v1, editor, editor
    )
    scalars = [f.name for f in RuleSet._meta.concrete_fields if f.editable and not f.primary_key]
    assert {name: getattr(clone, name) for name in scalars} == {name: getattr(v1, name) for name in scalars}
    copied = table_rows(clone)
    assert copied == table_rows(v1)
    assert [len(copied[name]) for name in ("TierRule", "CategoryBonus", "SpendTier", "BehaviourRule",
                                           "CheckInStep")] == [3, 2, 2, 5, 7]
    assert history(clone) == [(Action.CLONED, "editor", "from v1")]
    # The source is untouched.
    assert v1.tiers.count() == 3 and history(v1) == []


def test_start_gray_then_widen(draft, publisher):
    services.start_gray(draft, actor=publisher, percent=10, tiers=["gold"])
    assert state(draft) == [(2, RuleSetStatus.CANDIDATE, 10, ["gold"], None)]
    services.start_gray(draft, actor=publisher, percent=30, tiers=["silver", "gold"])
    assert state(draft) == [(2, RuleSetStatus.CANDIDATE, 30, ["gold", "silver"], None)]
    assert history(draft)[-2:] == [
        (Action.GRAY_STARTED, "publisher", "10% + gold"),
        (Action.GRAY_WIDENED, "publisher", "30% + gold, silver"),
    ]


def test_the_gray_cohort_earns_under_the_candidate(draft, publisher):
    services.start_gray(draft, actor=publisher, percent=0, tiers=["gold"])
    assert rulebook_for(MemberFactory(tier="gold")).version == 2
    assert rulebook_for(MemberFactory(tier="silver")).version == 1


@pytest.mark.parametrize(("percent", "tiers"), [(20, ["gold", "silver"]), (40, ["silver"]), (40, [])])
def test_a_gray_release_cannot_be_narrowed(draft, publisher, percent, tiers):
    services.start_gray(draft, actor=publisher, percent=30, tiers=["gold"])
    events = RuleSetEvent.objects.count()
    with pytest.raises(InvalidTransition, match="only be widened"):
        services.start_gray(draft, actor=publisher, percent=percent, tiers=tiers)
    assert state(draft) == [(2, RuleSetStatus.CANDIDATE, 30, ["gold"], None)]
    assert RuleSetEvent.objects.count() == events


@pytest.mark.parametrize(("percent", "tiers"), [(101, []), (-1, []), ("10", []), (0, [])])
def test_start_gray_refuses_a_bad_cohort(draft, publisher, percent, tiers):
    with pytest.raises(InvalidTransition):
        services.start_gray(draft, actor=publisher, percent=percent, tiers=tiers)
    assert state(draft) == [(2, RuleSetStatus.DRAFT, 0, [], None)]


def test_only_one_candidate_at_a_time(v1, draft, editor, publisher):
    services.start_gray(draft, actor=publisher, percent=10)
    other = services.clone_as_draft(v1, actor=editor)
    with pytest.raises(InvalidTransition, match="already in gray release"):
        services.start_gray(other, actor=publisher, percent=5)
    with pytest.raises(InvalidTransition, match="in gray release"):
        services.publish(other, actor=publisher)
    assert state(draft, other) == [
        (2, RuleSetStatus.CANDIDATE, 10, [], None), (3, RuleSetStatus.DRAFT, 0, [], None)
    ]


def test_publish_retires_the_old_version(v1, draft, publisher):
    services.start_gray(draft, actor=publisher, percent=50, tiers=["gold"])
    services.publish(draft, actor=publisher)
    assert state(v1, draft) == [
        (1, RuleSetStatus.RETIRED, 0, [], None),
        (2, RuleSetStatus.PUBLISHED, 0, [], publisher.pk),
    ]
    draft.refresh_from_db()
    assert draft.published_at is not None
    assert history(v1) == [(Action.RETIRED, "publisher", "replaced by v2")]
    assert history(draft)[-1] == (Action.PUBLISHED, "publisher", "replacing v1")
    assert RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).count() == 1


def test_publish_refuses_a_retired_or_published_version(v1, draft, publisher):
    with pytest.raises(InvalidTransition):
        services.publish(v1, actor=publisher)
    services.publish(draft, actor=publisher)
    v1.refresh_from_db()
    with pytest.raises(InvalidTransition):
        services.publish(v1, actor=publisher)
    assert state(v1, draft) == [(1, RuleSetStatus.RETIRED, 0, [], None),
                                (2, RuleSetStatus.PUBLISHED, 0, [], publisher.pk)]


def test_stop_gray_retires_the_candidate(v1, draft, publisher):
    services.start_gray(draft, actor=publisher, percent=10)
    services.stop_gray(draft, actor=publisher)
    assert state(v1, draft) == [(1, RuleSetStatus.PUBLISHED, 0, [], None),
                                (2, RuleSetStatus.RETIRED, 10, [], None)]
    assert history(draft)[-1] == (Action.ROLLED_BACK, "publisher", "gray release stopped")
    assert rulebook_for(MemberFactory(tier="gold")).version == 1
    with pytest.raises(InvalidTransition, match="not in gray release"):
        services.stop_gray(v1, actor=publisher)


def test_roll_back_restores_the_previous_published_version(v1, draft, publisher):
    v1.refresh_from_db()
    first_published_at = v1.published_at
    services.publish(draft, actor=publisher)
    restored = services.roll_back(actor=publisher)
    assert restored == v1
    assert state(v1, draft) == [(1, RuleSetStatus.PUBLISHED, 0, [], publisher.pk),
                                (2, RuleSetStatus.RETIRED, 0, [], publisher.pk)]
    v1.refresh_from_db()
    assert v1.published_at == first_published_at
    assert history(draft)[-1] == (Action.ROLLED_BACK, "publisher", "rolled back to v1")
    assert history(v1)[-1] == (Action.PUBLISHED, "publisher", "restored by roll back from v2")
    assert rulebook_for(MemberFactory()).version == 1
    # v1 is the earliest: rolling back again does not flip back to v2.
    with pytest.raises(InvalidTransition, match="no earlier published version"):
        services.roll_back(actor=publisher)
    assert state(v1, draft)[0][1] == RuleSetStatus.PUBLISHED


def test_roll_back_with_nothing_earlier_is_refused(v1, publisher):
    with pytest.raises(InvalidTransition):
        services.roll_back(actor=publisher)
    assert state(v1) == [(1, RuleSetStatus.PUBLISHED, 0, [], None)]


@pytest.mark.parametrize("release", ["gray", "publish"])
def test_the_last_editor_cannot_release(draft, editor, release):
    events = RuleSetEvent.objects.count()
    with pytest.raises(SameEditor, match="another person must release it"):
        if release == "gray":
            services.start_gray(draft, actor=editor, percent=10)
        else:
            services.publish(draft, actor=editor)
    assert state(draft) == [(2, RuleSetStatus.DRAFT, 0, [], None)]
    assert RuleSetEvent.objects.count() == events


def test_the_four_eyes_rule_follows_the_last_edit(draft, editor, publisher):
    services.record_edit(draft, actor=publisher, detail="one more change")
    with pytest.raises(SameEditor):
        services.publish(draft, actor=publisher)
    services.publish(draft, actor=editor)
    assert state(draft) == [(2, RuleSetStatus.PUBLISHED, 0, [], editor.pk)]


def test_record_edit_stamps_the_editor(v1, editor, publisher):
    clone = services.clone_as_draft(v1, actor=editor)
    services.record_edit(clone, actor=publisher, detail="pending days")
    clone.refresh_from_db()
    assert clone.updated_by == publisher
    assert history(clone)[-1] == (Action.EDITED, "publisher", "pending days")


@pytest.mark.parametrize("status", [RuleSetStatus.PUBLISHED, RuleSetStatus.CANDIDATE, RuleSetStatus.RETIRED])
def test_only_drafts_can_be_edited(v1, draft, publisher, status):
    if status == RuleSetStatus.PUBLISHED:
        target = v1
    else:
        services.start_gray(draft, actor=publisher, percent=10)
        if status == RuleSetStatus.RETIRED:
            services.stop_gray(draft, actor=publisher)
        target = RuleSet.objects.get(pk=draft.pk)
    events = RuleSetEvent.objects.count()
    with pytest.raises(RuleSetLocked):
        services.record_edit(target, actor=publisher)
    assert RuleSetEvent.objects.count() == events
    assert RuleSet.objects.get(pk=target.pk).updated_by_id == target.updated_by_id


def test_a_clone_of_a_published_version_is_independent(v1, editor):
    clone = services.clone_as_draft(v1, actor=editor)
    clone.spend_tiers.filter(threshold=Decimal("300")).update(bonus_points=60)
    assert v1.spend_tiers.get(threshold=Decimal("300")).bonus_points == 40


@pytest.mark.django_db(transaction=True)
def test_a_roll_back_waiting_for_another_one_is_refused_not_doubled():
    editor, publisher = StaffFactory(username="editor"), StaffFactory(username="publisher")
    first = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    for _ in range(2):
        services.publish(services.clone_as_draft(first, actor=editor), actor=publisher)
    errors = []

    def second_roll_back():
        try:
            services.roll_back(actor=publisher)
        except Exception as error:  # noqa: BLE001 - the test reports whatever happened
            errors.append(error)
        finally:
            connection.close()

    with transaction.atomic():
        services.roll_back(actor=publisher)  # holds the locks until this block commits
        other = threading.Thread(target=second_roll_back)
        other.start()
        time.sleep(0.5)  # the other call has read the old published version and waits for its lock
    other.join(10)
    assert [type(error) for error in errors] == [InvalidTransition]
    published = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED)
    assert [rule_set.version for rule_set in published] == [first.version + 1]
