"""The welcome offer (issue 10): a member within ``new_member_days`` (7) of joining pays
``new_member_redemption_discount`` (50) fewer points on their first redemption — once per
redemption, never below zero, on the points part only, kept once by the database — and sees it
on the product page, the cards, the confirmation page and in the API (``catalog.pricing``)."""

from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from catalog import cache, pricing, selectors, services
from catalog.errors import WelcomeOfferUsed
from catalog.models import ProductKind, Redemption
from points.errors import InsufficientPoints
from points.models import Entry
from rules.evaluator import RuleBook
from tests.catalog.helpers import fund, make_product, snapshot, stock
from tests.factories import MemberFactory
from tests.points.ledger import totals
from tests.threads import run_together

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    # The services invalidate after commit, which a test's transaction never reaches.
    from django.core.cache import cache as shared

    shared.clear()
    cache.reset()
    yield
    shared.clear()
    cache.reset()


@pytest.fixture
def newcomer(db):
    """Joined a moment ago: the offer applies to their first redemption."""
    return MemberFactory()


@pytest.fixture
def tea(db):
    return make_product(name="Tea", points_price=120, stock=10)


def spends(member) -> list[int]:
    return list(Entry.objects.filter(account__member=member, kind="spend")
                .order_by("id").values_list("delta", flat=True))


# --------------------------------------------------------------------------- the price charged


def test_first_redemption_of_a_new_member_pays_the_price_less_the_discount(newcomer, tea,
                                                                           ledger_invariants):
    fund(newcomer, 1000)

    redemption = services.redeem(newcomer, tea, key="r1", address="Road 1")

    redemption.refresh_from_db()
    assert (redemption.points, redemption.welcome_discount) == (70, 50)
    assert (redemption.entry.delta, redemption.entry.balance_after) == (-70, 930)
    assert totals(newcomer)["available"] == 930
    assert totals(newcomer)["lifetime_spent"] == 70
    assert ledger_invariants() == []


def test_the_second_redemption_pays_the_full_price(newcomer, tea, ledger_invariants):
    fund(newcomer, 1000)
    services.redeem(newcomer, tea, key="r1", address="Road 1")

    second = services.redeem(newcomer, tea, key="r2", address="Road 1")

    assert (second.points, second.welcome_discount) == (120, 0)
    assert spends(newcomer) == [-70, -120]
    assert totals(newcomer)["available"] == 810
    assert ledger_invariants() == []


def test_the_window_is_new_member_days_after_joining_exactly(tea, ledger_invariants):
    now = timezone.now()
    # A minute left: still new (the redemption runs a moment after "now").
    inside = MemberFactory(date_joined=now - timedelta(days=7) + timedelta(minutes=1))
    outside = MemberFactory(date_joined=now - timedelta(days=7))
    fund(inside, 500)
    fund(outside, 500)

    assert services.redeem(inside, tea, key="in", address="A").points == 70
    assert services.redeem(outside, tea, key="out", address="A").points == 120
    assert Redemption.objects.get(key="out").welcome_discount == 0
    assert ledger_invariants() == []


def test_a_cancelled_first_redemption_gives_the_offer_back(newcomer, tea, ledger_invariants):
    fund(newcomer, 1000)
    first = services.redeem(newcomer, tea, key="r1", address="Road 1")

    services.cancel(first, reason="changed my mind")
    assert totals(newcomer)["available"] == 1000
    again = services.redeem(newcomer, tea, key="r2", address="Road 1")

    assert (again.points, again.welcome_discount) == (70, 50)
    first.refresh_from_db()
    assert (first.status, first.welcome_discount) == ("cancelled", 50)  # what it had, kept
    assert totals(newcomer)["available"] == 930
    assert ledger_invariants() == []


def test_the_discount_is_once_per_redemption_not_per_unit(newcomer, tea, ledger_invariants):
    fund(newcomer, 1000)

    redemption = services.redeem(newcomer, tea, 3, key="r1", address="Road 1")

    assert (redemption.points, redemption.welcome_discount) == (310, 50)
    assert ledger_invariants() == []


def test_points_and_cash_takes_the_discount_off_the_points_only(newcomer, ledger_invariants):
    fund(newcomer, 1000)
    mug = make_product(name="Mug", points_price=80, cash_price=Decimal("9.90"))

    redemption = services.redeem(newcomer, mug, 2, key="r1", address="Road 1")

    assert (redemption.points, redemption.welcome_discount, redemption.cash) == (
        110, 50, Decimal("19.80"))
    assert ledger_invariants() == []


def test_a_price_below_the_discount_costs_nothing_and_posts_no_spend(newcomer, ledger_invariants):
    # No points at all, not even an account: the ledger posts no 0-point spend, so none is made.
    pass_ = make_product(name="Free shipping", kind=ProductKind.PRIVILEGE, points_price=30)

    redemption = services.redeem(newcomer, pass_, key="r1")

    redemption.refresh_from_db()
    assert (redemption.points, redemption.welcome_discount, redemption.entry_id) == (0, 30, None)
    assert redemption.status == "fulfilled"
    assert stock(pass_) == (9, 1)
    assert Entry.objects.count() == 0
    assert totals(newcomer)["available"] == 0
    # The offer is used up: the next one is at full price.
    fund(newcomer, 100)
    assert services.redeem(newcomer, pass_, key="r2").points == 30
    assert ledger_invariants() == []


def test_cancelling_a_free_redemption_returns_the_stock_and_the_offer(newcomer, ledger_invariants):
    fund(newcomer, 100)
    sticker = make_product(name="Sticker", points_price=40, stock=3)
    free = services.redeem(newcomer, sticker, key="r1", address="Road 1")
    assert (free.points, free.entry_id) == (0, None)

    cancelled = services.cancel(free, reason="wrong address")

    assert (cancelled.status, cancelled.refund_entry_id) == ("cancelled", None)
    assert stock(sticker) == (3, 0)
    assert totals(newcomer)["available"] == 100
    assert services.redeem(newcomer, sticker, key="r2", address="Road 2").points == 0
    assert ledger_invariants() == []


def test_the_balance_is_checked_against_the_discounted_price(newcomer, tea, ledger_invariants):
    fund(newcomer, 69)
    before = snapshot()

    with pytest.raises(InsufficientPoints, match="70 points needed, 69 available"):
        services.redeem(newcomer, tea, key="r1", address="Road 1")

    assert snapshot() == before
    fund(newcomer, 1, key="one more")
    assert services.redeem(newcomer, tea, key="r1", address="Road 1").points == 70
    assert totals(newcomer)["available"] == 0
    assert ledger_invariants() == []


def test_a_retry_of_the_same_key_replays_the_discounted_redemption(newcomer, tea, ledger_invariants):
    fund(newcomer, 1000)
    first = services.redeem(newcomer, tea, key="r1", address="Road 1")

    # The offer is used now (and the window could have closed): the replay is the first result.
    again = services.redeem(newcomer, tea, key="r1", address="Road 1")

    assert again.pk == first.pk
    assert (again.points, again.welcome_discount) == (70, 50)
    assert spends(newcomer) == [-70]
    assert ledger_invariants() == []


def test_an_established_member_pays_list_price(member, tea, ledger_invariants):
    fund(member, 1000)

    redemption = services.redeem(member, tea, key="r1", address="Road 1")

    assert (redemption.points, redemption.welcome_discount) == (120, 0)
    assert ledger_invariants() == []


# --------------------------------------------------------------------------- "once", in the database


def test_the_database_keeps_one_discounted_redemption_per_member(newcomer, tea):
    fund(newcomer, 1000)
    first = services.redeem(newcomer, tea, key="r1", address="Road 1")
    second = services.redeem(newcomer, tea, key="r2", address="Road 1")

    with pytest.raises(IntegrityError, match="catalog_redemption_one_welcome"), transaction.atomic():
        Redemption.objects.filter(pk=second.pk).update(welcome_discount=50)
    # Once the first is cancelled, another may hold it.
    Redemption.objects.filter(pk=first.pk).update(status="cancelled")
    Redemption.objects.filter(pk=second.pk).update(welcome_discount=50)


def test_a_free_redemption_has_no_entry_and_a_paid_one_has_one(newcomer, tea):
    fund(newcomer, 1000)
    paid = services.redeem(newcomer, tea, key="r1", address="Road 1")

    with pytest.raises(IntegrityError, match="catalog_redemption_entry_iff_points"), \
            transaction.atomic():
        Redemption.objects.filter(pk=paid.pk).update(entry=None)
    with pytest.raises(IntegrityError, match="catalog_redemption_entry_iff_points"), \
            transaction.atomic():
        Redemption.objects.filter(pk=paid.pk).update(points=0)


def test_an_offer_the_index_refuses_is_a_clear_refusal_with_nothing_written(newcomer, tea):
    # Only a redemption written without the member lock could meet the index: simulate one by
    # a read that misses the member's first redemption.
    from catalog.services import redemption as module

    fund(newcomer, 1000)
    services.redeem(newcomer, tea, key="r1", address="Road 1")
    before = snapshot()
    read = module._read_for_redemption

    def missing_the_first(*args):
        product = read(*args)
        product.redeemed_before = False
        return product

    with patch.object(module, "_read_for_redemption", missing_the_first), \
            pytest.raises(WelcomeOfferUsed) as refused:
        services.redeem(newcomer, tea, key="r2", address="Road 1")

    assert refused.value.code == "welcome_offer_used"
    assert snapshot() == before
    # The retry under the same key is priced again, without the offer.
    assert services.redeem(newcomer, tea, key="r2", address="Road 1").points == 120


@pytest.mark.django_db(transaction=True)
def test_two_first_redemptions_at_once_get_the_offer_exactly_once(ledger_invariants):
    newcomer = MemberFactory()
    fund(newcomer, 1000)
    tea = make_product(name="Tea", points_price=120, stock=10)

    results = run_together(2, lambda i: services.redeem(newcomer, tea, key=f"r{i}", address="A"))

    assert all(isinstance(r, Redemption) for r in results), results
    assert sorted((r.points, r.welcome_discount) for r in results) == [(70, 50), (120, 0)]
    assert sorted(spends(newcomer)) == [-120, -70]
    assert totals(newcomer)["available"] == 810
    assert stock(tea) == (8, 2)
    assert ledger_invariants() == []


# --------------------------------------------------------------------------- the price shown


def test_price_for_prices_as_redeem_does(newcomer, member, tea):
    assert selectors.price_for(newcomer, tea) == pricing.Price(120, 50, Decimal("0.00"))
    assert selectors.price_for(newcomer, tea, 2).points == 190
    assert selectors.price_for(member, tea).points == 120
    product = selectors.product_detail(tea.pk)
    assert selectors.price_for(newcomer, product).points == 70  # a cached dict works too

    from django.contrib.auth.models import AnonymousUser

    assert selectors.welcome_offer_for(AnonymousUser()) == 0
    assert selectors.welcome_offer_for(None) == 0
    fund(newcomer, 1000)
    services.redeem(newcomer, tea, key="r1", address="Road 1")
    assert selectors.welcome_offer_for(newcomer) == 0


def test_no_published_rule_set_and_a_zero_discount_mean_no_offer(newcomer, tea):
    from rules.models import RuleSet

    with patch("catalog.pricing.rulebook_for", side_effect=RuleSet.DoesNotExist):
        assert selectors.welcome_offer_for(newcomer) == 0
    now = timezone.now()
    off = RuleBook(version=1, new_member_redemption_discount=0)
    assert pricing.welcome_offer(off, joined_at=now, redeemed_before=False, now=now) == 0
    on = RuleBook(version=1, new_member_days=3, new_member_redemption_discount=20)
    assert pricing.welcome_offer(on, joined_at=now, redeemed_before=False, now=now) == 20
    assert pricing.welcome_offer(on, joined_at=now, redeemed_before=True, now=now) == 0
    assert pricing.welcome_offer(on, joined_at=now - timedelta(days=3), redeemed_before=False,
                                 now=now) == 0


def page(member) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(member)
    return client


OFFER_TEXT = "New members: 50 points off the first redemption"


def test_product_page_and_cards_show_the_discounted_price(newcomer, member, tea):
    fund(newcomer, 100)

    product_page = page(newcomer).get(f"/mall/{tea.pk}/").content.decode()
    assert OFFER_TEXT in product_page
    assert '<del class="list-price">120 points</del>' in product_page
    assert '<span class="member-price" data-testid="member-price">70 points</span>' in product_page
    assert "You need" not in product_page  # 100 points pay for 70
    listing = page(newcomer).get("/mall/").content.decode()
    assert OFFER_TEXT in listing and '<del class="list-price">120 points</del>' in listing

    # The same cached product, read next by an established member: list price, no offer.
    established = page(member).get(f"/mall/{tea.pk}/").content.decode()
    assert OFFER_TEXT not in established and "<del" not in established
    assert "120 points" in established
    assert OFFER_TEXT not in page(member).get("/mall/").content.decode()


def test_points_and_cash_card_strikes_the_points_only(newcomer):
    make_product(name="Mug", points_price=80, cash_price=Decimal("9.90"))

    listing = page(newcomer).get("/mall/").content.decode()

    assert '<del class="list-price">80 points + ¥9.90</del>' in listing
    assert "30 points + ¥9.90" in listing


def test_confirmation_page_shows_the_discount_and_the_remainder(newcomer, member, tea):
    fund(newcomer, 1000)
    fund(member, 1000)

    response = page(newcomer).get(f"/mall/{tea.pk}/redeem/?quantity=2")
    body = response.content.decode()

    assert (response.context["list_total"], response.context["welcome_discount"]) == (240, 50)
    assert (response.context["total"], response.context["after"]) == (190, 810)
    assert "−50 points off the first redemption" in body
    assert '<del class="list-price">240 points</del>' in body
    assert '<strong data-testid="total">190 points</strong>' in body
    assert '<dd data-testid="after">810</dd>' in body

    plain = page(member).get(f"/mall/{tea.pk}/redeem/?quantity=2")
    assert (plain.context["total"], plain.context["after"]) == (240, 760)
    assert "points off the first redemption" not in plain.content.decode()


def test_redeeming_through_the_page_charges_what_it_showed(newcomer, tea):
    import re

    fund(newcomer, 1000)
    client = page(newcomer)
    key = re.search(r'name="key" value="([0-9a-f]{32})"',
                    client.get(f"/mall/{tea.pk}/redeem/").content.decode()).group(1)

    address = services.add_address(newcomer, recipient="Li", phone="13800138000", region="Shanghai",
                                   detail="Road 1")
    response = client.post(f"/mall/{tea.pk}/redeem/", {"key": key, "quantity": 1,
                                                       "address_id": address.pk})

    redemption = Redemption.objects.get(member=newcomer)
    assert response.status_code == 302
    assert (redemption.points, redemption.welcome_discount) == (70, 50)
    detail = client.get(f"/redemptions/{redemption.pk}/").content.decode()
    assert "−50 points off the first redemption" in detail
    # Used: the product page is back to the list price.
    assert OFFER_TEXT not in client.get(f"/mall/{tea.pk}/").content.decode()


def api(member) -> APIClient:
    token = RefreshToken.for_user(member).access_token
    return APIClient(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_api_products_carry_the_members_price(newcomer, member, tea):
    cheap = make_product(name="Sticker", points_price=30)

    detail = api(newcomer).get(f"/api/v1/products/{tea.pk}/").json()
    listed = {p["id"]: p for p in api(newcomer).get("/api/v1/products/").json()["results"]}
    plain = api(member).get(f"/api/v1/products/{tea.pk}/").json()

    assert (detail["points_price"], detail["member_points"], detail["welcome_discount"]) == (
        120, 70, 50)
    assert (listed[cheap.pk]["member_points"], listed[cheap.pk]["welcome_discount"]) == (0, 30)
    assert (plain["points_price"], plain["member_points"], plain["welcome_discount"]) == (
        120, 120, 0)


def test_api_affordable_counts_the_offer(newcomer, tea):
    fund(newcomer, 70)
    make_product(name="Caviar", points_price=121)

    names = [p["name"] for p in
             api(newcomer).get("/api/v1/products/?affordable=true").json()["results"]]

    assert names == ["Tea"]


def test_api_redemption_shows_its_welcome_discount(newcomer, tea, ledger_invariants):
    fund(newcomer, 1000)
    client = api(newcomer)

    created = client.post("/api/v1/redemptions/", {"product": tea.pk, "address": "Road 1"},
                          format="json", HTTP_IDEMPOTENCY_KEY="k1")
    replay = client.post("/api/v1/redemptions/", {"product": tea.pk, "address": "Road 1"},
                         format="json", HTTP_IDEMPOTENCY_KEY="k1")
    detail = client.get(f"/api/v1/redemptions/{created.json()['id']}/")

    assert created.status_code == 201
    assert (created.json()["points"], created.json()["welcome_discount"]) == (70, 50)
    assert replay.json() == created.json()
    assert (detail.json()["points"], detail.json()["welcome_discount"]) == (70, 50)
    assert ledger_invariants() == []
