"""catalog.services: stock changes, coupon-code pools and product saves."""

import pytest

from catalog import services
from catalog.errors import (
    DuplicateCodes,
    InvalidArgument,
    InvalidQuantity,
)
from catalog.models import CouponCode, Product, ProductKind, StockMovement
from tests.catalog.helpers import free_codes, fund, make_product, snapshot, stock

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


# --------------------------------------------------------------------------- stock


def test_adjust_stock_records_the_reason_and_staff(staff):
    product = make_product(stock=5)

    movement = services.adjust_stock(product, 7, reason="delivery 42", staff=staff)

    assert (movement.delta, movement.stock_after, movement.reason) == (7, 12, "delivery 42")
    assert movement.staff == staff
    assert product.stock == 12
    assert stock(product) == (12, 0)
    movement = services.adjust_stock(product, -12, reason="damaged", staff=staff)
    assert (movement.delta, movement.stock_after) == (-12, 0)
    assert stock(product) == (0, 0)


def test_adjust_stock_never_goes_below_zero(staff):
    product = make_product(stock=3)
    before = snapshot()

    with pytest.raises(InvalidQuantity) as refused:
        services.adjust_stock(product, -4, reason="count", staff=staff)

    assert "below 0" in refused.value.message
    assert snapshot() == before


@pytest.mark.parametrize("delta,reason,error", [
    (0, "r", InvalidQuantity), (1.0, "r", InvalidQuantity), (True, "r", InvalidQuantity),
    ("3", "r", InvalidQuantity), (10**9 + 1, "r", InvalidQuantity), (2**31, "r", InvalidQuantity),
    (3, "", InvalidArgument), (3, "  ", InvalidArgument), (3, None, InvalidArgument),
])
def test_adjust_stock_refuses_bad_input(staff, delta, reason, error):
    product = make_product(stock=3)
    with pytest.raises(error):
        services.adjust_stock(product, delta, reason=reason, staff=staff)
    assert stock(product) == (3, 0)


def test_coupon_stock_can_rise_only_up_to_its_free_codes(staff):
    product = make_product(kind=ProductKind.COUPON, codes=["A", "B", "C"])
    with pytest.raises(InvalidQuantity):
        services.adjust_stock(product, 1, reason="more", staff=staff)
    services.adjust_stock(product, -2, reason="hold back two codes", staff=staff)
    assert stock(product) == (1, 0)
    services.adjust_stock(product, 2, reason="release them", staff=staff)
    assert stock(product) == (3, 0)
    with pytest.raises(InvalidQuantity):
        services.adjust_stock(product, 1, reason="more", staff=staff)


def test_import_coupon_codes_adds_codes_and_stock(staff):
    product = make_product(kind=ProductKind.COUPON)
    assert stock(product) == (0, 0)

    assert services.import_coupon_codes(product, [" X1 ", "X2", "", "x1"], staff=staff) == 3

    assert free_codes(product) == ["X1", "X2", "x1"]  # codes are case-sensitive
    assert stock(product) == (3, 0)
    assert product.stock == 3
    movement = StockMovement.objects.get(product=product)
    assert (movement.delta, movement.stock_after, movement.staff) == (3, 3, staff)
    assert movement.reason == "Imported 3 coupon codes"


def test_import_refuses_duplicates_in_the_file_listing_them(staff):
    product = make_product(kind=ProductKind.COUPON)
    with pytest.raises(DuplicateCodes) as refused:
        services.import_coupon_codes(product, ["A", "B", "A", "C", "B", "D"], staff=staff)
    assert refused.value.codes == ["A", "B"]
    assert "A, B" in refused.value.message
    assert free_codes(product) == []
    assert stock(product) == (0, 0)


def test_import_refuses_codes_already_in_the_database_all_or_nothing(staff):
    first = make_product(kind=ProductKind.COUPON, codes=["A", "B"])
    second = make_product(kind=ProductKind.COUPON, name="Other")
    before = snapshot()

    with pytest.raises(DuplicateCodes) as refused:
        services.import_coupon_codes(second, ["N1", "B", "N2", "A"], staff=staff)

    assert refused.value.codes == ["A", "B"]
    assert snapshot() == before
    assert free_codes(first) == ["A", "B"]


@pytest.mark.parametrize("codes", [[], ["", "  "], ["x" * 65]])
def test_import_refuses_empty_or_malformed_files(staff, codes):
    product = make_product(kind=ProductKind.COUPON)
    with pytest.raises(InvalidArgument):
        services.import_coupon_codes(product, codes, staff=staff)
    assert stock(product) == (0, 0)


def test_import_refuses_a_product_that_is_not_a_coupon(staff):
    product = make_product()
    with pytest.raises(InvalidArgument):
        services.import_coupon_codes(product, ["A"], staff=staff)
    assert CouponCode.objects.count() == 0
    assert stock(product) == (10, 0)


# --------------------------------------------------------------------------- product saves


def test_save_product_creates_with_an_initial_stock_movement(staff):
    product = services.save_product(Product(name="Mug", points_price=300, stock=8), staff=staff)

    assert Product.objects.get(pk=product.pk).stock == 8
    movement = StockMovement.objects.get(product=product)
    assert (movement.delta, movement.stock_after, movement.reason) == (8, 8, "Initial stock")
    assert movement.staff == staff


def test_save_product_never_writes_stock_or_sold(member, staff, ledger_invariants):
    fund(member, 1000)
    product = make_product(stock=5)
    form_copy = Product.objects.get(pk=product.pk)  # what staff loaded into the form
    services.redeem(member, product, 2, key="r1")  # meanwhile a member redeems

    form_copy.name = "Green tea"
    form_copy.stock = 5  # the stale value the form still holds
    saved = services.save_product(form_copy, staff=staff)

    assert Product.objects.values_list("name", "stock", "sold").get(pk=product.pk) == ("Green tea", 3, 2)
    assert (saved.stock, saved.sold) == (3, 2)
    assert ledger_invariants() == []


def test_save_product_refuses_a_new_coupon_with_stock_and_a_stocked_product_turning_coupon(staff):
    with pytest.raises(InvalidQuantity):
        services.save_product(Product(name="Code", kind=ProductKind.COUPON, points_price=5, stock=3))
    assert Product.objects.count() == 0

    product = make_product(stock=2)
    product.kind = ProductKind.COUPON
    with pytest.raises(InvalidArgument):
        services.save_product(product, staff=staff)
    assert Product.objects.get(pk=product.pk).kind == "physical"
