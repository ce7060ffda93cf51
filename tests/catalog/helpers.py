"""Helpers for the catalog tests: products built through the services, exact views of the rows."""

from catalog import services
from catalog.models import CouponCode, Product, ProductKind, Redemption, StockMovement
from points import services as ledger
from points.models import Entry


def make_product(**fields) -> Product:
    """A product saved as staff would save it (``save_product``); coupons get ``codes``."""
    codes = fields.pop("codes", None)
    fields.setdefault("name", "Tea")
    fields.setdefault("points_price", 100)
    if fields.get("kind") != ProductKind.COUPON:
        fields.setdefault("stock", 10)
    product = services.save_product(Product(**fields))
    if codes:
        services.import_coupon_codes(product, codes, staff=None)
    product.refresh_from_db()
    return product


def fund(member, points, *, key=None, **kwargs):
    return ledger.earn(member, points, key=key or f"fund:{member.pk}:{points}", reason="test", **kwargs)


def stock(product) -> tuple[int, int]:
    """``(stock, sold)`` as they are in the database."""
    return tuple(Product.objects.filter(pk=product.pk).values_list("stock", "sold").get())


def movements(product) -> list[tuple]:
    """The product's stock movements as ``(delta, stock_after, redemption_id)`` in order."""
    return list(StockMovement.objects.filter(product=product).order_by("id")
                .values_list("delta", "stock_after", "redemption_id"))


def free_codes(product) -> list[str]:
    return list(CouponCode.objects.filter(product=product, redemption__isnull=True)
                .order_by("id").values_list("code", flat=True))


def snapshot() -> dict:
    """Every catalog and ledger row count plus every product's stock: a refusal leaves it equal."""
    from points.models import Account, Allocation, Lot, Refusal

    return {
        "products": list(Product.objects.order_by("id").values_list("id", "stock", "sold")),
        "redemptions": list(Redemption.objects.order_by("id").values_list("id", "status")),
        "movements": StockMovement.objects.count(),
        "codes": list(CouponCode.objects.order_by("id").values_list("code", "redemption_id")),
        "entries": Entry.objects.count(),
        "refusals": Refusal.objects.count(),
        "allocations": Allocation.objects.count(),
        "lots": list(Lot.objects.order_by("id").values_list("id", "remaining")),
        "accounts": list(Account.objects.order_by("id").values_list("id", "available", "held")),
    }
