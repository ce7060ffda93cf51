"""Gray release by RFM segment beside tiers: the evaluator's cohort check, ``rulebook_for``, the
service's widening rule, and the admin form and confirmation page's cohort size and cost."""

from decimal import Decimal

import pytest

from rules import services
from rules.errors import InvalidTransition
from rules.evaluator import MemberContext, Order, OrderLine, gray_bucket, in_gray_cohort
from rules.models import RuleSet, RuleSetStatus
from rules.segments import Segment
from rules.selectors import rulebook_for
from rules.simulation import PaidOrder, cohort_size
from tests.factories import MemberFactory, StaffFactory
from tests.rules.test_admin import as_user, messages_of
from tests.rules.test_gray import candidate  # noqa: F401 (fixture)
from tests.rules.test_publish_confirm import (  # noqa: F401 (fixtures)
    draft,
    editor,
    gray_url,
    members,
    paid_orders,
    publisher,
    v1,
)

pytestmark = pytest.mark.django_db


def test_chosen_segments_are_in_the_cohort_whatever_their_bucket():
    ids = range(1, 300)
    assert all(in_gray_cohort(MemberContext(member_id=i, segment="important_value"), 0, (),
                              ["important_value"]) for i in ids)
    assert not any(in_gray_cohort(MemberContext(member_id=i, segment="general_value"), 0, (),
                                  ["important_value"]) for i in ids)
    # An unscored member ("") is never in a segment cohort.
    assert not in_gray_cohort(MemberContext(member_id=1, segment=""), 0, (), [""])


def test_rulebook_for_picks_the_candidate_for_its_segments(candidate):  # noqa: F811
    valuable = MemberFactory.create_batch(5, segment=Segment.IMPORTANT_VALUE)
    others = MemberFactory.create_batch(5, segment=Segment.GENERAL_RETAIN) + MemberFactory.create_batch(3)
    services.start_gray(candidate, actor=StaffFactory(), percent=0, segments=["important_value"])
    assert {rulebook_for(member).version for member in valuable} == {candidate.version}
    assert {rulebook_for(member).version for member in others} == {1}


def test_segments_can_only_be_widened_and_must_exist(candidate):  # noqa: F811
    releaser = StaffFactory()
    with pytest.raises(InvalidTransition):
        services.start_gray(candidate, actor=releaser, percent=0, segments=["vip"])
    services.start_gray(candidate, actor=releaser, percent=0,
                        segments=["important_value", "important_keep"])
    running = RuleSet.objects.get(pk=candidate.pk)
    # Stored in the segments' own order.
    assert running.gray_segments == ["important_value", "important_keep"]
    with pytest.raises(InvalidTransition):
        services.start_gray(running, actor=releaser, percent=10, segments=["important_value"])
    services.start_gray(running, actor=releaser, percent=10,
                        segments=["general_value", "important_keep", "important_value"])
    assert RuleSet.objects.get(pk=candidate.pk).gray_segments == [
        "important_value", "important_keep", "general_value"]
    services.publish(RuleSet.objects.get(pk=candidate.pk), actor=releaser)
    assert RuleSet.objects.get(pk=candidate.pk).gray_segments == []


def test_the_gray_form_confirms_with_the_segments_cohort_and_cost(client, publisher, draft, members,  # noqa: F811
                                                                   paid_orders):  # noqa: F811
    valuable = [MemberFactory(segment=Segment.IMPORTANT_VALUE) for _ in range(3)]
    members[1].segment = Segment.IMPORTANT_VALUE
    members[1].save(update_fields=["segment"])
    # One more 50-yuan order, by a member of the segment: the cohort's cost counts only it when
    # members[0] (the fixture's order) is outside the buckets.
    paid_orders.append(PaidOrder(valuable[0].pk, "normal",
                                 Order(Decimal("50.00"), (OrderLine("pear", Decimal("50.00")),))))
    everyone = members + valuable
    percent = 10
    expected = sum(1 for m in everyone if m.segment == "important_value" or gray_bucket(m.pk) < percent)
    client = as_user(client, publisher)
    page = client.get(gray_url(draft)).content.decode()
    assert 'type="checkbox" name="segments" value="important_value"' in page
    response = client.post(gray_url(draft), {"percent": str(percent), "segments": ["important_value"]})
    assert response.status_code == 200
    body = response.content.decode()
    assert response.context["cohort"]["members"] == expected
    assert cohort_size(percent, (), ["important_value"])[0] == expected
    assert f"{expected} of {len(everyone)} members ({percent}% of the buckets) + Important value." in body
    assert '<input type="hidden" name="segments" value="important_value">' in body
    cost = response.context["cost"]
    in_buckets = gray_bucket(members[0].pk) < percent
    # v2 earns 2 points per yuan: 100 against 50 per order in the cohort.
    assert (cost.orders, cost.old_points, cost.new_points) == ((2, 100, 200) if in_buckets else (1, 50, 100))
    response = client.post(gray_url(draft), {"percent": str(percent), "segments": ["important_value"],
                                             "confirm": "1"}, follow=True)
    assert messages_of(response) == [f"v2 is in gray release: {percent}% of members + Important value."]
    draft.refresh_from_db()
    assert (draft.status, draft.gray_percent, draft.gray_tiers, draft.gray_segments) == (
        RuleSetStatus.CANDIDATE, percent, [], ["important_value"])
    # Widening must keep the segment.
    response = client.post(gray_url(draft), {"percent": "20"})
    assert response.status_code == 200 and "RFM segments it already has" in response.content.decode()


def test_segments_alone_are_a_cohort_but_nothing_ticked_is_refused(client, publisher, draft):  # noqa: F811
    client = as_user(client, publisher)
    response = client.post(gray_url(draft), {"percent": "0"})
    assert "Choose a percentage above 0, at least one tier or one RFM segment." in response.content.decode()
    response = client.post(gray_url(draft), {"percent": "0", "segments": ["general_retain"]})
    assert response.context["cohort"]["members"] == 0
