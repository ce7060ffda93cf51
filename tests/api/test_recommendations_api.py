"""Recommendations over the member API: ``/me/recommendations/`` and ``/products/{id}/related/``."""

import pytest

from catalog import cache
from catalog.models import Product
from catalog.recommendations import compute_neighbours
from tests.catalog.helpers import fund
from tests.catalog.test_recommendations import member as new_member
from tests.catalog.test_recommendations import names, product, redeem

pytestmark = pytest.mark.django_db

MINE = "/api/v1/me/recommendations/"


def related(product_id):
    return f"/api/v1/products/{product_id}/related/"


def error(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    cache.reset()
    yield
    cache.reset()


@pytest.fixture
def shelf(member):
    """``member`` redeemed tea; two others redeemed tea with cup and pot, and a gold-only box."""
    items = {name: product(name) for name in ("tea", "cup", "pot", "box")}
    fund(member, 1_000)
    redeem(member, items["tea"])
    for _ in range(2):
        redeem(new_member(), *items.values())
    Product.objects.filter(pk=items["box"].pk).update(visible_tiers=["gold"])
    compute_neighbours()
    return items


def result_names(response):
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


def test_my_recommendations_in_the_product_lists_shape(member_api, shelf):
    response = member_api.get(MINE)
    assert result_names(response) == ["cup", "pot"]
    row = response.json()["results"][0]
    assert row["id"] == shelf["cup"].pk
    assert (row["points_price"], row["member_points"], row["welcome_discount"],
            row["points_short"], row["in_stock"]) == (10, 10, 0, 0, True)
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    first = member_api.get(MINE, {"page_size": "1"})
    assert result_names(first) == ["cup"]
    assert first.json()["next"] == "http://testserver/api/v1/me/recommendations/?page=2&page_size=1"
    assert result_names(member_api.get(MINE, {"page_size": "1", "page": "2"})) == ["pot"]
    assert member_api.get(MINE, {"page": "3"}).status_code == 404


def test_my_recommendations_are_my_own(api, token_for, shelf):
    other = new_member()  # redeemed nothing: everyone's popular, tea included
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(other)}")
    assert result_names(api.get(MINE)) == ["tea", "cup", "pot"]


def test_my_recommendations_need_a_signed_in_member(api, shelf):
    response = api.get(MINE)
    assert response.status_code == 401


def test_at_most_twenty_recommendations(member_api, member):
    fund(member, 1_000)
    seed = product("seed")
    others = [product(f"p{i}") for i in range(25)]
    redeem(member, seed)
    redeem(new_member(), seed, *others)
    compute_neighbours()
    body = member_api.get(MINE, {"page_size": "100"}).json()
    assert body["count"] == 20
    assert [row["name"] for row in body["results"]] == [f"p{i}" for i in range(20)]


def test_related_products(member_api, api, shelf):
    # cup's neighbours: pot (2 / √(2 × 2)), tea (2 / √(2 × 3)) and the gold box, never shown to
    # these tiers; the member already has tea.
    assert result_names(member_api.get(related(shelf["cup"].pk))) == ["pot"]
    assert result_names(api.get(related(shelf["cup"].pk))) == ["pot", "tea"]


@pytest.mark.parametrize("which", ["box", "missing", "malformed"])
def test_related_products_of_a_product_the_caller_cannot_open_is_404(member_api, shelf, which):
    product_id = {"box": shelf["box"].pk, "missing": 10**9, "malformed": "abc"}[which]
    response = member_api.get(related(product_id))
    assert (response.status_code, response.json()) == (404, error("not_found", "No such product."))


def test_the_helpers_agree_with_the_api(member, shelf):
    from catalog.recommendations import recommended_for

    assert names(recommended_for(member)) == ["cup", "pot"]
