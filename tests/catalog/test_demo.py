"""manage.py load_demo_catalog: the demo catalog, exactly, and idempotent."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from catalog.models import Category, CouponCode, Product, StockMovement

pytestmark = pytest.mark.django_db


def load():
    out = StringIO()
    call_command("load_demo_catalog", stdout=out)
    return out.getvalue()


def state():
    return {
        "categories": sorted(str(category) for category in Category.objects.select_related("parent")),
        "products": sorted(Product.objects.values_list(
            "name", "kind", "category__name", "points_price", "cash_price", "stock", "sold",
            "per_member_limit", "visible_tiers", "active")),
        "codes": list(CouponCode.objects.order_by("id").values_list("product__name", "code", "redemption")),
        "movements": list(StockMovement.objects.order_by("id").values_list("product__name", "delta",
                                                                           "stock_after")),
    }


def test_load_demo_catalog_creates_the_catalog():
    output = load()
    assert "Demo catalog ready: 6 categories, 8 products, 30 coupon codes" in output
    catalog = state()
    assert catalog["categories"] == [
        "券", "券 / 优惠券", "券 / 特权", "水果", "水果 / 应季水果", "水果 / 进口水果"]
    assert catalog["products"] == sorted([
        ("免运费券", "privilege", "特权", 200, Decimal("0.00"), 1000, 0, None, [], True),
        ("会员日 95 折券", "privilege", "特权", 500, Decimal("0.00"), 200, 0, 1, ["silver", "gold"], True),
        ("满50减5 优惠券", "coupon", "优惠券", 300, Decimal("0.00"), 20, 0, None, [], True),
        ("满100减15 优惠券", "coupon", "优惠券", 800, Decimal("0.00"), 10, 0, 2, [], True),
        ("进口车厘子礼盒 1kg", "physical", "进口水果", 1500, Decimal("9.90"), 50, 0, None, [], True),
        ("新西兰奇异果 6 枚装", "physical", "进口水果", 800, Decimal("0.00"), 3, 0, None, [], True),
        ("应季草莓 500g", "physical", "应季水果", 600, Decimal("5.00"), 100, 0, None, [], True),
        ("海南贵妃芒 2.5kg", "physical", "应季水果", 1200, Decimal("0.00"), 80, 0, None, [], True),
    ])
    codes = catalog["codes"]
    assert len(codes) == 30 and all(redemption is None for _product, _code, redemption in codes)
    assert [code for product, code, _r in codes if product == "满50减5 优惠券"] == [
        f"DEMO-M50-{number:04d}" for number in range(1, 21)]
    # Every unit of stock came with a movement: initial stock, or the import of the codes.
    assert sorted(catalog["movements"]) == sorted([
        ("免运费券", 1000, 1000), ("会员日 95 折券", 200, 200), ("满50减5 优惠券", 20, 20),
        ("满100减15 优惠券", 10, 10), ("进口车厘子礼盒 1kg", 50, 50), ("新西兰奇异果 6 枚装", 3, 3),
        ("应季草莓 500g", 100, 100), ("海南贵妃芒 2.5kg", 80, 80),
    ])


def test_load_demo_catalog_twice_changes_nothing():
    load()
    first = state()
    output = load()
    assert state() == first
    assert "(created now: 0 categories, 0 products, 0 codes)" in output


def test_staff_edits_survive_a_rerun():
    load()
    Product.objects.filter(name="免运费券").update(points_price=250, active=False)
    load()
    assert Product.objects.filter(name="免运费券").values_list("points_price", "active").get() == (250, False)
    assert Product.objects.count() == 8


def test_load_demo_calls_it():
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert "Demo catalog ready: 6 categories, 8 products, 30 coupon codes" in out.getvalue()
    assert Product.objects.count() == 8
