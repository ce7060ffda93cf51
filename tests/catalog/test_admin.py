"""The catalog admin: lists and filters, the product form through save_product, stock adjustments
through adjust_stock, coupon pools, redemption transitions, and the staff groups.

About 550 lines on purpose: the admin pages share the staff clients and the import/export helpers
at the top, and together they are what a catalog manager does in one session."""

import re
from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog import services
from catalog.models import Category, Product, ProductKind, Redemption, RedemptionStatus, StockMovement
from tests.catalog.helpers import fund, make_product, movements, stock
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

CATALOG_MANAGER = "商品管理 / Catalog manager"
CUSTOMER_SERVICE = "客服 / Customer service"


def staff_in(group_name, username):
    user = StaffFactory(username=username)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def manager():
    return staff_in(CATALOG_MANAGER, "manager")


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def service_client(client):
    client.force_login(staff_in(CUSTOMER_SERVICE, "service"))
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def fruit():
    parent = Category.objects.create(name="水果")
    return Category.objects.create(name="进口水果", parent=parent)


def url(model, name, *args, query=""):
    return reverse(f"admin:catalog_{model._meta.model_name}_{name}", args=args) + query


def texts(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def product_post(product, **changes):
    """The change form of ``product`` as the admin renders it, with ``changes`` applied."""
    data = {
        "name": product.name, "kind": product.kind, "category": product.category_id or "",
        "description": product.description, "points_price": product.points_price,
        "cash_price": product.cash_price, "per_member_limit": product.per_member_limit or "",
        "active": "on" if product.active else "", "visible_tiers": list(product.visible_tiers),
        "sale_starts_at_0": "", "sale_starts_at_1": "", "sale_ends_at_0": "", "sale_ends_at_1": "",
        "sort_order": product.sort_order,
        "stock_movements-TOTAL_FORMS": "1", "stock_movements-INITIAL_FORMS": "0",
        "stock_movements-MIN_NUM_FORMS": "0", "stock_movements-MAX_NUM_FORMS": "1000",
        "stock_movements-0-delta": "", "stock_movements-0-reason": "",
        "images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "0",
        "images-MIN_NUM_FORMS": "0", "images-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    if not data["active"]:
        del data["active"]
    return {key: value for key, value in data.items() if value is not None}


# --- Lists and filters --------------------------------------------------------------------------


def test_category_list_shows_the_tree_as_parent_slash_child(manager_client, fruit):
    Category.objects.create(name="券")
    body = manager_client.get(url(Category, "changelist")).content.decode()
    assert "水果 / 进口水果" in body
    assert body.index(">水果<") < body.index("水果 / 进口水果") < body.index(">券<")


def test_a_category_cannot_become_a_grandchild(manager_client, fruit):
    response = manager_client.post(url(Category, "add"), {"name": "车厘子", "parent": fruit.pk,
                                                         "sort_order": 0, "active": "on"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Category.objects.filter(name="车厘子").exists()


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["Cherries", "Kiwi", "Mango", "Shipping"]),
    ("?kind__exact=privilege", ["Shipping"]),
    ("?active__exact=0", ["Mango"]),
    ("?on_sale=yes", ["Cherries", "Shipping"]),
    ("?on_sale=no", ["Kiwi", "Mango"]),
    ("?stock_level=low", ["Kiwi", "Mango"]),
    ("?stock_level=out", ["Mango"]),
    ("?q=cher", ["Cherries"]),
])
def test_product_list_filters(manager_client, fruit, query, expected):
    now = timezone.now()
    make_product(name="Cherries", category=fruit, points_price=1500, cash_price=Decimal("9.90"), stock=50)
    make_product(name="Kiwi", category=fruit, stock=3, sale_starts_at=now + timedelta(days=2))
    make_product(name="Mango", stock=0, active=False)
    make_product(name="Shipping", kind=ProductKind.PRIVILEGE, points_price=200, stock=100)
    response = manager_client.get(url(Product, "changelist", query=query))
    assert response.status_code == 200
    shown = sorted(product.name for product in response.context["cl"].result_list)
    assert shown == expected


def test_product_list_columns(manager_client, fruit):
    make_product(name="Cherries", category=fruit, points_price=1500, cash_price=Decimal("9.90"), stock=50)
    response = manager_client.get(url(Product, "changelist"))
    body = response.content.decode()
    for text in ("Cherries", "水果 / 进口水果", "1500", "9.90", "50", "Physical goods"):
        assert text in body
    headers = [header["text"] for header in response.context["result_headers"]]
    assert headers == ["name", "kind", "category", "points price", "cash price", "stock", "sold", "active",
                           "sale window", "on sale now"]


def test_redemption_list_filters_and_member_search(manager_client):
    alice, bob = MemberFactory(username="alice"), MemberFactory(username="bob")
    fund(alice, 1000)
    fund(bob, 1000)
    tea = make_product(name="Tea", points_price=100)
    pass_ = make_product(name="Pass", kind=ProductKind.PRIVILEGE, points_price=100)
    services.redeem(alice, tea, key="a1")
    services.redeem(bob, pass_, key="b1")

    def shown(query):
        response = manager_client.get(url(Redemption, "changelist", query=query))
        assert response.status_code == 200
        rows = response.context["cl"].result_list
        return sorted((r.member.username, r.product.name, r.status) for r in rows)

    assert shown("") == [("alice", "Tea", "created"), ("bob", "Pass", "fulfilled")]
    assert shown("?status__exact=created") == [("alice", "Tea", "created")]
    assert shown(f"?product__id__exact={pass_.pk}") == [("bob", "Pass", "fulfilled")]
    assert shown("?q=bob") == [("bob", "Pass", "fulfilled")]
    today = timezone.localdate()
    assert len(shown(f"?created_at__year={today.year}&created_at__month={today.month}"
                     f"&created_at__day={today.day}")) == 2
    assert shown(f"?created_at__year={today.year - 1}") == []


def test_redemption_list_shows_the_codes(manager_client, member):
    fund(member, 1000)
    coupon = make_product(name="满50减5", kind=ProductKind.COUPON, codes=["C-1", "C-2", "C-3"])
    services.redeem(member, coupon, 2, key="c1")
    body = manager_client.get(url(Redemption, "changelist")).content.decode()
    assert "C-1, C-2" in body


# --- The product form ---------------------------------------------------------------------------


def test_editing_a_product_saves_through_save_product_and_invalidates_the_cache(
    manager_client, manager, fruit, django_capture_on_commit_callbacks
):
    product = make_product(name="Cherries", category=fruit, points_price=1500, stock=7)
    with patch("catalog.admin.products.services.save_product", wraps=services.save_product) as save, \
            patch("catalog.cache.invalidate") as invalidate, \
            django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(url(Product, "change", product.pk),
                                       product_post(product, points_price=1400, name="Cherries 1kg"))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    save.assert_called_once()
    assert save.call_args.kwargs == {"staff": manager}
    assert invalidate.called
    product.refresh_from_db()
    assert (product.name, product.points_price) == ("Cherries 1kg", 1400)
    assert stock(product) == (7, 0)


def test_stock_and_sold_are_read_only_in_the_form(manager_client):
    product = make_product(name="Tea", stock=7)
    response = manager_client.post(url(Product, "change", product.pk),
                                   product_post(product, stock="999", sold="5"))
    assert response.status_code == 302
    assert stock(product) == (7, 0)
    body = manager_client.get(url(Product, "change", product.pk)).content.decode()
    assert 'name="stock"' not in body and 'name="sold"' not in body


def test_a_new_product_can_start_with_stock_adjustments(manager_client, manager):
    form = manager_client.get(url(Product, "add")).content.decode()
    assert 'name="stock_movements-0-delta"' in form and 'name="stock"' not in form
    data = product_post(Product(name="Kiwi", kind=ProductKind.PHYSICAL, points_price=800),
                        **{"stock_movements-0-delta": "12", "stock_movements-0-reason": "first delivery"})
    response = manager_client.post(url(Product, "add"), data)
    assert response.status_code == 302
    product = Product.objects.get(name="Kiwi")
    assert stock(product) == (12, 0)
    movement = StockMovement.objects.get(product=product)
    assert (movement.delta, movement.stock_after, movement.reason, movement.staff) == (
        12, 12, "first delivery", manager)


def test_an_invalid_product_form_shows_errors(manager_client):
    product = make_product(name="Tea")
    now = timezone.localtime()
    response = manager_client.post(url(Product, "change", product.pk), product_post(
        product, points_price="0",
        sale_starts_at_0=f"{now:%Y-%m-%d}", sale_starts_at_1="10:00:00",
        sale_ends_at_0=f"{now:%Y-%m-%d}", sale_ends_at_1="09:00:00",
    ))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "points_price" in errors
    assert errors["sale_ends_at"] == ["The sale must end after it starts."]


def test_products_are_not_deleted_only_deactivated(manager_client, client):
    product = make_product(name="Tea")
    assert manager_client.get(url(Product, "delete", product.pk)).status_code == 403
    admin_user = StaffFactory(username="root", is_superuser=True)
    client.force_login(admin_user)
    assert client.get(url(Product, "delete", product.pk)).status_code == 403


# --- Stock adjustments --------------------------------------------------------------------------


def test_stock_adjustment_inline_applies_via_adjust_stock_with_the_reason(manager_client, manager):
    product = make_product(name="Tea", stock=10)
    data = product_post(product, **{
        "stock_movements-TOTAL_FORMS": "2",
        "stock_movements-0-delta": "5", "stock_movements-0-reason": "delivery 2024-05",
        "stock_movements-1-delta": "-3", "stock_movements-1-reason": " damaged in transit ",
    })
    with patch("catalog.admin.products.services.adjust_stock", wraps=services.adjust_stock) as adjust:
        response = manager_client.post(url(Product, "change", product.pk), data)
    assert response.status_code == 302
    assert [call.args[1:] for call in adjust.call_args_list] == [(5, ), (-3, )]
    assert stock(product) == (12, 0)
    rows = StockMovement.objects.filter(product=product).order_by("id")
    assert [(m.delta, m.stock_after, m.reason, m.staff) for m in rows][1:] == [
        (5, 15, "delivery 2024-05", manager), (-3, 12, "damaged in transit", manager),
    ]
    entry = LogEntry.objects.filter(object_id=str(product.pk)).latest("id")
    assert "stock movement" in entry.get_change_message()
    # The movements are listed, read-only, on the product page.
    body = manager_client.get(url(Product, "change", product.pk)).content.decode()
    assert "delivery 2024-05" in body and "damaged in transit" in body
    assert 'name="stock_movements-0-delta"' in body  # one empty row for the next adjustment


@pytest.mark.parametrize(("delta", "reason", "error"), [
    ("-11", "stocktake", "Stock cannot go below zero: 10 in stock, change -11."),
    ("4", "", "A reason is required."),
    ("4", "   ", "A reason is required."),
    ("0", "nothing", "Enter a non-zero change."),
    ("abc", "typo", "Enter a whole number."),
])
def test_a_bad_adjustment_is_a_form_error_and_changes_nothing(manager_client, delta, reason, error):
    product = make_product(name="Tea", stock=10)
    before = movements(product)
    response = manager_client.post(url(Product, "change", product.pk), product_post(
        product, name="Renamed", **{"stock_movements-0-delta": delta, "stock_movements-0-reason": reason}
    ))
    assert response.status_code == 200
    inline_errors = response.context["inline_admin_formsets"][0].formset.errors
    assert error in str(inline_errors) or error in str(response.context["errors"])
    assert stock(product) == (10, 0) and movements(product) == before
    assert Product.objects.get(pk=product.pk).name == "Tea"


def test_two_adjustments_that_together_go_below_zero_are_refused(manager_client):
    product = make_product(name="Tea", stock=10)
    response = manager_client.post(url(Product, "change", product.pk), product_post(product, **{
        "stock_movements-TOTAL_FORMS": "2",
        "stock_movements-0-delta": "-6", "stock_movements-0-reason": "a",
        "stock_movements-1-delta": "-6", "stock_movements-1-reason": "b",
    }))
    assert response.status_code == 200
    assert "Stock cannot go below zero: 4 in stock, change -6." in response.content.decode()
    assert stock(product) == (10, 0)


def test_stock_taken_between_the_check_and_the_save_is_a_message_not_a_500(manager_client):
    product = make_product(name="Tea", stock=10)
    data = product_post(product, name="Renamed", **{"stock_movements-0-delta": "-10",
                                                    "stock_movements-0-reason": "stocktake"})
    real = services.adjust_stock

    def redeemed_meanwhile(product_, delta, **kwargs):
        real(product_, -1, reason="sold meanwhile", staff=None)
        return real(product_, delta, **kwargs)

    with patch("catalog.admin.products.services.adjust_stock", side_effect=redeemed_meanwhile):
        response = manager_client.post(url(Product, "change", product.pk), data, follow=True)
    assert response.status_code == 200
    assert texts(response) == ["Nothing was saved: Stock cannot go below 0: 9 in stock, change -10."]
    # Rolled back as a whole: the rename, and even the concurrent movement of this test.
    assert Product.objects.get(pk=product.pk).name == "Tea" and stock(product) == (10, 0)


def test_a_coupon_gets_stock_from_codes_not_adjustments(manager_client):
    coupon = make_product(name="满50减5", kind=ProductKind.COUPON, codes=["A", "B"])
    response = manager_client.post(url(Product, "change", coupon.pk), product_post(
        coupon, **{"stock_movements-0-delta": "1", "stock_movements-0-reason": "more"}
    ))
    assert response.status_code == 200
    assert "cannot exceed its 2 unused codes" in response.content.decode()
    assert stock(coupon) == (2, 0)


# --- Coupon codes -------------------------------------------------------------------------------


def test_product_page_counts_free_and_assigned_codes(manager_client, member):
    fund(member, 1000)
    coupon = make_product(name="满50减5", kind=ProductKind.COUPON, codes=["A", "B", "C"])
    services.redeem(member, coupon, key="c1")
    body = manager_client.get(url(Product, "change", coupon.pk)).content.decode()
    assert "free: <b>2</b> · assigned: <b>1</b>" in body
    assert f"/admin/catalog/couponcode/import/?product={coupon.pk}" in body


def cells(html: str) -> list[list[str]]:
    """The rows of the first table in ``html`` as lists of cell texts (whitespace collapsed)."""
    table = re.search(r'<table class="stock-movements">(.*?)</table>', html, re.S).group(1)
    return [[" ".join(cell.split()) for cell in re.findall(r"<t[hd]>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]


def test_product_page_lists_the_latest_stock_movements(manager_client, manager, member, settings):
    settings.LANGUAGE_CODE = "en"  # stored reasons are written in the default language
    fund(member, 1000)
    product = make_product(name="Tea", stock=10)
    services.adjust_stock(product, -3, reason="broken <jar>", staff=manager)
    redemption = services.redeem(member, product, key="m1", address="Road 1")
    [initial, adjusted, sold] = StockMovement.objects.filter(product=product).order_by("id")

    body = manager_client.get(url(Product, "change", product.pk)).content.decode()

    def at(movement):
        return f"{timezone.localtime(movement.created_at):%Y-%m-%d %H:%M}"

    assert cells(body) == [
        ["at", "change", "stock after", "reason", "staff", "redemption"],
        [at(sold), "-1", "6", f"Redemption #{redemption.pk}", "-", f"#{redemption.pk}"],
        [at(adjusted), "-3", "7", "broken &lt;jar&gt;", str(manager), "-"],
        [at(initial), "+10", "10", "Initial stock", "-", "-"],
    ]
    link = f'<a href="/admin/catalog/stockmovement/?product__id__exact={product.pk}">'
    assert f"{link}all stock movements of this product</a>" in body


def test_product_page_without_stock_movements_says_so(manager_client):
    product = make_product(name="Tea", stock=0)

    body = manager_client.get(url(Product, "change", product.pk)).content.decode()

    assert 'class="stock-movements"' not in body
    assert "Only coupon products have a code pool." in body
    assert ("No stock movements yet. · <a href=\"/admin/catalog/stockmovement/?product__id__exact="
            f'{product.pk}">all stock movements of this product</a>') in body


def test_coupon_codes_are_listed_read_only(manager_client, member):
    fund(member, 1000)
    coupon = make_product(name="满50减5", kind=ProductKind.COUPON, codes=["A", "B", "C"])
    services.redeem(member, coupon, key="c1")
    response = manager_client.get(url(coupon.codes.model, "changelist", query="?assigned=no"))
    assert sorted(code.code for code in response.context["cl"].result_list) == ["B", "C"]
    code = coupon.codes.get(code="A")
    page = manager_client.get(url(coupon.codes.model, "change", code.pk))
    assert page.status_code == 200 and 'name="code"' not in page.content.decode()
    assert manager_client.post(url(coupon.codes.model, "change", code.pk), {"code": "Z"}).status_code == 403


# --- Redemptions --------------------------------------------------------------------------------


@pytest.fixture
def orders(member):
    fund(member, 10_000)
    tea = make_product(name="Tea", points_price=100, stock=10)
    return [services.redeem(member, tea, key=f"o{number}", address=f"Road {number}") for number in range(3)]


def act(client, action, redemptions, **data):
    post = {"action": action, "_selected_action": [r.pk for r in redemptions], **data}
    return client.post(url(Redemption, "changelist"), post, follow=True)


def statuses(redemptions):
    return [Redemption.objects.get(pk=r.pk).status for r in redemptions]


def test_fulfil_action_asks_for_tracking_numbers_then_ships(manager_client, orders):
    page = act(manager_client, "fulfil_redemptions", orders[:2])
    body = page.content.decode()
    assert f'name="tracking_{orders[0].pk}"' in body and "Road 0" in body
    done = act(manager_client, "fulfil_redemptions", orders[:2], apply="1",
               **{f"tracking_{orders[0].pk}": "SF100", f"tracking_{orders[1].pk}": "SF101"})
    assert texts(done) == ["Marked 2 redemptions fulfilled."]
    assert statuses(orders) == ["fulfilled", "fulfilled", "created"]
    assert Redemption.objects.get(pk=orders[1].pk).tracking_number == "SF101"


def test_fulfil_needs_a_tracking_number_for_physical_goods(manager_client, orders):
    response = act(manager_client, "fulfil_redemptions", orders[:1], apply="1",
                   **{f"tracking_{orders[0].pk}": ""})
    assert "This field is required." in response.content.decode()
    assert statuses(orders[:1]) == ["created"]


def test_complete_and_cancel_show_refusals_as_messages(manager_client, orders):
    services.fulfil(orders[0], tracking_number="SF1")
    done = act(manager_client, "complete_redemptions", orders[:2])
    assert texts(done) == [f"#{orders[1].pk}: Only a fulfilled redemption can be completed.",
                           "Completed 1 redemption."]
    assert statuses(orders) == ["completed", "created", "created"]

    form = act(manager_client, "cancel_redemptions", orders)
    assert 'name="reason"' in form.content.decode()
    done = act(manager_client, "cancel_redemptions", orders, apply="1", reason="out of stock at warehouse")
    assert texts(done) == [
        f"#{orders[0].pk}: A redemption that has been fulfilled cannot be cancelled.",
        "Cancelled 2 redemptions; the points and the stock are returned.",
    ]
    assert statuses(orders) == ["completed", "cancelled", "cancelled"]
    assert Redemption.objects.get(pk=orders[2].pk).cancel_reason == "out of stock at warehouse"
    assert stock(orders[0].product) == (9, 1)


def test_the_redemption_page_shows_who_fulfilled_and_completed_it(manager, manager_client, orders):
    act(manager_client, "fulfil_redemptions", orders[:1], apply="1", **{f"tracking_{orders[0].pk}": "SF1"})
    other = staff_in(CATALOG_MANAGER, "other")
    other_client = Client(HTTP_ACCEPT_LANGUAGE="en")
    other_client.force_login(other)
    act(other_client, "complete_redemptions", orders[:1])

    assert Redemption.objects.filter(pk=orders[0].pk).values_list(
        "fulfilled_by__username", "completed_by__username").get() == ("manager", "other")
    page = manager_client.get(url(Redemption, "change", orders[0].pk))
    fields = {field.field["name"]: field for fieldset in page.context["adminform"]
              for line in fieldset for field in line}
    assert (fields["fulfilled_by"].contents(), fields["completed_by"].contents()) == (
        f'<a href="/admin/mall/member/{manager.pk}/change/" class="text-link">{manager}</a>',
        f'<a href="/admin/mall/member/{other.pk}/change/" class="text-link">{other}</a>',
    )
    body = page.content.decode()
    assert re.search(r">\s*Fulfilled by\s*<", body) and re.search(r">\s*Completed by\s*<", body)


def test_cancel_needs_a_reason(manager_client, orders):
    response = act(manager_client, "cancel_redemptions", orders[:1], apply="1", reason="  ")
    assert "A reason is required." in response.content.decode()
    assert statuses(orders[:1]) == ["created"]


def test_buttons_on_the_redemption_page(manager_client, orders):
    redemption = orders[0]
    page = manager_client.get(url(Redemption, "change", redemption.pk))
    body = page.content.decode()
    fulfil_url = url(Redemption, "transition", redemption.pk, "fulfil")
    cancel_url = url(Redemption, "transition", redemption.pk, "cancel")
    assert fulfil_url in body and cancel_url in body
    assert 'name="_save"' not in body  # never edited as a form

    assert 'name="tracking_' in manager_client.get(fulfil_url).content.decode()
    done = manager_client.post(fulfil_url, {f"tracking_{redemption.pk}": "SF9"}, follow=True)
    assert texts(done) == ["Marked 1 redemption fulfilled."]
    assert done.redirect_chain[-1][0] == url(Redemption, "change", redemption.pk)
    complete_url = url(Redemption, "transition", redemption.pk, "complete")
    assert complete_url in done.content.decode() and cancel_url not in done.content.decode()
    assert texts(manager_client.post(complete_url, follow=True)) == ["Completed 1 redemption."]
    assert statuses([redemption]) == [RedemptionStatus.COMPLETED]
    refused = manager_client.post(cancel_url, {"reason": "too late"}, follow=True)
    assert texts(refused) == [f"#{redemption.pk}: A redemption that has been fulfilled cannot be cancelled."]
    assert manager_client.get(url(Redemption, "transition", redemption.pk, "explode")).status_code == 404


# --- Staff groups -------------------------------------------------------------------------------


def test_customer_service_can_cancel_but_not_edit_products_or_ship(service_client, orders):
    product = orders[0].product
    assert service_client.get(url(Redemption, "changelist")).status_code == 200
    actions = [name for name, _label in service_client.get(url(Redemption, "changelist"))
               .context["action_form"].fields["action"].choices]
    assert actions == ["", "cancel_redemptions"]

    done = act(service_client, "cancel_redemptions", orders[:1], apply="1", reason="member asked")
    assert texts(done) == ["Cancelled 1 redemption; the points and the stock are returned."]
    assert statuses(orders[:1]) == ["cancelled"]
    assert service_client.post(url(Redemption, "transition", orders[1].pk, "cancel"),
                               {"reason": "member asked"}).status_code == 302
    assert statuses(orders[1:2]) == ["cancelled"]

    assert service_client.post(url(Redemption, "transition", orders[2].pk, "fulfil"),
                               {f"tracking_{orders[2].pk}": "SF1"}).status_code == 403
    act(service_client, "fulfil_redemptions", orders[2:], apply="1", **{f"tracking_{orders[2].pk}": "SF1"})
    assert statuses(orders[2:]) == ["created"]

    # Products: visible, not editable, no stock adjustments, no import.
    assert service_client.get(url(Product, "change", product.pk)).status_code == 200
    before = stock(product)
    response = service_client.post(url(Product, "change", product.pk), product_post(
        product, name="Hacked", **{"stock_movements-0-delta": "5", "stock_movements-0-reason": "x"}))
    assert response.status_code == 403
    assert Product.objects.get(pk=product.pk).name == "Tea" and stock(product) == before
    assert service_client.get(url(Product, "add")).status_code == 403
    assert service_client.get(url(Product, "import")).status_code == 403


def test_catalog_manager_permissions(manager):
    for permission in ("catalog.change_product", "catalog.add_stockmovement", "catalog.add_couponcode",
                       "catalog.change_redemption", "catalog.cancel_redemption", "catalog.delete_category"):
        assert manager.has_perm(permission), permission
    assert not manager.has_perm("catalog.change_stockmovement")
    assert not manager.has_perm("catalog.change_couponcode")


@pytest.mark.django_db(transaction=True)
def test_product_save_and_adjustment_commit_for_real(client):
    """Outside a test transaction: the admin's own transaction around the services commits, and
    the catalog cache is invalidated after that commit."""
    root = StaffFactory(username="root", is_superuser=True)
    client.force_login(root)
    product = make_product(name="Tea", stock=10)
    with patch("catalog.cache.invalidate") as invalidate:
        response = client.post(url(Product, "change", product.pk), product_post(
            product, name="Oolong",
            **{"stock_movements-0-delta": "-4", "stock_movements-0-reason": "stocktake"}))
    assert response.status_code == 302
    assert invalidate.call_count >= 1
    assert Product.objects.get(pk=product.pk).name == "Oolong" and stock(product) == (6, 0)
    assert StockMovement.objects.filter(product=product, staff=root).values_list("delta", "reason").get() == (
        -4, "stocktake")
