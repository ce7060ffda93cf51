"""The tier card on the home page: the tier, its multiplier and exclusive products, and how many
more points reach the next tier (``mall.selectors.tier_progress``)."""

import pytest
from django.test import Client
from django.utils.translation import gettext, override

from mall.models import Member
from points import services as ledger
from tests.catalog.helpers import fund, make_product
from tests.pages.helpers import text

pytestmark = pytest.mark.django_db


def test_the_card_shows_the_tier_multiplier_and_the_way_to_the_next(member_client, member):
    fund(member, 800)  # silver qualifies at 2,000 points earned

    page = text(member_client.get("/"))

    assert 'data-testid="tier-name">Normal<' in page
    assert 'data-testid="tier-multiplier">Points ×1<' in page
    assert "Earn 1,200 more points to reach Silver" in page
    assert 'class="progress tier-progress" max="100" value="40"' in page
    assert 'data-testid="tier-exclusive"' not in page  # no product for some tiers only


def test_thousands_are_separated_and_exclusive_products_counted(member_client, member):
    Member.objects.filter(pk=member.pk).update(tier="silver")
    fund(member, 2500)
    make_product(name="Silver tea", visible_tiers=["silver", "gold"])
    make_product(name="Gold wine", visible_tiers=["gold"])
    make_product(name="Anyone's water")

    page = text(member_client.get("/"))

    assert 'data-testid="tier-multiplier">Points ×1.2<' in page
    assert "Earn 7,500 more points to reach Gold" in page
    assert "1 product only for your tier" in page


def test_a_refunded_earning_does_not_count_towards_the_next_tier(member_client, member):
    entry = fund(member, 1500)
    ledger.reverse(entry, 500, key="refund", reason="refund")

    assert "Earn 1,000 more points to reach Silver" in text(member_client.get("/"))


def test_the_top_tier_says_so(member_client, member):
    Member.objects.filter(pk=member.pk).update(tier="gold")

    page = text(member_client.get("/"))

    assert 'data-testid="tier-multiplier">Points ×1.5<' in page
    assert "You are at the top tier." in page
    assert "more points to reach" not in page


def test_the_card_in_chinese_names_the_tier(member):
    client = Client()  # the site's default language
    client.force_login(member)
    fund(member, 800)

    page = text(client.get("/"))

    assert 'data-testid="tier-name">普通会员<' in page
    assert "1,200" in page and "银卡会员" in page
    with override("zh-hans"):
        compiled = gettext("You are at the top tier.") != "You are at the top tier."
    if compiled:  # once the branch's strings are in the Chinese catalog
        assert "再赚 1,200 积分升级银卡会员" in page
        assert 'data-testid="tier-multiplier">积分 1 倍<' in page
