"""Member pages through the Django test client: every page and form, success and error paths,
CSRF, escaping, and members seeing only their own data."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Category, ProductKind, Redemption
from mall import invite
from mall.models import Member
from points.models import Entry
from points.services import earning
from tests.catalog.helpers import fund, make_product, stock
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

KEY_RE = re.compile(r'name="key" value="([0-9a-f]{32})"')


def text(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def confirm_key(member_client, product, quantity=1) -> str:
    response = member_client.get(f"/mall/{product.pk}/redeem/?quantity={quantity}")
    assert response.status_code == 200
    return KEY_RE.search(text(response)).group(1)


def available(member) -> int:
    from points.selectors import balance

    return balance(member).available


# --------------------------------------------------------------------------- sign-in required


@pytest.mark.parametrize("url", [
    "/", "/points/", "/mall/", "/mall/1/", "/mall/1/redeem/", "/redemptions/", "/redemptions/1/",
    "/redemptions/1/cancel/", "/invite/", "/accounts/profile/",
])
def test_member_pages_redirect_anonymous_visitors_to_sign_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_check_in_needs_sign_in(client):
    response = client.post("/check-in/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/check-in/"


# --------------------------------------------------------------------------- sign in / out


def test_login_page_renders_in_chinese_by_default(db):
    response = Client().get("/accounts/login/")

    assert response.status_code == 200
    assert '<html lang="zh-hans">' in text(response)
    assert 'name="csrfmiddlewaretoken"' in text(response)


def test_login_signs_in_and_follows_a_local_next(client, member):
    response = client.post("/accounts/login/", {"username": member.username,
                                                "password": "pass-for-tests-1", "next": "/mall/"})

    assert response.status_code == 302
    assert response["Location"] == "/mall/"
    assert client.get("/").status_code == 200


def test_login_ignores_a_next_on_another_site(client, member):
    response = client.post("/accounts/login/", {"username": member.username,
                                                "password": "pass-for-tests-1",
                                                "next": "https://evil.example/steal"})

    assert response["Location"] == "/"


def test_login_with_phone_number(client):
    member = MemberFactory(phone="13800138000")

    response = client.post("/accounts/login/", {"username": "13800138000",
                                                "password": "pass-for-tests-1"})

    assert response.status_code == 302
    assert client.get("/").context["user"] == member


def test_login_with_a_wrong_password_is_refused(client, member):
    response = client.post("/accounts/login/", {"username": member.username, "password": "nope"})

    assert response.status_code == 400
    assert "The username or password is not correct." in text(response)
    assert client.get("/").status_code == 302


def test_login_with_missing_fields_shows_field_errors(client):
    response = client.post("/accounts/login/", {"username": "", "password": ""})

    assert response.status_code == 400
    assert text(response).count("This field is required.") == 2


def test_login_is_throttled_per_username_and_address(client, member):
    for _ in range(5):
        assert client.post("/accounts/login/", {"username": member.username,
                                                "password": "wrong"}).status_code == 400

    # Now even the right password is refused from this address for this username...
    response = client.post("/accounts/login/", {"username": member.username,
                                                "password": "pass-for-tests-1"})
    assert response.status_code == 429
    assert "Too many failed sign-ins. Please try again in 15 minutes." in text(response)
    assert client.get("/").status_code == 302

    # ...while the same username from another address, and another username, still work.
    other = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="10.9.8.7")
    assert other.post("/accounts/login/", {"username": member.username,
                                           "password": "pass-for-tests-1"}).status_code == 302
    someone = MemberFactory()
    assert client.post("/accounts/login/", {"username": someone.username,
                                            "password": "pass-for-tests-1"}).status_code == 302


def test_logout_is_a_post(member_client):
    assert member_client.get("/accounts/logout/").status_code == 405

    response = member_client.post("/accounts/logout/", follow=True)

    assert response.redirect_chain == [("/accounts/login/", 302)]
    assert messages_of(response) == ["You have signed out."]
    assert member_client.get("/").status_code == 302


def test_signed_in_member_visiting_login_goes_home(member_client):
    assert member_client.get("/accounts/login/")["Location"] == "/"
    assert member_client.get("/accounts/register/")["Location"] == "/"


# --------------------------------------------------------------------------- register


def test_register_link_keeps_the_invite_code_in_the_form(client):
    response = client.get("/accounts/register/?invite=AB12CD34")

    assert response.status_code == 200
    assert 'name="invite_code" value="AB12CD34"' in text(response)
    assert "Invited with code AB12CD34" in text(response)


def test_register_creates_the_member_signs_in_and_earns_the_register_points(client):
    response = client.post("/accounts/register/", {
        "username": "newbie", "password": "a-long-passphrase-9", "password2": "a-long-passphrase-9",
        "phone": "13900000001", "invite_code": "AB12CD34",
    }, follow=True)

    assert response.redirect_chain == [("/", 302)]
    assert messages_of(response) == ["Welcome! You earned 200 points for joining."]
    member = Member.objects.get(username="newbie")
    assert (member.phone, response.context["user"]) == ("13900000001", member)
    assert member.check_password("a-long-passphrase-9")
    assert available(member) == 200
    assert list(Entry.objects.filter(account__member=member).values_list("kind", "delta")) == [
        ("earn", 200)]
    assert 'data-testid="available">200<' in text(response)


def test_register_errors_keep_the_input_and_the_invite_code(client):
    MemberFactory(username="taken")

    response = client.post("/accounts/register/", {
        "username": "Taken", "password": "a-long-passphrase-9", "password2": "a-long-passphrase-9",
        "invite_code": "AB12CD34",
    })

    assert response.status_code == 400
    assert "This username is taken by another member." in text(response)
    assert 'name="invite_code" value="AB12CD34"' in text(response)
    assert 'name="username" value="Taken"' in text(response)
    assert Member.objects.filter(username__iexact="taken").count() == 1


def test_register_refuses_different_passwords_a_weak_password_and_a_bad_invite_code(client):
    response = client.post("/accounts/register/", {
        "username": "x1", "password": "a-long-passphrase-9", "password2": "another-one-9",
        "invite_code": "no!",
    })
    assert response.status_code == 400
    assert "The two passwords differ." in text(response)
    assert "An invite code is 4 to 16 letters or digits." in text(response)

    response = client.post("/accounts/register/", {
        "username": "x1", "password": "12345678", "password2": "12345678",
    })
    assert response.status_code == 400
    assert "This password is too common." in text(response)
    assert "This password is entirely numeric." in text(response)
    assert not Member.objects.filter(username="x1").exists()


def test_register_refuses_a_taken_phone(client):
    MemberFactory(phone="13900000002")

    response = client.post("/accounts/register/", {
        "username": "x2", "password": "a-long-passphrase-9", "password2": "a-long-passphrase-9",
        "phone": "13900000002",
    })

    assert response.status_code == 400
    assert "This phone number is taken by another member." in text(response)


# --------------------------------------------------------------------------- home and check-in


def test_home_shows_balance_pending_expiring_streak_and_affordable_products(member_client, member):
    now = timezone.now()
    fund(member, 300, key="a", expires_at=now + timedelta(days=20))
    fund(member, 40, key="p", available_at=now + timedelta(days=7))
    make_product(name="Cheap tea", points_price=100)
    make_product(name="Pricey wine", points_price=5000)

    response = member_client.get("/")

    page = text(response)
    assert response.status_code == 200
    assert 'data-testid="available">300<' in page
    assert 'data-testid="pending">40<' in page
    day = timezone.localdate(now + timedelta(days=20))
    assert response.context["expiring"][0][1] == 300
    assert response.context["expiring"][0][0].month == day.month
    assert "300 points expire after" in page
    assert "Streak: 0 days" in page
    assert "You can redeem" in page
    assert "Cheap tea" in page and "Pricey wine" not in page


def test_home_with_nothing_affordable_shows_the_cheapest_products(member_client):
    make_product(name="Pricey wine", points_price=5000)

    page = text(member_client.get("/"))

    assert "Keep earning for these" in page
    assert "Pricey wine" in page


def test_check_in_posts_once_a_day_and_shows_the_streak(member_client, member):
    response = member_client.post("/check-in/", follow=True)

    assert response.redirect_chain == [("/", 302)]
    assert messages_of(response) == ["Checked in: +5 points, 1 day in a row."]
    assert "Streak: 1 day" in text(response)
    assert "Checked in · +5" in text(response)
    assert available(member) == 5

    again = member_client.post("/check-in/", follow=True)

    assert messages_of(again) == ["You have already checked in today (1 day in a row)."]
    assert available(member) == 5


def test_check_in_continues_yesterdays_streak(member_client, member):
    earning.check_in(member, now=timezone.now() - timedelta(days=1))

    assert "Streak: 1 day" in text(member_client.get("/"))
    response = member_client.post("/check-in/", follow=True)

    assert messages_of(response) == ["Checked in: +8 points, 2 days in a row."]
    assert "Streak: 2 days" in text(response)


def test_check_in_with_htmx_returns_the_card_only(member_client, member):
    response = member_client.post("/check-in/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    page = text(response)
    assert page.startswith('<section class="card check-in" id="check-in">')
    assert "Checked in: +5 points, 1 day in a row." in page
    assert "Streak: 1 day" in page
    assert "<html" not in page
    # The balance elsewhere on the page is updated out of band.
    assert page.rstrip().endswith(
        '<p class="big" id="available" data-testid="available" hx-swap-oob="true">5</p>')


def test_check_in_is_post_only(member_client):
    assert member_client.get("/check-in/").status_code == 405


def test_forms_refuse_a_post_without_the_csrf_token(member):
    strict = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    strict.force_login(member)
    product = make_product(name="Tea", points_price=10)
    fund(member, 100)

    assert strict.post("/check-in/").status_code == 403
    assert strict.post(f"/mall/{product.pk}/redeem/",
                       {"key": "a" * 32, "quantity": 1, "address": "Road 1"}).status_code == 403
    assert strict.post("/accounts/profile/", {"nickname": "x"}).status_code == 403
    assert Client(enforce_csrf_checks=True).post(
        "/accounts/login/", {"username": member.username, "password": "pass-for-tests-1"}
    ).status_code == 403
    assert Entry.objects.filter(account__member=member).count() == 1  # only the funding
    assert not Redemption.objects.exists()

    # With the token from the page, the same post goes through.
    page = strict.get("/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text(page)).group(1)
    assert strict.post("/check-in/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert available(member) == 105


# --------------------------------------------------------------------------- points history


def test_history_lists_entries_with_reason_and_explanation(member_client, member):
    earning.check_in(member)
    fund(member, 70, key="gift")

    response = member_client.get("/points/")

    page = text(response)
    assert response.status_code == 200
    entries = list(response.context["page"].object_list)
    assert [(e.kind, e.delta, e.balance_after) for e in entries] == [("earn", 70, 75), ("earn", 5, 5)]
    check_in_entry = entries[1]
    # Stored in the site's default language (the Chinese catalog may translate it): one line.
    assert len(check_in_entry.explanation["lines"]) == 1
    for line in check_in_entry.explanation["lines"]:
        assert f"<li>{line}</li>" in page
    assert check_in_entry.reason in page
    assert "+70" in page and "Balance 75" in page


def test_history_filters_by_kind_and_day_and_shows_only_own_entries(member_client, member):
    other = MemberFactory()
    fund(other, 999, key="other")
    fund(member, 500, key="mine")
    product = make_product(name="Tea", points_price=120)
    catalog_services.redeem(member, product, key="r1", address="Road 1")

    spends = member_client.get("/points/?kind=spend")
    assert [(e.kind, e.delta) for e in spends.context["page"].object_list] == [("spend", -120)]
    assert "Tea" in text(spends)

    today = timezone.localdate().isoformat()
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert len(member_client.get(f"/points/?date_from={today}&date_to={today}")
               .context["page"].object_list) == 2
    assert len(member_client.get(f"/points/?date_from={tomorrow}").context["page"].object_list) == 0
    everything = member_client.get("/points/")
    assert [e.delta for e in everything.context["page"].object_list] == [-120, 500]
    assert "999" not in text(everything)


def test_history_with_a_malformed_filter_shows_the_error_and_all_entries(member_client, member):
    fund(member, 10)

    response = member_client.get("/points/?kind=bogus&date_from=yesterday")

    assert response.status_code == 200
    assert "Select a valid choice. bogus is not one of the available choices." in text(response)
    assert "Enter a valid date." in text(response)
    assert len(response.context["page"].object_list) == 1


def test_history_is_paginated_and_keeps_the_filters(member_client, member):
    for n in range(23):
        fund(member, n + 1, key=f"f{n}")

    first = member_client.get("/points/?kind=earn")
    second = member_client.get("/points/?kind=earn&page=2")

    assert len(first.context["page"].object_list) == 20
    assert "Page 1 of 2" in text(first)
    assert 'href="?kind=earn&amp;page=2"' in text(first)
    assert [e.delta for e in second.context["page"].object_list] == [3, 2, 1]


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
    assert "You need 120 points for one; you have 50." in page
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

    response = member_client.get(f"/mall/{product.pk}/redeem/?quantity=2")

    page = text(response)
    assert response.status_code == 200
    assert "240 points" in page
    assert "After redeeming" in page and ">760<" in page
    assert 'name="address"' in page  # physical goods ship
    first_key = KEY_RE.search(page).group(1)
    assert first_key != confirm_key(member_client, product)


def test_redeem_spends_the_points_and_a_double_submit_posts_once(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=120, stock=5)
    key = confirm_key(member_client, product, 2)
    form = {"key": key, "quantity": 2, "address": "1 Road, Shanghai"}

    first = member_client.post(f"/mall/{product.pk}/redeem/", form, follow=True)
    second = member_client.post(f"/mall/{product.pk}/redeem/", form, follow=True)

    redemption = Redemption.objects.get()
    assert first.redirect_chain == second.redirect_chain == [(f"/redemptions/{redemption.pk}/", 302)]
    assert messages_of(first) == ["Redeemed Tea × 2 for 240 points."]
    assert (redemption.key, redemption.quantity, redemption.points, redemption.status) == (
        key, 2, 240, "created")
    assert redemption.address == "1 Road, Shanghai"
    assert available(member) == 760
    assert stock(product) == (3, 2)
    assert "Cancel this redemption" in text(first)


def test_redeem_a_coupon_shows_its_code(member_client, member):
    fund(member, 500)
    product = make_product(name="Movie coupon", kind=ProductKind.COUPON, points_price=200,
                           codes=["MOVIE-001", "MOVIE-002"])
    page = text(member_client.get(f"/mall/{product.pk}/redeem/"))
    assert 'type="hidden" name="address"' in page  # nothing to ship

    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": KEY_RE.search(page).group(1), "quantity": 1}, follow=True)

    assert "MOVIE-001" in text(response)
    assert "Fulfilled" in text(response)
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
                                   "address": "Road 1"})

    _refused(response, "insufficient_points", "You do not have enough points.",
             "120 points needed, 100 available.")
    assert not Redemption.objects.exists()
    assert available(member) == 100


def test_redeem_out_of_stock(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=10, stock=1)

    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": confirm_key(member_client, product), "quantity": 2,
                                   "address": "Road 1"})

    _refused(response, "out_of_stock", "Out of stock.", "Only 1 left in stock.")
    assert stock(product) == (1, 0)


def test_redeem_over_the_limit(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=10, per_member_limit=1)
    catalog_services.redeem(member, product, key="first", address="Road 1")

    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": confirm_key(member_client, product), "quantity": 1,
                                   "address": "Road 1"})

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
                                  {"key": key, "quantity": 1, "address": "Road 1"})

    _refused(response, "not_available", "Not available.", "This product is no longer offered.")
    assert "Tea" in text(response)


def test_redeem_physical_goods_needs_an_address_and_a_valid_form(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=10)
    key = confirm_key(member_client, product)

    no_address = member_client.post(f"/mall/{product.pk}/redeem/", {"key": key, "quantity": 1})
    bad_key = member_client.post(f"/mall/{product.pk}/redeem/",
                                 {"key": "not-a-key", "quantity": 1, "address": "Road"})
    bad_quantity = member_client.post(f"/mall/{product.pk}/redeem/",
                                      {"key": key, "quantity": 0, "address": "Road"})

    assert no_address.status_code == bad_key.status_code == bad_quantity.status_code == 400
    assert "This field is required." in text(no_address)
    assert "Ensure this value is greater than or equal to 1." in text(bad_quantity)
    assert not Redemption.objects.exists()
    assert member_client.post("/mall/999999/redeem/", {"key": key, "quantity": 1}).status_code == 404


def test_redeem_key_reused_with_other_values_is_refused(member_client, member):
    fund(member, 1000)
    product = make_product(name="Tea", points_price=10)
    key = confirm_key(member_client, product)
    member_client.post(f"/mall/{product.pk}/redeem/", {"key": key, "quantity": 1, "address": "A"})

    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": key, "quantity": 2, "address": "A"})

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


# --------------------------------------------------------------------------- invite and account


def test_invite_page_shows_code_link_and_qr(member_client, member):
    response = member_client.get("/invite/")

    page = text(response)
    code = invite.invite_code(member)
    assert re.fullmatch(r"[A-Z2-7]{8}", code)
    assert code == invite.invite_code(Member.objects.get(pk=member.pk))  # stable
    assert code != invite.invite_code(MemberFactory())
    assert f'data-testid="invite-code">{code}<' in page
    assert f'value="http://testserver/accounts/register/?invite={code}"' in page
    assert '<svg viewBox="0 0 ' in page and 'class="qr"' in page and 'class="qrline"' in page
    # The link works: the register form carries the code.
    register = Client(HTTP_ACCEPT_LANGUAGE="en").get(f"/accounts/register/?invite={code}")
    assert f'name="invite_code" value="{code}"' in text(register)


def test_account_shows_and_saves_nickname_and_phone(member_client, member):
    page = text(member_client.get("/accounts/profile/"))
    assert f'value="{member.nickname}"' in page
    assert invite.invite_code(member) in page

    response = member_client.post("/accounts/profile/", {"nickname": "Ali <b>", "phone": "13700000000"},
                                  follow=True)

    member.refresh_from_db()
    assert (member.nickname, member.phone) == ("Ali <b>", "13700000000")
    assert messages_of(response) == ["Your account is saved."]
    assert "Ali &lt;b&gt;" in text(response)

    member_client.post("/accounts/profile/", {"nickname": "Ali", "phone": ""})
    member.refresh_from_db()
    assert member.phone is None


def test_account_refuses_a_taken_or_malformed_phone(member_client, member):
    MemberFactory(phone="13600000000")

    taken = member_client.post("/accounts/profile/", {"nickname": "A", "phone": "13600000000"})
    malformed = member_client.post("/accounts/profile/", {"nickname": "A", "phone": "12ab"})
    too_long = member_client.post("/accounts/profile/", {"nickname": "x" * 65, "phone": ""})

    assert taken.status_code == malformed.status_code == too_long.status_code == 400
    assert "This phone number is taken by another member." in text(taken)
    assert "Enter a phone number of 6 to 20 digits." in text(malformed)
    assert "Ensure this value has at most 64 characters (it has 65)." in text(too_long)
    member.refresh_from_db()
    assert member.phone is None and member.nickname != "A"


def test_language_switch_through_set_language(member):
    c = Client()
    c.force_login(member)
    assert '<html lang="zh-hans">' in text(c.get("/accounts/profile/"))

    response = c.post("/i18n/setlang/", {"language": "en", "next": "/accounts/profile/"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    page = text(c.get("/accounts/profile/"))
    assert '<html lang="en">' in page
    assert "My account" in page
    assert 'action="/i18n/setlang/"' in page
