"""Stock, coupon-code pools and product saves: ``adjust_stock``, ``import_coupon_codes`` and
``save_product`` (the invariants and the lock order are in ``catalog.services``' docstring)."""

from __future__ import annotations

from collections import Counter

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from catalog.errors import (
    DuplicateCodes,
    InvalidArgument,
    InvalidQuantity,
    NotAvailable,
)
from catalog.models import (
    CouponCode,
    Prize,
    Product,
    ProductKind,
    StockMovement,
)
from catalog.services._helpers import (
    MAX_STOCK,
    MAX_STOCK_DELTA,
    _check_text,
    _free_codes,
    _invalidate_after_commit,
    _is_unique_violation,
    _lock_product,
    _move_stock,
    _stored_text,
)
from common import audit


def adjust_stock(product, delta, *, reason, staff) -> StockMovement:
    """Add (``delta`` > 0) or remove stock by hand, with the reason kept; returns the movement.

    Raises ``InvalidQuantity`` for a delta that is 0, not an integer, or would take the stock
    below 0, and for raising a coupon product's stock beyond its free codes (import codes
    instead); ``InvalidArgument`` without a reason.
    """
    if type(delta) is not int or delta == 0 or abs(delta) > MAX_STOCK_DELTA:
        raise InvalidQuantity(_("The stock change must be a non-zero whole number."))
    reason = _check_text("reason", reason, required=True, max_length=255)
    with transaction.atomic():
        locked = _lock_product(product.pk)
        if locked.stock + delta < 0:
            raise InvalidQuantity(
                _("Stock cannot go below 0: %(stock)s in stock, change %(delta)s.")
                % {"stock": locked.stock, "delta": delta}
            )
        if locked.stock + delta > MAX_STOCK:
            raise InvalidQuantity(_("Stock cannot exceed %(max)s.") % {"max": MAX_STOCK})
        if delta > 0 and locked.kind == ProductKind.COUPON:
            free = _free_codes(locked.pk)
            if locked.stock + delta > free:
                raise InvalidQuantity(
                    _("A coupon's stock cannot exceed its %(free)s unused codes: import codes "
                      "to add stock.") % {"free": free}
                )
        stock_after = _move_stock(locked.pk, delta)
        movement = StockMovement.objects.create(
            product=locked, delta=delta, stock_after=stock_after, reason=reason, staff=staff,
        )
        audit.record("stock.adjustment", locked, actor=staff, message=reason,
                     changes={"stock": (stock_after - delta, stock_after)},
                     data={"movement": movement.pk, "delta": delta})
        _invalidate_after_commit()
    product.stock = stock_after
    return movement


def import_coupon_codes(product, codes, *, staff) -> int:
    """Add ``codes`` to a coupon product's pool and as much to its stock; returns how many.

    All or nothing. Blank entries are skipped and surrounding spaces stripped; codes are
    case-sensitive. Raises ``DuplicateCodes`` (``.codes`` lists them) for codes repeated in
    ``codes`` or already in the database (any product), ``InvalidArgument`` for a product that is
    not a coupon, no codes, or codes longer than 64 characters.
    """
    cleaned = [str(code).strip() for code in codes]
    cleaned = [code for code in cleaned if code]
    if not cleaned:
        raise InvalidArgument(_("There are no codes to import."))
    too_long = [code for code in cleaned if len(code) > 64]
    if too_long:
        raise InvalidArgument(_("Codes longer than 64 characters: %(codes)s")
                              % {"codes": _listing(too_long)})
    repeated = sorted(code for code, times in Counter(cleaned).items() if times > 1)
    if repeated:
        raise DuplicateCodes(_("Codes repeated in the import: %(codes)s") % {"codes": _listing(repeated)},
                             codes=repeated)
    with transaction.atomic():
        locked = _lock_product(product.pk)
        if locked.kind != ProductKind.COUPON:
            raise InvalidArgument(_("Codes can only be imported into a coupon product."))
        _refuse_existing(cleaned)
        now = timezone.now()
        try:
            with transaction.atomic():
                CouponCode.objects.bulk_create(
                    [CouponCode(product=locked, code=code, imported_at=now) for code in cleaned],
                    batch_size=2000,
                )
        except IntegrityError as exc:  # a concurrent import of some of the same codes
            if not _is_unique_violation(exc, "catalog_couponcode"):
                raise
            _refuse_existing(cleaned)
            raise
        count = len(cleaned)
        stock_after = _move_stock(locked.pk, count)
        StockMovement.objects.create(
            product=locked, delta=count, stock_after=stock_after, staff=staff, created_at=now,
            reason=_stored_text(gettext_noop("Imported %(count)s coupon codes"), count=count),
        )
        audit.record("stock.coupon_import", locked, actor=staff,
                     changes={"stock": (stock_after - count, stock_after)}, data={"codes": count})
        _invalidate_after_commit()
    product.stock = stock_after
    return count


def _listing(codes, limit=20) -> str:
    shown = ", ".join(codes[:limit])
    return shown if len(codes) <= limit else f"{shown} (+{len(codes) - limit})"


def _refuse_existing(codes) -> None:
    existing = []
    for start in range(0, len(codes), 5000):
        existing += CouponCode.objects.filter(code__in=codes[start:start + 5000]).values_list(
            "code", flat=True)
    if existing:
        existing.sort()
        raise DuplicateCodes(_("Codes already in the database: %(codes)s") % {"codes": _listing(existing)},
                             codes=existing)


# Fields a product save writes: never stock or sold (see the module docstring).
_LOCKED_FIELDS = {"id", "stock", "sold", "created_at"}


def save_product(product, *, staff=None) -> Product:
    """Save a product edited by staff and invalidate the catalog cache after commit.

    A new product may start with stock (written with an "initial stock" movement), except a
    coupon, whose stock comes from importing codes. An existing product's ``stock`` and ``sold``
    are never written here (use ``adjust_stock``); the object is refreshed with their current
    values. Turning a product with more stock than free codes into a coupon is refused
    (``InvalidArgument``).
    """
    with transaction.atomic():
        if product._state.adding or product.pk is None:
            if product.kind == ProductKind.COUPON and product.stock:
                raise InvalidQuantity(_("A new coupon starts with no stock: import its codes."))
            if type(product.stock) is not int or not 0 <= product.stock <= MAX_STOCK:
                raise InvalidQuantity(_("Stock must be a whole number of at least 0."))
            product.sold = 0
            product.save(force_insert=True)
            if product.stock:
                StockMovement.objects.create(
                    product=product, delta=product.stock, stock_after=product.stock, staff=staff,
                    reason=_stored_text(gettext_noop("Initial stock")),
                )
        else:
            current = _lock_product(product.pk)
            if product.kind == ProductKind.COUPON and current.kind != ProductKind.COUPON:
                if current.stock > _free_codes(product.pk):
                    raise InvalidArgument(_("Only a product without stock can become a coupon; "
                                            "take its stock to 0 first."))
            fields = [field.name for field in Product._meta.concrete_fields
                      if field.name not in _LOCKED_FIELDS]
            product.save(update_fields=fields)
            product.stock, product.sold = current.stock, current.sold
        _invalidate_after_commit()
    return product




def restock_prize(prize, delta) -> int:
    """Add (``delta`` > 0) or take away units of a lottery prize with limited stock; returns the
    stock after. One conditional UPDATE, like the draws' own (``stock + delta >= 0``), so a draw
    taking a unit meanwhile is never undone. Raises ``InvalidQuantity`` for a delta that is 0 or
    not an integer, for a prize of unlimited stock, and for taking the stock below 0."""
    if type(delta) is not int or delta == 0 or abs(delta) > MAX_STOCK_DELTA:
        raise InvalidQuantity(_("The stock change must be a non-zero whole number."))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_prize SET stock = stock + %s WHERE id = %s AND stock IS NOT NULL "
            "AND stock + %s BETWEEN 0 AND %s RETURNING stock", [delta, prize.pk, delta, MAX_STOCK])
        row = cursor.fetchone()
    if row is None:
        current = Prize.objects.filter(pk=prize.pk).values_list("stock", flat=True).first()
        if current is None:
            raise InvalidQuantity(_("This prize has unlimited stock."))
        raise InvalidQuantity(_("Stock cannot go below 0: %(stock)s in stock, change %(delta)s.")
                              % {"stock": current, "delta": delta})
    audit.record("stock.prize_restock", prize, changes={"stock": (row[0] - delta, row[0])},
                 data={"lottery": prize.lottery_id, "delta": delta})
    prize.stock = row[0]
    return row[0]


def mark_code_used(code, *, member) -> CouponCode:
    """The member says they used one of their coupon codes (the wallet moves it to "used");
    again is a no-op. Raises ``NotAvailable`` for a code that is not the member's."""
    now = timezone.now()
    updated = CouponCode.objects.filter(pk=code.pk, redemption__member_id=member.pk,
                                        used_at__isnull=True).update(used_at=now)
    fresh = CouponCode.objects.filter(pk=code.pk, redemption__member_id=member.pk).first()
    if fresh is None:
        raise NotAvailable(_("No such coupon."))
    if updated:
        fresh.used_at = fresh.used_at or now
    return fresh
