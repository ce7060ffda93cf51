"""Member pages of the mall: browsing, redeeming (double submits, refusals, tier visibility) and
my redemptions."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Category, ProductKind, Redemption
from points.models import Entry
from tests.catalog.helpers import fund, make_product, stock
from tests.factories import MemberFactory
from tests.pages.helpers import KEY_RE, address_id, available, confirm_key, messages_of, text

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- the mall


def test_mall_lists_categories_products_and_searches(member_client):
    fruit = Category.objects.create(name="Fruit", sort_order=1)
    Category.objects.create(name="Hidden", active=False)
    make_product(name="Mango box", category=fruit, points_price=300)
    make_product(name="Movie coupon", kind=ProductKind.COUPON, points_price=200, codes=["C1", "C2"])

    page = text(member_client.get("/mall/"))
    assert "Mango box" in page and "Movie coupon" in page
    assert f'href="?category={fruit.pk}"' in page and "Hidden" not in page

    by_category = text(member_client.get(f"/mall/?category={fruit.pk}"))
    assert "Mango box" in by_category and "Movie coupon" not in by_category

    found = text(member_client.get("/mall/?q=movie"))
    assert "Movie coupon" in found and "Mango box" not in found

    nothing = text(member_client.get("/mall/?q=durian"))
    assert "No products match “durian”." in nothing


def test_mall_shows_only_affordable_products_for_the_expiry_reminder_link(member_client, member):
    make_product(name="Cheap socks", points_price=100)
    make_product(name="Dear kettle", points_price=5000)
    fund(member, 300)
    page = text(member_client.get("/mall/?affordable=1"))
    assert "Cheap socks" in page and "Dear kettle" not in page
    assert "Only products your points pay for." in page
    assert "Dear kettle" in text(member_client.get("/mall/"))


def test_mall_paginates_and_ignores_malformed_filters(member_client):
    for n in range(14):
        make_product(name=f"Item {n:02d}", points_price=10 + n)

    first = member_client.get("/mall/?ordering=points")
    second = member_client.get("/mall/?ordering=points&page=2")
    bad = member_client.get("/mall/?category=abc&ordering=nonsense&page=-1")

    assert [p["name"] for p in first.context["products"]][:2] == ["Item 00", "Item 01"]
    assert len(first.context["products"]) == 12
    assert 'href="?ordering=points&amp;page=2"' in text(first)
    assert [p["name"] for p in second.context["products"]] == ["Item 12", "Item 13"]
    assert bad.status_code == 200
    assert len(bad.context["products"]) == 12


def test_product_names_and_nicknames_are_escaped(member_client, member):
    member.nickname = "<script>alert('nick')</script>"
    member.save()
    product = make_product(name="<script>alert('product')</script>", points_price=10,
                           description="<b>bold</b>")
    fund(member, 100)

    for url in ("/", "/mall/", f"/mall/{product.pk}/", f"/mall/{product.pk}/redeem/"):
        page = text(member_client.get(url))
        assert "<script>alert(" not in page, url
        assert "&lt;script&gt;alert(&#x27;product&#x27;)&lt;/script&gt;" in page, url
        assert "&lt;script&gt;alert(&#x27;nick&#x27;)&lt;/script&gt;" in page, url
    assert "&lt;b&gt;bold&lt;/b&gt;" in text(member_client.get(f"/mall/{product.pk}/"))

    catalog_services.redeem(member, product, key="x1", address="<script>addr</script>")
    for url in ("/redemptions/", f"/redemptions/{Redemption.objects.get().pk}/", "/points/"):
        page = text(member_client.get(url))
        assert "<script>" not in page, url
        assert "&lt;script&gt;" in page, url


def test_product_page_shows_the_product(member_client, member):
    fund(member, 50)
    product = make_product(name="Tea", points_price=120, stock=3, cash_price=Decimal("9.90"),
                           per_member_limit=2, description="Green tea")

    response = member_client.get(f"/mall/{product.pk}/")

    page = text(response)
    assert response.status_code == 200
    assert "120 points + ¥9.90" in page
    assert "Green tea" in page
    assert "Not enough points: 70 more needed" in page
    assert f'action="/mall/{product.pk}/redeem/"' in page


def test_products_not_on_sale_answer_404(member_client):
    hidden = make_product(name="Old", active=False)
    later = make_product(name="Later", sale_starts_at=timezone.now() + timedelta(days=3))

    assert member_client.get(f"/mall/{hidden.pk}/").status_code == 404
    assert member_client.get(f"/mall/{later.pk}/").status_code == 404
    assert member_client.get(f"/mall/{later.pk}/redeem/").status_code == 404
    assert member_client.get("/mall/999999/").status_code == 404


# --------------------------------------------------------------------------- redeem


def test_redeem_confirmation_shows_the_total_and_a_fresh_key(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=120)
    address_id(member)

    response = member_client.get(f"/mall/{product.pk}/redeem/?quantity=2")

    page = text(response)
    assert response.status_code == 200
    assert "240 points" in page
    assert "After redeeming" in page and ">760<" in page
    assert 'name="address_id"' in page  # physical goods ship
    first_key = KEY_RE.search(page).group(1)
    assert first_key != confirm_key(member_client, product)


def test_redeem_spends_the_points_and_a_double_submit_posts_once(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=120, stock=5)
    key = confirm_key(member_client, product, 2)
    form = {"key": key, "quantity": 2, "address_id": address_id(member)}

    first = member_client.post(f"/mall/{product.pk}/redeem/", form, follow=True)
    second = member_client.post(f"/mall/{product.pk}/redeem/", form, follow=True)

    redemption = Redemption.objects.get()
    assert first.redirect_chain == second.redirect_chain == [(f"/redemptions/{redemption.pk}/", 302)]
    assert messages_of(first) == ["Redeemed Tea × 2 for 240 points."]
    assert (redemption.key, redemption.quantity, redemption.points, redemption.status) == (
        key, 2, 240, "created")
    assert redemption.address == "Li Lei 13800138000\nShanghai Pudong 1 Road"
    assert available(member) == 760
    assert stock(product) == (3, 2)
    assert "Cancel this redemption" in text(first)


def test_redeem_a_coupon_shows_its_code(member_client, member):
    fund(member, 500)
    product = make_product(name="Movie coupon", kind=ProductKind.COUPON, points_price=200,
                           codes=["MOVIE-001", "MOVIE-002"])
    page = text(member_client.get(f"/mall/{product.pk}/redeem/"))
    assert 'type="hidden" name="address_id"' in page  # nothing to ship

    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": KEY_RE.search(page).group(1), "quantity": 1}, follow=True)

    assert "MOVIE-001" in text(response)
    assert "Issued" in text(response)  # a coupon is issued, not shipped
    assert "Cancel this redemption" not in text(response)
    assert "MOVIE-001" in text(member_client.get("/redemptions/"))


def _refused(response, code, title, detail):
    page = text(response)
    assert response.status_code == 409
    assert f'data-code="{code}"' in page
    assert f"<strong>{title}</strong>" in page
    assert f"<p>{detail}</p>" in page
    assert KEY_RE.search(page)  # a fresh key for another try


def test_redeem_with_too_few_points_explains_and_writes_nothing(member_client, member):
    fund(member, 100)
    product = make_product(name="Tea", points_price=120)

    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": confirm_key(member_client, product), "quantity": 1,
                                   "address_id": address_id(member)})

    _refused(response, "insufficient_points", "You do not have enough points.",
             "120 points needed, 100 available.")
    assert not Redemption.objects.exists()
    assert available(member) == 100


def test_redeem_out_of_stock(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=10, stock=1)

    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": confirm_key(member_client, product), "quantity": 2,
                                   "address_id": address_id(member)})

    _refused(response, "out_of_stock", "Out of stock.", "Only 1 left in stock.")
    assert stock(product) == (1, 0)


def test_redeem_over_the_limit(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=10, per_member_limit=1)
    catalog_services.redeem(member, product, key="first", address="Road 1")

    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": confirm_key(member_client, product), "quantity": 1,
                                   "address_id": address_id(member)})

    _refused(response, "limit_reached", "Limit reached.",
             "You can redeem at most 1 of this product; you already have 1.")
    assert Redemption.objects.count() == 1


def test_redeem_a_product_taken_off_sale_after_the_confirmation(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=10)
    key = confirm_key(member_client, product)
    product.active = False
    catalog_services.save_product(product)

    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": key, "quantity": 1, "address_id": address_id(member)})

    _refused(response, "not_available", "Not available.", "This product is no longer offered.")
    assert "Tea" in text(response)


def test_redeem_physical_goods_needs_an_address_and_a_valid_form(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=10)
    key = confirm_key(member_client, product)

    no_address = member_client.post(f"/mall/{product.pk}/redeem/", {"key": key, "quantity": 1})
    bad_key = member_client.post(f"/mall/{product.pk}/redeem/",
                                 {"key": "not-a-key", "quantity": 1, "address_id": address_id(member)})
    bad_quantity = member_client.post(f"/mall/{product.pk}/redeem/",
                                      {"key": key, "quantity": 0, "address_id": address_id(member)})

    assert no_address.status_code == bad_key.status_code == bad_quantity.status_code == 400
    assert "Add a shipping address first." in text(no_address)
    assert "Ensure this value is greater than or equal to 1." in text(bad_quantity)
    assert not Redemption.objects.exists()
    assert member_client.post("/mall/999999/redeem/", {"key": key, "quantity": 1}).status_code == 404


def test_redeem_key_reused_with_other_values_is_refused(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=10)
    key = confirm_key(member_client, product)
    member_client.post(f"/mall/{product.pk}/redeem/",
                       {"key": key, "quantity": 1, "address_id": address_id(member)})

    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": key, "quantity": 2, "address_id": address_id(member)})

    assert response.status_code == 409
    assert "This form was already sent with other values." in text(response)
    assert Redemption.objects.count() == 1


# --------------------------------------------------------------------------- my redemptions


def test_redemptions_list_only_my_own(member_client, member):
    other = MemberFactory()
    fund(member, 1000)
    fund(other, 1000)
    tea = make_product(name="Tea", points_price=10)
    wine = make_product(name="Wine", points_price=20)
    catalog_services.redeem(member, tea, key="mine", address="A")
    catalog_services.redeem(other, wine, key="theirs", address="B")

    response = member_client.get("/redemptions/")

    assert [r.key for r in response.context["page"].object_list] == ["mine"]
    assert "Tea × 1" in text(response) and "Wine" not in text(response)
    assert "Created" in text(response)


def test_empty_redemptions(member_client):
    assert "You have not redeemed anything yet." in text(member_client.get("/redemptions/"))


def test_another_members_redemption_answers_404(member_client):
    other = MemberFactory()
    fund(other, 1000)
    theirs = catalog_services.redeem(other, make_product(points_price=10), key="t", address="B")

    assert member_client.get(f"/redemptions/{theirs.pk}/").status_code == 404
    assert member_client.get(f"/redemptions/{theirs.pk}/cancel/").status_code == 404
    assert member_client.post(f"/redemptions/{theirs.pk}/cancel/", {"reason": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "created"


def test_cancel_before_fulfilment_returns_the_points(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=120, stock=5)
    redemption = catalog_services.redeem(member, product, key="r", address="A")

    confirm = member_client.get(f"/redemptions/{redemption.pk}/cancel/")
    assert confirm.status_code == 200
    assert (f"Cancel redemption #{redemption.pk} (Tea × 1)? 120 points will come back to your "
            "account.") in text(confirm)

    response = member_client.post(f"/redemptions/{redemption.pk}/cancel/",
                                  {"reason": "Changed my mind"}, follow=True)
    again = member_client.post(f"/redemptions/{redemption.pk}/cancel/", {"reason": ""}, follow=True)

    redemption.refresh_from_db()
    assert response.redirect_chain == [(f"/redemptions/{redemption.pk}/", 302)]
    assert messages_of(response) == [
        f"Redemption #{redemption.pk} is cancelled; 120 points are back in your account."]
    assert (redemption.status, redemption.cancel_reason) == ("cancelled", "Changed my mind")
    assert available(member) == 1000
    assert stock(product) == (5, 0)
    assert messages_of(again) == messages_of(response)  # posted once: nothing more came back
    assert available(member) == 1000
    assert Entry.objects.filter(account__member=member, kind="reverse").count() == 1
    assert "Cancelled" in text(again)


def test_a_fulfilled_redemption_cannot_be_cancelled(member_client, member):
    fund(member, 1000)
    coupon = make_product(name="Coupon", kind=ProductKind.COUPON, points_price=10, codes=["K1"])
    redemption = catalog_services.redeem(member, coupon, key="c")

    confirm = member_client.get(f"/redemptions/{redemption.pk}/cancel/", follow=True)
    posted = member_client.post(f"/redemptions/{redemption.pk}/cancel/", {"reason": ""}, follow=True)

    expected = ["A redemption that has been fulfilled cannot be cancelled."]
    assert messages_of(confirm) == messages_of(posted) == expected
    redemption.refresh_from_db()
    assert redemption.status == "fulfilled"
    assert available(member) == 990
