"""Gray release: stable buckets, the cohort's share, tiers, and which version a member earns under."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from rules import services
from rules.evaluator import MemberContext, gray_bucket, in_gray_cohort
from rules.models import RuleSet, RuleSetStatus, TierRule
from rules.selectors import rulebook_for
from tests.factories import MemberFactory, StaffFactory

ROOT = Path(__file__).resolve().parents[2]
IDS = range(1, 10_001)


def test_buckets_are_0_to_99_and_stable_across_calls():
    first = [gray_bucket(member_id) for member_id in IDS]
    assert first == [gray_bucket(member_id) for member_id in IDS]
    assert set(first) == set(range(100))


def test_buckets_are_stable_across_processes():
    """Another interpreter, with another hash seed, computes the same buckets (no salted hash())."""
    code = ("import json, sys; from rules.evaluator import gray_bucket; "
            "print(json.dumps([gray_bucket(i) for i in range(1, 10001)]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=True, timeout=60).stdout
    assert json.loads(output) == [gray_bucket(member_id) for member_id in IDS]


@pytest.mark.parametrize("percent", [5, 20, 50])
def test_roughly_percent_of_10000_members_are_in_the_cohort(percent):
    inside = sum(in_gray_cohort(MemberContext(tier="normal", member_id=member_id), percent, ())
                 for member_id in IDS)
    assert abs(inside / len(IDS) * 100 - percent) <= 2


def test_a_wider_release_keeps_the_earlier_cohort():
    for narrow, wide in ((5, 20), (20, 50), (50, 100)):
        early = {i for i in IDS if in_gray_cohort(MemberContext(member_id=i), narrow, ())}
        later = {i for i in IDS if in_gray_cohort(MemberContext(member_id=i), wide, ())}
        assert early < later


def test_0_and_100_percent():
    assert not any(in_gray_cohort(MemberContext(member_id=i), 0, ()) for i in IDS)
    assert all(in_gray_cohort(MemberContext(member_id=i), 100, ()) for i in IDS)


def test_chosen_tiers_are_in_the_cohort_whatever_their_bucket():
    assert all(in_gray_cohort(MemberContext(tier="gold", member_id=i), 0, ["gold"]) for i in range(1, 200))
    assert not any(in_gray_cohort(MemberContext(tier="silver", member_id=i), 0, ["gold"])
                   for i in range(1, 200))
    # Without a member id (e.g. a tier tried in the admin) only the tier can place it in the cohort.
    assert in_gray_cohort(MemberContext(tier="gold"), 50, ["gold"])
    assert not in_gray_cohort(MemberContext(tier="normal"), 99, ["gold"])


# --------------------------------------------------------------------------- rulebook_for


@pytest.fixture
def candidate(db):
    """A draft cloned from the default, gold ×2, edited by one staff member."""
    editor = StaffFactory()
    draft = services.clone_as_draft(RuleSet.objects.get(status=RuleSetStatus.PUBLISHED), actor=editor)
    TierRule.objects.filter(rule_set=draft, code="gold").update(multiplier=Decimal("2"))
    services.record_edit(draft, actor=editor)
    return draft


def members_by_bucket(count=40):
    members = MemberFactory.create_batch(count)
    inside = [m for m in members if gray_bucket(m.pk) < 50]
    outside = [m for m in members if gray_bucket(m.pk) >= 50]
    assert inside and outside  # 40 members all on one side is a 1-in-10^11 event
    return inside, outside


def test_rulebook_for_picks_the_candidate_for_its_percent_cohort(candidate):
    inside, outside = members_by_bucket()
    services.start_gray(candidate, actor=StaffFactory(), percent=50)
    assert {rulebook_for(member).version for member in inside} == {candidate.version}
    assert {rulebook_for(member).version for member in outside} == {1}
    assert rulebook_for(inside[0]).tier_multipliers["gold"] == Decimal("2")
    assert rulebook_for(outside[0]).tier_multipliers["gold"] == Decimal("1.5")


def test_rulebook_for_picks_the_candidate_for_its_tiers(candidate):
    gold = MemberFactory.create_batch(10, tier="gold")
    normal = MemberFactory.create_batch(10, tier="normal")
    services.start_gray(candidate, actor=StaffFactory(), percent=0, tiers=["gold"])
    assert {rulebook_for(member).version for member in gold} == {candidate.version}
    assert {rulebook_for(member).version for member in normal} == {1}


def test_rulebook_for_is_stable_and_follows_widening(candidate):
    inside, outside = members_by_bucket()
    releaser = StaffFactory()
    services.start_gray(candidate, actor=releaser, percent=50)
    before = {member.pk: rulebook_for(member).version for member in inside + outside}
    assert before == {member.pk: rulebook_for(member).version for member in inside + outside}
    services.start_gray(RuleSet.objects.get(pk=candidate.pk), actor=releaser, percent=100)
    assert {rulebook_for(member).version for member in inside + outside} == {candidate.version}


def test_rulebook_for_without_a_candidate_is_the_published_version(candidate):
    member = MemberFactory(tier="gold")
    assert rulebook_for(member).version == 1  # a draft is never used for earning
    releaser = StaffFactory()
    services.start_gray(candidate, actor=releaser, percent=100)
    assert rulebook_for(member).version == candidate.version
    services.stop_gray(RuleSet.objects.get(pk=candidate.pk), actor=releaser)
    assert rulebook_for(member).version == 1


def test_rulebook_for_after_publishing_is_the_new_version_for_everyone(candidate):
    inside, outside = members_by_bucket()
    releaser = StaffFactory()
    services.start_gray(candidate, actor=releaser, percent=50)
    services.publish(RuleSet.objects.get(pk=candidate.pk), actor=releaser)
    assert {rulebook_for(member).version for member in inside + outside} == {candidate.version}
