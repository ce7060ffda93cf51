"""The recommendations on the member pages: "Recommended for you" on the home page, "People who
redeemed this also redeemed" on a product's page (``catalog.recommendations``)."""

import re

import pytest

from catalog.models import Product
from catalog.recommendations import compute_neighbours
from tests.catalog.helpers import fund
from tests.catalog.test_recommendations import member as new_member
from tests.catalog.test_recommendations import product, redeem
from tests.pages.helpers import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(member):
    """``member`` redeemed tea; two others redeemed tea, cup, pot and the gold-only box."""
    items = {name: product(name.capitalize() + " set") for name in ("tea", "cup", "pot", "box")}
    fund(member, 1_000)
    redeem(member, items["tea"])
    for _ in range(2):
        redeem(new_member(), *items.values())
    Product.objects.filter(pk=items["box"].pk).update(visible_tiers=["gold"])
    compute_neighbours()
    return items


def section(page, testid) -> str:
    found = re.search(rf'<section[^>]*data-testid="{testid}".*?</section>', page, re.S)
    return found.group(0) if found else ""


def test_home_recommends_for_the_member(member_client, shelf):
    page = text(member_client.get("/"))
    mine = section(page, "for-you")
    assert "Recommended for you" in mine
    assert re.findall(r'class="pname">([^<]+)<', mine) == ["Cup set", "Pot set"]
    assert f'href="/mall/{shelf["cup"].pk}/"' in mine


def test_home_without_anything_to_recommend_has_no_section(member_client, db):
    page = text(member_client.get("/"))
    assert 'data-testid="for-you"' not in page
    assert "Recommended for you" not in page


def test_product_page_shows_what_others_also_redeemed(member_client, client, shelf):
    url = f"/mall/{shelf['cup'].pk}/"
    related = section(text(member_client.get(url)), "related")
    assert "People who redeemed this also redeemed" in related
    # The member has tea already; nobody here may see the gold box.
    assert re.findall(r'class="pname">([^<]+)<', related) == ["Pot set"]
    anonymous = section(text(client.get(url)), "related")
    assert re.findall(r'class="pname">([^<]+)<', anonymous) == ["Pot set", "Tea set"]


def test_the_sections_are_in_chinese(member, shelf):
    from django.test import Client

    chinese = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    chinese.force_login(member)
    assert "为你推荐" in text(chinese.get("/"))
    assert "兑换了这个的人还兑换了" in text(chinese.get(f"/mall/{shelf['cup'].pk}/"))
