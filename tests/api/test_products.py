"""Products over the member API: list (filters, tiers, pagination) and detail. Exact bodies."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import cache
from catalog.models import Category, ProductKind
from mall.models import Member
from tests.catalog.helpers import fund, make_product
from tests.points.ledger import at

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"


def detail(product_id):
    return f"{PRODUCTS}{product_id}/"


def error(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    # The services invalidate after commit, which a test's transaction never reaches.
    cache.reset()
    yield
    cache.reset()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def shelf():
    """Five products on sale, in the mall's default order (sort_order, then newest first)."""
    drinks = Category.objects.create(name="Drinks")
    tea = Category.objects.create(name="Tea", parent=drinks)
    books = Category.objects.create(name="Books")
    return {
        "green": make_product(name="Green tea", points_price=300, category=tea, sort_order=1,
                              description="From the hills", cash_price=Decimal("9.90")),
        "coffee": make_product(name="Coffee", points_price=500, category=drinks, sort_order=2),
        "novel": make_product(name="A novel", points_price=1000, category=books, sort_order=3,
                              stock=0),
        "coupon": make_product(name="Coupon 10", kind=ProductKind.COUPON, points_price=100,
                               sort_order=4, codes=["C1", "C2"]),
        "pass": make_product(name="Free shipping", kind=ProductKind.PRIVILEGE, points_price=50,
                             sort_order=5),
        "categories": {"drinks": drinks, "tea": tea, "books": books},
    }


# --------------------------------------------------------------------------- list


def test_list_shows_products_on_sale_with_exact_fields(member_api, shelf):
    green = shelf["green"]
    tea = shelf["categories"]["tea"]

    response = member_api.get(PRODUCTS)

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (5, None, None)
    assert [row["id"] for row in body["results"]] == [
        shelf[name].pk for name in ("green", "coffee", "novel", "coupon", "pass")]
    assert body["results"][0] == {
        "id": green.pk, "name": "Green tea", "kind": "physical",
        "category": {"id": tea.pk, "name": "Tea", "parent_id": shelf["categories"]["drinks"].pk},
        "points_price": 300, "cash_price": "9.90", "stock": 10, "in_stock": True, "image": None,
        "images": [], "points_short": 300, "member_points": 300, "welcome_discount": 0,
    }
    assert body["results"][3] == {
        "id": shelf["coupon"].pk, "name": "Coupon 10", "kind": "coupon", "category": None,
        "points_price": 100, "cash_price": "0.00", "stock": 2, "in_stock": True, "image": None,
        "images": [], "points_short": 100, "member_points": 100, "welcome_discount": 0,
    }
    assert body["results"][2]["in_stock"] is False


def test_list_leaves_out_inactive_unstarted_ended_and_inactive_category(member_api, shelf):
    now = timezone.now()
    hidden = Category.objects.create(name="Hidden", active=False)
    make_product(name="Off", active=False)
    make_product(name="Later", sale_starts_at=now + timedelta(days=1))
    make_product(name="Over", sale_starts_at=now - timedelta(days=2), sale_ends_at=now - timedelta(days=1))
    make_product(name="In hidden", category=hidden)

    assert member_api.get(PRODUCTS).json()["count"] == 5


def test_list_only_shows_what_the_members_tier_may_see(member_api, member, shelf):
    gold_only = make_product(name="Gold gift", visible_tiers=["gold"], sort_order=9)
    silver_and_gold = make_product(name="Silver gift", visible_tiers=["silver", "gold"], sort_order=9)

    assert gold_only.pk not in ids(member_api.get(PRODUCTS))
    assert silver_and_gold.pk not in ids(member_api.get(PRODUCTS))

    Member.objects.filter(pk=member.pk).update(tier="silver")
    cache.reset()
    seen = ids(member_api.get(PRODUCTS))
    assert silver_and_gold.pk in seen
    assert gold_only.pk not in seen


def test_filter_by_category_includes_sub_categories(member_api, shelf):
    drinks = shelf["categories"]["drinks"]
    tea = shelf["categories"]["tea"]

    assert ids(member_api.get(PRODUCTS, {"category": drinks.pk})) == [shelf["green"].pk,
                                                                      shelf["coffee"].pk]
    assert ids(member_api.get(PRODUCTS, {"category": tea.pk})) == [shelf["green"].pk]
    assert ids(member_api.get(PRODUCTS, {"category": 999999})) == []


def test_filter_by_points_range(member_api, shelf):
    assert ids(member_api.get(PRODUCTS, {"min_points": 300, "max_points": 500})) == [
        shelf["green"].pk, shelf["coffee"].pk]
    assert ids(member_api.get(PRODUCTS, {"max_points": 100})) == [shelf["coupon"].pk, shelf["pass"].pk]
    assert ids(member_api.get(PRODUCTS, {"min_points": 1000})) == [shelf["novel"].pk]


def test_affordable_keeps_what_the_available_balance_pays_for(member_api, member, shelf):
    assert ids(member_api.get(PRODUCTS, {"affordable": "true"})) == []   # no account yet

    fund(member, 300)
    assert ids(member_api.get(PRODUCTS, {"affordable": "true"})) == [
        shelf["green"].pk, shelf["coupon"].pk, shelf["pass"].pk]
    # Combined with a tighter bound, the tighter one wins.
    assert ids(member_api.get(PRODUCTS, {"affordable": "true", "max_points": 100})) == [
        shelf["coupon"].pk, shelf["pass"].pk]
    assert member_api.get(PRODUCTS, {"affordable": "false"}).json()["count"] == 5


def test_affordable_does_not_count_pending_points(member_api, member, shelf):
    fund(member, 100)
    fund(member, 5000, key="pending", available_at=timezone.now() + timedelta(days=7))

    assert ids(member_api.get(PRODUCTS, {"affordable": "true"})) == [shelf["coupon"].pk,
                                                                     shelf["pass"].pk]


def test_search_matches_name_or_description_case_insensitively(member_api, shelf):
    assert ids(member_api.get(PRODUCTS, {"search": "TEA"})) == [shelf["green"].pk]
    assert ids(member_api.get(PRODUCTS, {"search": "hills"})) == [shelf["green"].pk]
    assert ids(member_api.get(PRODUCTS, {"search": "nothing like it"})) == []


def test_orderings(member_api, shelf):
    by_points = [shelf[name].pk for name in ("pass", "coupon", "green", "coffee", "novel")]

    assert ids(member_api.get(PRODUCTS, {"ordering": "points"})) == by_points
    assert ids(member_api.get(PRODUCTS, {"ordering": "-points"})) == by_points[::-1]
    assert ids(member_api.get(PRODUCTS, {"ordering": "newest"})) == [
        shelf[name].pk for name in ("pass", "coupon", "novel", "coffee", "green")]


def test_empty_parameters_are_left_out(member_api, shelf):
    response = member_api.get(PRODUCTS, {"category": "", "min_points": "", "affordable": "",
                                         "search": "", "ordering": ""})

    assert response.json()["count"] == 5


@pytest.mark.parametrize(("params", "fields"), [
    ({"category": "tea"}, {"category": ["A valid integer is required."]}),
    ({"category": "0"}, {"category": ["Ensure this value is greater than or equal to 1."]}),
    ({"min_points": "-1"}, {"min_points": ["Ensure this value is greater than or equal to 0."]}),
    ({"max_points": "2147483648"},
     {"max_points": ["Ensure this value is less than or equal to 2147483647."]}),
    ({"affordable": "yes"}, {"affordable": ["Must be true or false."]}),
    ({"ordering": "name"}, {"ordering": ['"name" is not a valid choice.']}),
    ({"search": "x" * 101}, {"search": ["Ensure this field has no more than 100 characters."]}),
])
def test_malformed_filters_are_400_naming_the_field(member_api, params, fields):
    response = member_api.get(PRODUCTS, params)

    assert response.status_code == 400
    assert response.json() == error("invalid", "The request has invalid fields.", fields)


def test_list_paginates(member_api, shelf):
    first = member_api.get(PRODUCTS, {"page_size": 2, "ordering": "points"}).json()
    second = member_api.get(PRODUCTS, {"page_size": 2, "ordering": "points", "page": 2}).json()
    last = member_api.get(PRODUCTS, {"page_size": 2, "ordering": "points", "page": 3}).json()

    assert first["count"] == 5
    assert [row["id"] for row in first["results"]] == [shelf["pass"].pk, shelf["coupon"].pk]
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/v1/products/?ordering=points&page=2&page_size=2"
    assert [row["id"] for row in second["results"]] == [shelf["green"].pk, shelf["coffee"].pk]
    assert second["previous"] == "http://testserver/api/v1/products/?ordering=points&page_size=2"
    assert second["next"] == "http://testserver/api/v1/products/?ordering=points&page=3&page_size=2"
    assert [row["id"] for row in last["results"]] == [shelf["novel"].pk]
    assert last["previous"] == "http://testserver/api/v1/products/?ordering=points&page=2&page_size=2"
    assert last["next"] is None


def test_an_empty_mall_is_one_empty_page(member_api):
    assert member_api.get(PRODUCTS).json() == {"count": 0, "next": None, "previous": None,
                                               "results": []}


@pytest.mark.parametrize("page", ["4", "0", "last", "-1", "99999999999999999999999"])
def test_a_page_past_the_end_or_not_a_page_is_404(member_api, shelf, page):
    response = member_api.get(PRODUCTS, {"page_size": 2, "page": page})

    assert response.status_code == 404
    assert response.json() == error("not_found", "Invalid page.")


@pytest.mark.parametrize("page_size", ["0", "101", "ten"])
def test_page_size_out_of_range_is_400(member_api, page_size):
    response = member_api.get(PRODUCTS, {"page_size": page_size})

    assert response.status_code == 400
    assert response.json() == error("invalid", "The request has invalid fields.", {
        "page_size": ["Enter a whole number from 1 to 100."]})


# --------------------------------------------------------------------------- detail


def test_detail_with_exact_fields(member_api):
    product = make_product(name="Green tea", points_price=300, description="From the hills",
                           per_member_limit=2, sale_starts_at=at(2026, 1, 1),
                           sale_ends_at=at(2036, 1, 1))

    response = member_api.get(detail(product.pk))

    assert response.status_code == 200
    assert response.json() == {
        "id": product.pk, "name": "Green tea", "kind": "physical", "category": None,
        "points_price": 300, "cash_price": "0.00", "stock": 10, "in_stock": True, "image": None,
        "images": [], "points_short": 300, "member_points": 300, "welcome_discount": 0,
        "description": "From the hills", "per_member_limit": 2,
        "sale_starts_at": "2026-01-01T00:00:00+08:00", "sale_ends_at": "2036-01-01T00:00:00+08:00",
    }


def test_detail_keeps_html_as_data(member_api):
    product = make_product(name="<script>alert(1)</script>")

    response = member_api.get(detail(product.pk))

    assert response["Content-Type"] == "application/json"
    assert response.json()["name"] == "<script>alert(1)</script>"


def test_detail_of_unknown_inactive_off_sale_or_hidden_products_is_404(member_api):
    inactive = make_product(name="Off", active=False)
    ended = make_product(name="Over", sale_starts_at=timezone.now() - timedelta(days=2),
                         sale_ends_at=timezone.now() - timedelta(days=1))
    gold_only = make_product(name="Gold gift", visible_tiers=["gold"])

    for product_id in (inactive.pk, ended.pk, gold_only.pk, 999999, 0, "abc", "1.5",
                       "99999999999999999999999"):
        response = member_api.get(detail(product_id))
        assert response.status_code == 404, product_id
        assert response.json() == error("not_found", "No such product."), product_id


def test_a_gold_member_sees_a_gold_product(member_api, member):
    gold_only = make_product(name="Gold gift", visible_tiers=["gold"])
    Member.objects.filter(pk=member.pk).update(tier="gold")

    assert member_api.get(detail(gold_only.pk)).json()["id"] == gold_only.pk


def test_products_are_open_to_anonymous_callers_as_the_lowest_tier(api):
    product = make_product(name="For all")
    gold_only = make_product(name="Gold gift", visible_tiers=["gold"])

    listed = api.get(PRODUCTS)
    assert ids(listed) == [product.pk]
    assert listed.json()["results"][0]["points_short"] is None
    # ``affordable`` means nothing without points: ignored, not a 401 or a 400.
    assert ids(api.get(PRODUCTS, {"affordable": "true"})) == [product.pk]
    response = api.get(detail(product.pk))
    assert response.status_code == 200
    assert response.json()["points_short"] is None
    assert api.get(detail(gold_only.pk)).status_code == 404


def test_points_short_is_what_the_member_lacks_and_zero_when_affordable(member_api, member):
    cheap = make_product(name="Cheap", points_price=100)
    dear = make_product(name="Dear", points_price=1500)
    fund(member, 400)

    rows = {row["id"]: row for row in member_api.get(PRODUCTS).json()["results"]}
    assert rows[cheap.pk]["points_short"] == 0
    assert rows[dear.pk]["points_short"] == 1100
    assert member_api.get(detail(dear.pk)).json()["points_short"] == 1100
