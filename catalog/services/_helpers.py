"""What the catalog services share: limits, validation of their arguments, the text written into
rows, row locks (in the order of ``catalog.services``' docstring), the stock UPDATE and the cache
invalidation after commit. Private to ``catalog.services``."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from catalog import cache
from catalog.errors import (
    InvalidArgument,
    InvalidQuantity,
)
from catalog.models import (
    CouponCode,
    Product,
    Redemption,
)
from common.text import stored_text
from points import services as ledger
from points.errors import InvalidArgument as LedgerInvalidArgument
from points.services.lock_objects import lock_member

MAX_QUANTITY = 1000
MAX_STOCK_DELTA = 10**9
MAX_STOCK = 2**31 - 1  # the stock column is a PostgreSQL integer
MAX_POINTS = ledger.MAX_POINTS
KEY_PREFIX = "redeem:"
# The spend key is KEY_PREFIX + key, within the ledger's longest key.
MAX_KEY = ledger.MAX_KEY - len(KEY_PREFIX)


_stored_text = stored_text  # the module's own name for it, used across catalog.services


# The ledger's checks, raising the mall's own InvalidArgument with a message in the active language.


def _check_key(key) -> str:
    try:
        return ledger.validate_key(key, max_length=MAX_KEY)
    except LedgerInvalidArgument:
        raise InvalidArgument(_("The key must be a non-empty string of at most %(max)s characters.")
                              % {"max": MAX_KEY}) from None


def _check_text(name: str, value, *, required: bool, max_length: int) -> str:
    try:
        return ledger.validate_text(name, value, required=required, max_length=max_length).strip()
    except LedgerInvalidArgument:
        raise InvalidArgument(
            _("%(name)s is required (at most %(max)s characters).") % {"name": name, "max": max_length}
            if required else
            _("%(name)s must be text of at most %(max)s characters.") % {"name": name, "max": max_length}
        ) from None


def _check_quantity(quantity) -> int:
    # bool is an int subclass; floats, strings and Decimals are refused, not rounded.
    if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidQuantity(_("Quantity must be a whole number from 1 to %(max)s.")
                              % {"max": MAX_QUANTITY})
    return quantity


def _lock_member(member_id: int) -> str:
    """Lock the member's row (the ledger's ``lock_member``); returns the tier as it is now."""
    try:
        return lock_member(member_id)
    except get_user_model().DoesNotExist:
        raise InvalidArgument(_("No such member.")) from None


def _lock_redemption(redemption_id: int) -> Redemption:
    try:
        return Redemption.objects.select_for_update(no_key=True).get(pk=redemption_id)
    except Redemption.DoesNotExist:
        raise InvalidArgument(_("No such redemption.")) from None


def _lock_product(product_id: int) -> Product:
    try:
        return Product.objects.select_for_update(no_key=True).get(pk=product_id)
    except Product.DoesNotExist:
        raise InvalidArgument(_("No such product.")) from None


def _move_stock(product_id: int, delta: int, *, sold: int = 0) -> int | None:
    """Change stock (and sold) in one conditional UPDATE; the new stock, or None when it would go
    below zero. Locks the product row until commit."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_product SET stock = stock + %s, sold = sold + %s "
            "WHERE id = %s AND stock + %s >= 0 RETURNING stock",
            [delta, sold, product_id, delta],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _free_codes(product_id: int) -> int:
    return CouponCode.objects.filter(product_id=product_id, redemption__isnull=True).count()


def _issue_codes(code_ids, redemption, product, now) -> None:
    """Give the picked codes to ``redemption``, valid for the product's ``coupon_valid_days``."""
    valid_until = now + timedelta(days=product.coupon_valid_days) if product.coupon_valid_days else None
    CouponCode.objects.filter(id__in=code_ids).update(redemption=redemption, assigned_at=now,
                                                      valid_until=valid_until)


_INSERTS: dict[tuple[type, bool], tuple[str, list]] = {}


def _insert(obj, *, returning: str = "") -> tuple[str, list]:
    """``(INSERT statement, parameters)`` writing ``obj`` as ``obj.save()`` would (every concrete
    field, prepared for the database by the field itself; the primary key only when it is set),
    for a raw statement that combines several inserts in one round trip. The statement's text
    depends on the model alone, so a prepared cursor prepares it once per connection."""
    with_pk = obj.pk is not None
    cached = _INSERTS.get((type(obj), with_pk))
    if cached is None:
        meta = obj._meta
        fields = [field for field in meta.concrete_fields if with_pk or not field.primary_key]
        columns = ", ".join(field.column for field in fields)
        values = ", ".join(["%s"] * len(fields))  # typed by their columns, on the server
        cached = _INSERTS[type(obj), with_pk] = (
            f"INSERT INTO {meta.db_table} ({columns}) VALUES ({values})", fields)
    sql, fields = cached
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    return (f"{sql} RETURNING {returning}" if returning else sql), params


def _invalidate_after_commit() -> None:
    transaction.on_commit(cache.invalidate)


def _is_unique_violation(exc: IntegrityError, table: str) -> bool:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return (getattr(cause, "sqlstate", None) == "23505" and diag is not None
            and diag.table_name == table)

