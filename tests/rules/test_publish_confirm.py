"""The rule-set admin's confirmation pages: publishing, starting or widening a gray release,
stopping it and rolling back each show what changes (the diff against the published version), the
simulated cost over the last 30 days and the members concerned; a GET changes nothing, the POST
with the confirm button does it once, and the four-eyes rule still holds."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from rules import services
from rules.evaluator import Order, OrderLine, gray_bucket
from rules.models import RuleSet, RuleSetEvent, RuleSetStatus, TierRule
from rules.simulation import PaidOrder, cohort_size
from tests.factories import MemberFactory
from tests.rules.test_admin import (
    EDITOR_GROUP,
    PUBLISHER_GROUP,
    as_user,
    change_url,
    messages_of,
    run_action,
    snapshot,
    staff_in,
)

pytestmark = pytest.mark.django_db

Action = RuleSetEvent.Action
ORDERS = []  # what the fake order source returns


def fake_paid_orders(*, since, until):
    return iter(ORDERS)


@pytest.fixture(autouse=True)
def paid_orders(settings):
    settings.RULES_PAID_ORDERS = "tests.rules.test_publish_confirm.fake_paid_orders"
    ORDERS.clear()
    yield ORDERS
    ORDERS.clear()


@pytest.fixture
def members():
    return [MemberFactory() for _ in range(20)]


@pytest.fixture
def editor():
    return staff_in(EDITOR_GROUP, "editor")


@pytest.fixture
def publisher():
    return staff_in(PUBLISHER_GROUP, "publisher")


@pytest.fixture
def v1():
    return RuleSet.objects.get(version=1)


@pytest.fixture
def draft(v1, editor, members, paid_orders):
    """v2 earns 2 points per yuan and 2× for gold; one 50-yuan order: 50 points under v1, 100 under v2."""
    draft = services.clone_as_draft(v1, actor=editor)
    gold = TierRule.objects.get(rule_set=draft, code="gold")
    gold.multiplier = Decimal("2")
    services.save_draft(draft, actor=editor, fields={"base_points_per_yuan": Decimal("2")}, rows=[gold])
    paid_orders.append(PaidOrder(members[0].pk, "normal",
                                 Order(Decimal("50.00"), (OrderLine("apple", Decimal("50.00")),))))
    return RuleSet.objects.get(pk=draft.pk)


def release_url(rule_set, operation):
    return reverse("admin:rules_ruleset_release", args=[rule_set.pk, operation])


def gray_url(rule_set):
    return reverse("admin:rules_ruleset_gray_release", args=[rule_set.pk])


def expected_cohort(members, percent, tiers=()):
    return sum(1 for member in members if member.tier in tiers or gray_bucket(member.pk) < percent)


def events_of(rule_set, action):
    return RuleSetEvent.objects.filter(rule_set=rule_set, action=action).count()


def assert_shows_what_changes(body):
    assert 'id="diff-settings"' in body and "Points per yuan" in body
    assert 'id="diff-tiers"' in body and "Gold (changed)" in body and "Multiplier" in body


def test_publish_shows_the_confirmation_page_and_get_changes_nothing(client, publisher, draft, members):
    client = as_user(client, publisher)
    before = snapshot(draft), snapshot(RuleSet.objects.get(version=1))
    response = client.get(release_url(draft, "publish"))
    assert response.status_code == 200
    body = response.content.decode()
    assert_shows_what_changes(body)
    assert "What changes: v1 → v2" in body
    cost = response.context["cost"]
    assert (cost.old_version, cost.new_version, cost.old_points, cost.new_points) == (1, 2, 50, 100)
    assert (cost.difference, cost.percent_change, cost.cost_yuan) == (50, Decimal("100.0"), Decimal("0.50"))
    assert '<td id="cost-difference">+50 (+100.0%)</td>' in body
    assert response.context["cohort"]["members"] == len(members)
    assert f"All {len(members)} members." in body
    assert f"This will be done by {publisher}" in body and 'id="four-eyes"' not in body
    assert 'name="confirm"' in body
    # A POST without the confirm button only shows the page again.
    assert client.post(release_url(draft, "publish")).status_code == 200
    assert (snapshot(draft), snapshot(RuleSet.objects.get(version=1))) == before


def test_publish_on_confirm_publishes_once(client, publisher, draft):
    client = as_user(client, publisher)
    response = client.post(release_url(draft, "publish"), {"confirm": "1"}, follow=True)
    assert messages_of(response) == ["v2 is now published to all members."]
    assert response.redirect_chain[-1][0] == change_url(draft)
    draft.refresh_from_db()
    assert (draft.status, draft.published_by) == (RuleSetStatus.PUBLISHED, publisher)
    assert events_of(draft, Action.PUBLISHED) == 1
    # Sent twice (a double click): refused, still published once.
    response = client.post(release_url(draft, "publish"), {"confirm": "1"}, follow=True)
    assert events_of(draft, Action.PUBLISHED) == 1
    assert RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).get() == draft


def test_the_buttons_and_actions_lead_to_the_confirmation_page(client, publisher, draft):
    client = as_user(client, publisher)
    body = client.get(change_url(draft)).content.decode()
    assert f'href="{release_url(draft, "publish")}"' in body
    assert f'action="{release_url(draft, "publish")}"' not in body  # no one-click form
    response = run_action(client, "publish_to_all", draft)
    assert response.redirect_chain[-1][0] == release_url(draft, "publish")
    assert "Yes, publish to all" in response.content.decode()
    assert RuleSet.objects.get(pk=draft.pk).status == RuleSetStatus.DRAFT


def test_four_eyes_is_shown_and_still_refused(client, editor, draft):
    editor.groups.add(Group.objects.get(name=PUBLISHER_GROUP))
    client = as_user(client, editor)
    before = snapshot(draft)
    response = client.get(release_url(draft, "publish"))
    body = response.content.decode()
    assert 'id="four-eyes"' in body and "another person must release it" in body
    response = client.post(release_url(draft, "publish"), {"confirm": "1"}, follow=True)
    assert messages_of(response) == [f"Refused: {editor} last edited v2; another person must release it."]
    response = client.post(gray_url(draft), {"percent": "10", "confirm": "1"}, follow=True)
    assert "another person must release it" in messages_of(response)[0]
    assert snapshot(draft) == before


def test_start_gray_confirms_with_the_cohort_size(client, publisher, draft, members):
    client = as_user(client, publisher)
    before = snapshot(draft)
    response = client.post(gray_url(draft), {"percent": "30", "tiers": ["gold"]})
    assert response.status_code == 200
    body = response.content.decode()
    assert_shows_what_changes(body)
    expected = expected_cohort(members, 30, ["gold"])
    assert response.context["cohort"]["members"] == expected == cohort_size(30, ["gold"])[0]
    assert f"{expected} of {len(members)} members (30% of the buckets) + Gold." in body
    assert response.context["cost"].cohort_only
    assert '<input type="hidden" name="percent" value="30">' in body
    assert '<input type="hidden" name="tiers" value="gold">' in body
    assert snapshot(draft) == before
    response = client.post(gray_url(draft), {"percent": "30", "tiers": ["gold"], "confirm": "1"}, follow=True)
    assert messages_of(response) == ["v2 is in gray release: 30% of members + Gold."]
    draft.refresh_from_db()
    assert (draft.status, draft.gray_percent, draft.gray_tiers) == (RuleSetStatus.CANDIDATE, 30, ["gold"])
    assert events_of(draft, Action.GRAY_STARTED) == 1


def test_widen_confirms_with_the_cohort_now_and_after(client, publisher, draft, members):
    services.start_gray(draft, actor=publisher, percent=10)
    client = as_user(client, publisher)
    before = snapshot(draft)
    response = client.post(gray_url(draft), {"percent": "60"})
    body = response.content.decode()
    assert_shows_what_changes(body)
    cohort = response.context["cohort"]
    assert (cohort["members"], cohort["now"]) == (expected_cohort(members, 60), expected_cohort(members, 10))
    assert f"Now: {expected_cohort(members, 10)} members." in body
    assert "Yes, widen the gray release" in body
    assert snapshot(draft) == before
    client.post(gray_url(draft), {"percent": "60", "confirm": "1"})
    draft.refresh_from_db()
    assert draft.gray_percent == 60 and events_of(draft, Action.GRAY_WIDENED) == 1


def test_stop_gray_confirms_and_stops_once(client, publisher, draft, members):
    services.start_gray(draft, actor=publisher, percent=100)
    client = as_user(client, publisher)
    before = snapshot(draft)
    response = run_action(client, "stop_gray_release", draft)
    assert response.redirect_chain[-1][0] == release_url(draft, "stop-gray")
    body = response.content.decode()
    assert "What changes: v2 → v1" in body and "Points per yuan" in body
    cost = response.context["cost"]
    # The cohort (everyone at 100%) goes back from v2's 100 points to v1's 50.
    assert (cost.old_version, cost.new_version, cost.difference) == (2, 1, -50)
    assert response.context["cohort"]["members"] == len(members)
    assert snapshot(draft) == before
    response = client.post(release_url(draft, "stop-gray"), {"confirm": "1"}, follow=True)
    assert messages_of(response) == ["Stopped the gray release of v2."]
    assert RuleSet.objects.get(pk=draft.pk).status == RuleSetStatus.RETIRED
    assert events_of(draft, Action.ROLLED_BACK) == 1


def test_roll_back_confirms_against_the_version_restored(client, publisher, draft, v1, members):
    services.publish(draft, actor=publisher)
    client = as_user(client, publisher)
    body = client.get(change_url(draft)).content.decode()
    assert f'href="{release_url(draft, "roll-back")}"' in body
    before = snapshot(draft), snapshot(v1)
    response = client.get(release_url(draft, "roll-back"))
    body = response.content.decode()
    assert "What changes: v2 → v1" in body and "Gold (changed)" in body
    cost = response.context["cost"]
    assert (cost.old_version, cost.new_version, cost.old_points, cost.new_points) == (2, 1, 100, 50)
    assert "-50 (-50.0%)" in body
    assert f"All {len(members)} members." in body
    assert (snapshot(draft), snapshot(v1)) == before
    response = client.post(release_url(draft, "roll-back"), {"confirm": "1"}, follow=True)
    assert messages_of(response) == ["Rolled back v2; v1 is published again."]
    assert RuleSet.objects.get(status=RuleSetStatus.PUBLISHED) == v1
    assert events_of(draft, Action.ROLLED_BACK) == 1


def test_confirmation_pages_need_the_publish_permission(client, editor, draft):
    client = as_user(client, editor)
    for operation in ("publish", "stop-gray", "roll-back"):
        assert client.get(release_url(draft, operation)).status_code == 403
    assert client.get(gray_url(draft)).status_code == 403


def test_nothing_to_confirm_is_a_message(client, publisher, draft, v1):
    client = as_user(client, publisher)
    response = client.get(release_url(v1, "roll-back"), follow=True)
    assert messages_of(response) == ["Refused: There is no earlier published version to roll back to."]
    response = client.get(release_url(draft, "roll-back"), follow=True)
    assert messages_of(response) == ["Only the published version can be rolled back."]
    response = client.get(release_url(v1, "publish"), follow=True)
    assert messages_of(response) == ["v1 is Published: it cannot be published."]
