"""One home for "on sale now" and tier visibility (issue 8 §5): the product queryset and model
agree, and every reader uses them — listings, the product page and its redeem form, the API,
``redeem`` itself and the admin. A product a member's tier may not see is a 404 on the pages and
in the API and refused by ``redeem`` with nothing written."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from catalog import cache, selectors, services
from catalog.errors import NotAvailable
from catalog.models import Category, Product, SaleState
from mall.models import Member
from tests.catalog.helpers import fund, make_product, snapshot
from tests.factories import MemberFactory
from tests.pages.helpers import address_id

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

NOW = timezone.now()
DAY = timedelta(days=1)
KEY = "0123456789abcdef0123456789abcdef"  # the shape of the redeem form's keys


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    # The services invalidate after commit, which a test's transaction never reaches.
    cache.reset()
    yield
    cache.reset()


def page_client(member) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(member)
    return client


def api_client(member) -> APIClient:
    token = RefreshToken.for_user(member).access_token
    return APIClient(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=f"Bearer {token}")


# --------------------------------------------------------------------------- the one definition


@pytest.fixture
def shelf():
    """A product in each sale state, by name, and the state it is in at NOW."""
    closed = Category.objects.create(name="Closed", active=False)
    open_ = Category.objects.create(name="Open")
    return {
        make_product(name="plain"): SaleState.ON_SALE,
        make_product(name="in an open category", category=open_): SaleState.ON_SALE,
        make_product(name="inside its window", sale_starts_at=NOW - DAY,
                     sale_ends_at=NOW + DAY): SaleState.ON_SALE,
        make_product(name="starts exactly now", sale_starts_at=NOW): SaleState.ON_SALE,
        make_product(name="inactive", active=False): SaleState.INACTIVE,
        make_product(name="inactive and closed", active=False,
                     category=closed): SaleState.INACTIVE,
        make_product(name="not yet", sale_starts_at=NOW + DAY): SaleState.NOT_STARTED,
        make_product(name="ends exactly now", sale_ends_at=NOW): SaleState.ENDED,
        make_product(name="over", sale_starts_at=NOW - 2 * DAY,
                     sale_ends_at=NOW - DAY): SaleState.ENDED,
        make_product(name="in a closed category", category=closed): SaleState.CATEGORY_CLOSED,
    }


def test_the_queryset_and_the_model_agree_on_what_is_on_sale(shelf):
    on_sale = {product.name for product, state in shelf.items() if state == SaleState.ON_SALE}

    assert {product.name: product.sale_state(NOW) for product in shelf} == {
        product.name: state for product, state in shelf.items()}
    assert {p.name for p in shelf if p.is_on_sale(NOW)} == on_sale
    assert set(Product.objects.on_sale(NOW).values_list("name", flat=True)) == on_sale
    assert set(Product.objects.off_sale(NOW).values_list("name", flat=True)) == {
        product.name for product in shelf} - on_sale


@pytest.mark.parametrize(("visible_tiers", "tiers"), [
    ([], ["normal", "silver", "gold"]),
    (["gold"], ["gold"]),
    (["silver", "gold"], ["silver", "gold"]),
])
def test_the_queryset_and_the_model_agree_on_who_may_see_a_product(visible_tiers, tiers):
    product = make_product(visible_tiers=visible_tiers)

    assert [tier for tier in ("normal", "silver", "gold") if product.is_visible_to(tier)] == tiers
    assert [tier for tier in ("normal", "silver", "gold")
            if Product.objects.visible_to(tier).filter(pk=product.pk).exists()] == tiers


# --------------------------------------------------------------------------- the cached detail


def test_the_detail_selector_applies_the_tier_to_one_cached_dict():
    gold_only = make_product(name="Gold gift", visible_tiers=["gold"])

    shown = selectors.product_detail(gold_only.pk, tier="gold")

    assert (shown["id"], shown["visible_tiers"]) == (gold_only.pk, ["gold"])
    assert selectors.product_detail(gold_only.pk, tier="normal") is None
    assert selectors.product_detail(gold_only.pk, tier="silver") is None
    assert selectors.product_detail(gold_only.pk) == shown  # no tier: not filtered
    # One entry for every tier: a change no one invalidated is not seen by any of them.
    Product.objects.filter(pk=gold_only.pk).update(visible_tiers=[])
    assert selectors.product_detail(gold_only.pk, tier="normal") is None
    assert selectors.product_detail(gold_only.pk, tier="gold") == shown


def test_the_detail_selector_hides_a_product_in_a_closed_category():
    product = make_product(category=Category.objects.create(name="Closed", active=False))

    assert selectors.product_detail(product.pk) is None
    assert selectors.product_detail(product.pk, tier="normal") is None


# --------------------------------------------------------------------------- the defect: tiers


@pytest.fixture
def gold_only():
    return make_product(name="Gold gift", points_price=100, visible_tiers=["gold"])


def test_a_product_for_gold_members_is_404_on_the_pages_for_a_normal_member(gold_only):
    member = MemberFactory(tier="normal")
    fund(member, 1000)
    client = page_client(member)
    before = snapshot()

    assert client.get(f"/mall/{gold_only.pk}/").status_code == 404
    assert client.get(f"/mall/{gold_only.pk}/redeem/").status_code == 404
    response = client.post(f"/mall/{gold_only.pk}/redeem/",
                           {"key": KEY, "quantity": 1, "address_id": address_id(member)})
    assert response.status_code == 404
    assert snapshot() == before


def test_a_product_for_gold_members_is_on_the_pages_of_a_gold_member(gold_only):
    member = MemberFactory(tier="gold", established=True)
    fund(member, 1000)
    client = page_client(member)

    assert client.get(f"/mall/{gold_only.pk}/").status_code == 200
    assert client.get(f"/mall/{gold_only.pk}/redeem/").status_code == 200
    response = client.post(f"/mall/{gold_only.pk}/redeem/",
                           {"key": KEY, "quantity": 1, "address_id": address_id(member)})
    assert response.status_code == 302
    assert list(gold_only.redemptions.values_list("member_id", "points")) == [(member.pk, 100)]


def test_the_page_follows_the_tier_in_the_database(gold_only):
    member = MemberFactory(tier="gold")
    client = page_client(member)
    assert client.get(f"/mall/{gold_only.pk}/").status_code == 200

    Member.objects.filter(pk=member.pk).update(tier="normal")  # downgraded

    assert client.get(f"/mall/{gold_only.pk}/").status_code == 404


def test_a_product_for_gold_members_is_404_in_the_api_for_a_normal_member(gold_only):
    normal, gold = MemberFactory(tier="normal"), MemberFactory(tier="gold")

    response = api_client(normal).get(f"/api/v1/products/{gold_only.pk}/")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such product.",
                                         "fields": {}}}
    assert api_client(gold).get(f"/api/v1/products/{gold_only.pk}/").json()["id"] == gold_only.pk


@pytest.mark.parametrize(("fields", "message"), [
    ({"visible_tiers": ["gold"]}, "This product is not offered to your membership tier."),
    # The listings and the product page never showed it; redeem agrees with them now.
    ({"category": "closed"}, "This product is no longer offered."),
])
def test_redeem_itself_refuses_what_the_member_cannot_see_with_nothing_written(fields, message,
                                                                              ledger_invariants):
    if fields.get("category") == "closed":
        fields = {"category": Category.objects.create(name="Closed", active=False)}
    member = MemberFactory(tier="normal")
    fund(member, 1000)
    product = make_product(**fields)
    before = snapshot()

    with pytest.raises(NotAvailable) as refused:
        services.redeem(member, product, key="r1")

    assert (refused.value.code, str(refused.value.message)) == ("not_available", message)
    assert snapshot() == before
    assert ledger_invariants() == []


# --------------------------------------------------------------------------- the admin


def test_the_admin_counts_a_product_in_a_closed_category_as_not_on_sale(client):
    from tests.factories import StaffFactory

    make_product(name="Tea")
    make_product(name="Old tea", category=Category.objects.create(name="Closed", active=False))
    client.force_login(StaffFactory(is_superuser=True))
    url = "/admin/catalog/product/"

    on_sale = client.get(url + "?on_sale=yes").context["cl"].result_list
    off_sale = client.get(url + "?on_sale=no").context["cl"].result_list
    listed = client.get(url)

    assert [product.name for product in on_sale] == ["Tea"]
    assert [product.name for product in off_sale] == ["Old tea"]
    admin = listed.context["cl"].model_admin
    assert {product.name: admin.on_sale(product) for product in listed.context["cl"].result_list} == {
        "Tea": True, "Old tea": False}
