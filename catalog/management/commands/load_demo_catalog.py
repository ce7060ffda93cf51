"""A small demo catalog for ``make run``: two categories with sub-categories, eight products of
all three kinds, and the code pools of the two coupons.

Each product also gets pictures drawn at seed time (``catalog.demo_images``, through
``catalog.services.add_image``): two for physical goods (a small gallery), one for the others;
only a product without pictures gets them.

A demo goods channel (``Channel`` "演示供应商", a CSV feed written under ``CHANNEL_FEED_ROOT``
when missing) is set up but not imported: staff try "Import now…" on its page.

Idempotent: categories and products are found by name and only created when missing (a product
staff have edited since is left as it is), and only codes not yet imported are imported, so
running it again changes nothing. Every write goes through ``catalog.services``.
"""

import csv
import io
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog import cache, demo_images, services
from catalog.models import Category, Channel, ChannelKind, CouponCode, Product, ProductKind

CATEGORIES = {
    # parent: children, in display order
    "水果": ["进口水果", "应季水果"],
    "券": ["优惠券", "特权"],
}

# name, kind, (parent, child), points, cash, stock (coupons: codes), per-member limit, tiers, description
PRODUCTS = [
    ("免运费券", ProductKind.PRIVILEGE, ("券", "特权"), 200, "0.00", 1000, None, [],
     "下一笔订单免运费，兑换后立即生效。"),
    ("会员日 95 折券", ProductKind.PRIVILEGE, ("券", "特权"), 500, "0.00", 200, 1, ["silver", "gold"],
     "会员日全场 95 折，每位会员限兑 1 次，银卡及以上可见。"),
    ("满50减5 优惠券", ProductKind.COUPON, ("券", "优惠券"), 300, "0.00", 20, None, [],
     "订单满 50 元减 5 元，兑换后发放券码。"),
    ("满100减15 优惠券", ProductKind.COUPON, ("券", "优惠券"), 800, "0.00", 10, 2, [],
     "订单满 100 元减 15 元，每位会员限兑 2 张。"),
    ("进口车厘子礼盒 1kg", ProductKind.PHYSICAL, ("水果", "进口水果"), 1500, "9.90", 50, None, [],
     "智利进口 JJ 级车厘子，冷链配送，积分 + 现金兑换。"),
    ("新西兰奇异果 6 枚装", ProductKind.PHYSICAL, ("水果", "进口水果"), 800, "0.00", 3, None, [],
     "新西兰阳光金果，库存紧张。"),
    ("应季草莓 500g", ProductKind.PHYSICAL, ("水果", "应季水果"), 600, "5.00", 100, None, [],
     "当季现摘草莓，积分 + 现金兑换。"),
    ("海南贵妃芒 2.5kg", ProductKind.PHYSICAL, ("水果", "应季水果"), 1200, "0.00", 80, None, [],
     "海南产地直发。"),
]


DEMO_CHANNEL = "演示供应商"
DEMO_FEED = "demo-supplier.csv"
# The demo channel's feed, in the documented format (catalog.channels.files).
DEMO_FEED_ROWS = [
    ("sku", "name", "description", "image_url", "category", "cash_price", "stock"),
    ("DS-1001", "泰国山竹 1kg", "泰国空运山竹，渠道直发。", "", "水果 / 进口水果", "0.00", "40"),
    ("DS-1002", "智利蓝莓 125g×4", "智利进口蓝莓，冷链配送。", "", "水果 / 进口水果", "6.00", "25"),
    ("DS-2001", "赣南脐橙 5kg", "赣南产地直发。", "", "水果 / 应季水果", "0.00", "60"),
]


def demo_codes(product_name: str, count: int) -> list[str]:
    prefix = {"满50减5 优惠券": "DEMO-M50", "满100减15 优惠券": "DEMO-M100"}[product_name]
    return [f"{prefix}-{number:04d}" for number in range(1, count + 1)]


class Command(BaseCommand):
    help = "Create the demo catalog: categories, products and coupon codes (safe to run again)."

    def handle(self, *args, **options):
        created = {"categories": 0, "products": 0, "codes": 0, "images": 0}
        with transaction.atomic():
            categories = self._categories(created)
        for position, row in enumerate(PRODUCTS):
            name, kind, (parent, child), points, cash, stock, limit, tiers, description = row
            with transaction.atomic():
                product = Product.objects.filter(name=name).order_by("id").first()
                if product is None:
                    product = services.save_product(Product(
                        name=name, kind=kind, category=categories[parent, child], points_price=points,
                        cash_price=Decimal(cash), stock=0 if kind == ProductKind.COUPON else stock,
                        per_member_limit=limit, visible_tiers=list(tiers), description=description,
                        sort_order=position,
                    ))
                    created["products"] += 1
                if not product.images.exists():
                    for variant in range(2 if kind == ProductKind.PHYSICAL else 1):
                        services.add_image(product, demo_images.demo_picture(name, kind, variant),
                                           cover=variant == 0)
                        created["images"] += 1
                if kind == ProductKind.COUPON:
                    codes = demo_codes(name, stock)
                    existing = set(CouponCode.objects.filter(code__in=codes).values_list("code", flat=True))
                    missing = [code for code in codes if code not in existing]
                    if missing:
                        created["codes"] += services.import_coupon_codes(product, missing, staff=None)
        self._demo_channel()
        self.stdout.write(self.style.SUCCESS(
            "Demo catalog ready: {categories} categories, {products} products, {codes} coupon codes "
            "(created now: {new_categories} categories, {new_products} products, {new_codes} codes).".format(
                categories=Category.objects.count(), products=Product.objects.count(),
                codes=CouponCode.objects.count(), new_categories=created["categories"],
                new_products=created["products"], new_codes=created["codes"],
            )
        ))

    def _categories(self, created) -> dict[tuple[str, str], Category]:
        found = {}
        for position, (parent_name, children) in enumerate(CATEGORIES.items()):
            parent, new = Category.objects.get_or_create(
                name=parent_name, parent=None, defaults={"sort_order": position}
            )
            created["categories"] += new
            for child_position, child_name in enumerate(children):
                child, new = Category.objects.get_or_create(
                    name=child_name, parent=parent, defaults={"sort_order": child_position}
                )
                created["categories"] += new
                found[parent_name, child_name] = child
        if created["categories"]:
            transaction.on_commit(cache.invalidate)
        return found

    def _demo_channel(self) -> None:
        """The demo channel and its feed file (written only when missing: staff may edit it)."""
        path = Path(settings.CHANNEL_FEED_ROOT) / DEMO_FEED
        if not path.exists():
            buffer = io.StringIO(newline="")
            csv.writer(buffer).writerows(DEMO_FEED_ROWS)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(buffer.getvalue(), encoding="utf-8")
            except OSError as exc:
                self.stderr.write(f"Demo channel feed not written ({exc}); the channel's import "
                                  "will say the file is missing.")
        Channel.objects.get_or_create(name=DEMO_CHANNEL, defaults={
            "kind": ChannelKind.CSV, "source": DEMO_FEED, "active": True})
