"""Tiers are rows of the rule set: staff add, rename and re-order them in a draft and publish
them; members, products, gray releases, the shop's hook and the API use the published codes;
publishing (or rolling back to) a table that drops a code still in use is refused."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils.translation import override
from rest_framework.test import APIClient

from catalog.forms import ProductForm
from catalog.models import Product
from mall import jobs
from mall.models import TierChange
from mall.services import members
from mall.services import tiers as tier_services
from points.services import earning
from rules import services as rule_services
from rules import tiers
from rules.errors import InvalidTierTable, InvalidTransition, TierInUse
from rules.models import RuleSet, TierRule
from tests.catalog.helpers import make_product
from tests.factories import MemberFactory
from tests.rules.test_admin import as_user, form_data, staff_in
from tests.tiers.helpers import NOW, changes, earn, inbox, set_tier, state

pytestmark = pytest.mark.django_db

EDITOR_GROUP = "规则编辑 / Rule editor"
PUBLISHER_GROUP = "规则发布 / Rule publisher"


@pytest.fixture
def editor():
    return staff_in(EDITOR_GROUP, "editor")


@pytest.fixture
def publisher():
    return staff_in(PUBLISHER_GROUP, "publisher")


@pytest.fixture
def draft(editor):
    return rule_services.clone_as_draft(RuleSet.objects.get(version=1), actor=editor)


def edit_tiers(client, draft, change: dict, *, add: dict | None = None):
    """Post the draft's page as a browser would, with ``change`` to the tier rows and ``add``,
    a new tier row."""
    url = reverse("admin:rules_ruleset_change", args=[draft.pk])
    data = form_data(client.get(url))
    data.update(change)
    if add:
        index = int(data["tiers-TOTAL_FORMS"])
        data["tiers-TOTAL_FORMS"] = str(index + 1)
        data.update({f"tiers-{index}-{name}": value for name, value in add.items()})
        data[f"tiers-{index}-rule_set"] = draft.pk
    return client.post(url, data)


PLATINUM = {"code": "platinum", "name": "铂金会员", "name_en": "Platinum", "rank": "4",
            "multiplier": "2.0", "qualify_points": "10000"}


@pytest.fixture
def platinum(client, editor, publisher, draft):
    """v2 published: gold now qualifies at 5,000, and 铂金 platinum ×2.0 at 10,000 above it."""
    response = edit_tiers(as_user(client, editor), draft, {"tiers-2-qualify_points": "5000"}, add=PLATINUM)
    assert response.status_code == 302, response.context["errors"]
    return rule_services.publish(draft, actor=publisher)


def test_the_default_tiers_have_chinese_and_english_names():
    assert [(t.code, t.name, t.name_en, t.rank, t.multiplier, t.qualify_points)
            for t in tiers.published_tiers()] == [
        ("normal", "普通会员", "Normal", 1, Decimal("1.00"), 0),
        ("silver", "银卡会员", "Silver", 2, Decimal("1.20"), 2000),
        ("gold", "金卡会员", "Gold", 3, Decimal("1.50"), 10000),
    ]
    with override("zh-hans"):
        assert tiers.tier_choices() == [("normal", "普通会员"), ("silver", "银卡会员"), ("gold", "金卡会员")]
    with override("en"):
        assert tiers.tier_choices() == [("normal", "Normal"), ("silver", "Silver"), ("gold", "Gold")]
    assert tiers.tier_name("gold", "zh-hans") == "金卡会员"
    assert tiers.tier_name("nosuch") == "nosuch"
    assert (tiers.lowest_tier().code, tiers.top_tier().code) == ("normal", "gold")


def test_a_fourth_tier_added_in_a_draft_and_published_is_used_everywhere(platinum):
    assert tiers.tier_codes() == ["normal", "silver", "gold", "platinum"]
    assert (tiers.top_tier().code, tiers.tier_name("platinum", "en")) == ("platinum", "Platinum")
    high, middle = MemberFactory(), MemberFactory()
    earn(high, 10000)
    earn(middle, 6000)

    assert jobs.reevaluate_tiers(now=NOW)["upgraded"] == 2

    assert (state(high), state(middle)) == (("platinum", None), ("gold", None))
    assert inbox(high) == [
        ("tier_upgrade", "恭喜升级为铂金会员", "恭喜！您已从普通会员升级为铂金会员，享受更高的积分倍率。")]
    assert TierChange.objects.get(member=high).rule_version == platinum.version
    high.refresh_from_db()
    result = earning.record_paid_order(high, order_id="o-pt", amount=Decimal("100.00"), paid_at=NOW,
                                       lines=[{"sku": "apple", "amount": "100.00"}], now=NOW)
    assert result.points == 210  # 100 × 2.0, + 10 for 满100返10
    assert "platinum ×2" in result.explanation["lines"][0]

    # The API names it in the request's language (Chinese by default).
    api = APIClient()
    api.force_authenticate(high)
    assert api.get("/api/v1/me/").json()["tier_name"] == "铂金会员"
    # Products may be shown to it; the shop may set it.
    form = ProductForm(data={"name": "Gift", "kind": "physical", "points_price": "10", "cash_price": "0",
                             "visible_tiers": ["platinum"], "sort_order": "0"})
    assert form.is_valid(), form.errors
    shopper, _created, _points = members.upsert_from_shop(external_id="u-1", fields={"tier": "platinum"})
    assert changes(shopper) == [("normal", "platinum", "shop", None, None)]


def test_the_table_is_checked_as_a_whole_in_the_form(client, editor, draft):
    client = as_user(client, editor)
    response = edit_tiers(client, draft, {}, add={**PLATINUM, "qualify_points": "9000"})
    assert response.status_code == 200
    assert ("Points to qualify must rise with the rank: 铂金会员 needs more than 金卡会员."
            in response.content.decode())
    assert not TierRule.objects.filter(rule_set=draft, code="platinum").exists()
    response = edit_tiers(client, draft, {}, add={**PLATINUM, "multiplier": "1.4"})
    assert ("A higher tier cannot earn a lower multiplier: 铂金会员 is below 金卡会员."
            in response.content.decode())
    # Re-ordering: the ranks decide, not the row order.
    response = edit_tiers(client, draft, {"tiers-0-rank": "5", "tiers-0-qualify_points": "20000",
                                          "tiers-0-multiplier": "3", "tiers-1-qualify_points": "0"})
    assert response.status_code == 302
    assert list(TierRule.objects.filter(rule_set=draft).values_list("code", "rank")) == [
        ("silver", 2), ("gold", 3), ("normal", 5)]


def test_publishing_a_table_without_a_code_in_use_is_refused(client, editor, publisher, draft):
    gold = MemberFactory()
    set_tier(gold, "gold")
    make_product(name="Gold gift", visible_tiers=["gold"])
    assert edit_tiers(as_user(client, editor), draft, {"tiers-2-DELETE": "on"}).status_code == 302

    with override("en"), pytest.raises(TierInUse) as refused:
        rule_services.publish(draft, actor=publisher)

    assert refused.value.message == (
        "v2 has no tier for codes still in use — gold (Gold): 1 member(s), 1 product(s). Keep the code "
        "(rename a tier by changing its names) or move them to another tier first.")
    assert RuleSet.objects.get(pk=draft.pk).status == "draft"
    assert tiers.tier_codes() == ["normal", "silver", "gold"]

    tier_services.set_tier(gold, "silver", reason=TierChange.Reason.STAFF)
    Product.objects.update(visible_tiers=["silver"])
    rule_services.publish(draft, actor=publisher)
    assert tiers.tier_codes() == ["normal", "silver"]


def test_renaming_a_tier_keeps_its_code_and_its_members(client, editor, publisher, draft):
    member = MemberFactory()
    set_tier(member, "gold")
    response = edit_tiers(as_user(client, editor), draft,
                          {"tiers-2-name": "黄金会员", "tiers-2-name_en": "Golden"})
    assert response.status_code == 302
    rule_services.publish(draft, actor=publisher)

    assert tiers.tier_name("gold", "zh-hans") == "黄金会员"
    assert state(member) == ("gold", None)


def test_rolling_back_past_a_tier_members_reached_is_refused(platinum, publisher):
    member = MemberFactory()
    set_tier(member, "platinum")
    other = staff_in(PUBLISHER_GROUP, "other")

    with override("en"), pytest.raises(TierInUse) as refused:
        rule_services.roll_back(actor=other)
    assert "platinum (Platinum): 1 member(s)" in refused.value.message
    assert RuleSet.objects.get(pk=platinum.pk).status == "published"

    set_tier(member, "gold")
    assert rule_services.roll_back(actor=other).version == 1
    assert tiers.tier_codes() == ["normal", "silver", "gold"]


def test_a_release_checks_the_table_the_form_did_not_see(editor, publisher, draft):
    # An import writes rows one at a time, past the form's cross-row checks.
    TierRule.objects.filter(rule_set=draft, code="normal").update(qualify_points=100)

    with override("en"), pytest.raises(InvalidTierTable) as refused:
        rule_services.publish(draft, actor=publisher)
    assert refused.value.message == ("The tiers of v2: The lowest tier (普通会员) must qualify at 0 points: "
                                     "every member has a tier.")
    with pytest.raises(InvalidTierTable):
        rule_services.start_gray(draft, actor=publisher, percent=10)


def test_gray_release_tiers_are_published_codes(publisher, draft):
    with override("en"), pytest.raises(InvalidTransition) as refused:
        rule_services.start_gray(draft, actor=publisher, percent=0, tiers=["platinum"])
    assert refused.value.message == "Not tiers of the published rule set: platinum."
    assert rule_services.start_gray(draft, actor=publisher, percent=0, tiers=["gold"]).gray_tiers == ["gold"]


def test_the_shop_cannot_set_a_tier_that_is_not_published():
    from common.errors import InvalidFields

    with pytest.raises(InvalidFields) as refused:
        members.upsert_from_shop(external_id="u-2", fields={"tier": "platinum"})
    assert set(refused.value.fields) == {"tier"}
    assert not TierChange.objects.exists()


def test_new_members_start_at_the_published_lowest_tier():
    registration = members.register(username="newbie", password="correct-horse-77")
    assert registration.member.tier == "normal"
    shopper, _created, _points = members.upsert_from_shop(external_id="u-3", fields={})
    assert shopper.tier == "normal"
    assert not TierChange.objects.exists()
