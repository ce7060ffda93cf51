"""Every write of the points mall: redemptions and their life cycle, stock, coupon-code pools and
product saves. Pages, the API, the admin and tasks call these; nothing else writes catalog rows.

Locks. Every function here takes its row locks in this one order (the project's lock order, in
``points.services.lock_objects``), and only the ones it needs:

    member row (SELECT ... FOR NO KEY UPDATE, ``points.services.lock_objects.lock_member``)
      -> redemption row
        -> product row (the conditional stock UPDATE, or SELECT ... FOR NO KEY UPDATE)
          -> coupon-code rows (FOR UPDATE SKIP LOCKED)
            -> points account (inside ``points.services.spend`` / ``reverse``)

so two of them never wait on each other in a cycle. The member lock serializes one member's
redemptions (the per-member limit and the balance pre-check are read under it, and two calls with
the same key meet there); ``FOR NO KEY UPDATE`` leaves foreign-key inserts that point at the
member (``KEY SHARE``) free to proceed. Nothing calls out to the network while a lock is held: the
cache is invalidated after commit (``transaction.on_commit``).

Stock is a counter changed only by conditional UPDATEs (``... WHERE stock >= q``), never by
read-modify-save, and every change writes a ``StockMovement``. Product saves never write ``stock``
or ``sold`` (a form holding an old value would undo redemptions made meanwhile): stock moves through
``adjust_stock``, ``import_coupon_codes``, ``redeem`` and ``cancel`` only.

Coupon pools. Stock is authoritative for selling (it is what the conditional UPDATE guards); the
pool of free codes is what fulfils a sale. The services keep ``free codes >= stock`` for every
coupon product: an import adds as much stock as codes, stock can be raised by hand only up to the
free codes, a sale takes as many codes as units, and codes never return to the pool. Should the
two disagree anyway (rows changed by hand), a redemption that finds too few codes is refused with
``CodesExhausted`` and nothing is written.

Fulfilment. Coupon and privilege redemptions are fulfilled at once: a coupon gets its code(s) in
the same transaction; a privilege (free shipping, member-day discount) takes effect when redeemed,
with nothing to ship. So only physical goods wait in ``created`` for ``fulfil`` (a tracking
number), and only they can be cancelled (cancel is allowed before fulfilment only): a code, once
shown to a member, is never taken back or given to someone else.

Idempotency. ``redeem`` is keyed: the same key returns the first redemption, with other arguments
it raises ``points.errors.IdempotencyConflict``. A refused redemption writes nothing (not even the
ledger's refusal record), so a retry under the same key may succeed once the cause is gone.
``fulfil``, ``complete`` and ``cancel`` return the redemption unchanged when it is already in the
asked-for state and refuse (``InvalidTransition``) otherwise.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import OuterRef, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, override

from catalog import cache
from catalog.errors import (
    CodesExhausted,
    DuplicateCodes,
    InvalidArgument,
    InvalidQuantity,
    InvalidTransition,
    LimitReached,
    NotAvailable,
    OutOfStock,
)
from catalog.models import (
    CouponCode,
    Product,
    ProductKind,
    Redemption,
    RedemptionStatus,
    StockMovement,
)
from points import services as ledger
from points.errors import IdempotencyConflict, InsufficientPoints
from points.errors import InvalidArgument as LedgerInvalidArgument
from points.models import Account
from points.services.lock_objects import lock_member

MAX_QUANTITY = 1000
MAX_STOCK_DELTA = 10**9
MAX_STOCK = 2**31 - 1  # the stock column is a PostgreSQL integer
MAX_POINTS = ledger.MAX_POINTS
KEY_PREFIX = "redeem:"
# The spend key is KEY_PREFIX + key, within the ledger's longest key.
MAX_KEY = ledger.MAX_KEY - len(KEY_PREFIX)

__all__ = [
    "adjust_stock",
    "cancel",
    "complete",
    "fulfil",
    "import_coupon_codes",
    "redeem",
    "save_product",
]


# --------------------------------------------------------------------------- helpers


def _stored_text(message: str, **params) -> str:
    """Text written into rows (ledger reasons shown to members, stock-movement reasons) is in the
    site's default language, like the ledger's own system reasons."""
    with override(settings.LANGUAGE_CODE):
        text = _(message)
    return text % params if params else text


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


def _invalidate_after_commit() -> None:
    transaction.on_commit(cache.invalidate)


def _is_unique_violation(exc: IntegrityError, table: str) -> bool:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return (getattr(cause, "sqlstate", None) == "23505" and diag is not None
            and diag.table_name == table)


# --------------------------------------------------------------------------- redemption


def redeem(member, product, quantity=1, *, key, address="") -> Redemption:
    """Spend points on ``quantity`` units of ``product`` and return the ``Redemption``.

    Checks, in order: active, sale window, tier visibility (``NotAvailable``); stock
    (``OutOfStock``); the per-member limit over the product's lifetime, cancelled redemptions not
    counted (``LimitReached``); the balance (``points.errors.InsufficientPoints``). Then, in one
    transaction: the stock is taken by a conditional UPDATE, coupon codes are picked from the pool
    (``CodesExhausted`` if too few), the points are spent (``redeem:<key>`` in the ledger) and the
    redemption and its stock movement are written. Any refusal leaves nothing written.

    Coupons and privileges come back ``fulfilled``; physical goods ``created``. The same ``key``
    returns the same redemption (also under concurrency); with other arguments it raises
    ``IdempotencyConflict``. Malformed input raises ``InvalidQuantity`` / ``InvalidArgument``.
    """
    _check_quantity(quantity)
    _check_key(key)
    address = _check_text("address", address, required=False, max_length=1000)
    call = (member.pk, product.pk, quantity, address)
    try:
        with transaction.atomic():
            tier = _lock_member(member.pk)
            return _redeem_locked(member, product.pk, quantity, tier=tier, key=key,
                                  address=address, call=call)
    except IntegrityError as exc:
        # The key taken by another member's concurrent redemption (the ledger usually reports it
        # first, as an IdempotencyConflict on "redeem:<key>").
        if not _is_unique_violation(exc, "catalog_redemption"):
            raise
        existing = Redemption.objects.filter(key=key).first()
        if existing is None:
            raise
        return _replay(existing, call)


def _replay(existing: Redemption, call: tuple) -> Redemption:
    first = (existing.member_id, existing.product_id, existing.quantity, existing.address)
    if first != call:
        raise IdempotencyConflict(_("This key was already used for another redemption."))
    return existing


def _not_available(product: Product, tier: str, now) -> str | None:
    if not product.active:
        return _("This product is no longer offered.")
    if product.sale_starts_at is not None and product.sale_starts_at > now:
        return _("This product is not on sale yet.")
    if product.sale_ends_at is not None and product.sale_ends_at <= now:
        return _("The sale of this product has ended.")
    if product.visible_tiers and tier not in product.visible_tiers:
        return _("This product is not offered to your membership tier.")
    return None


def _read_for_redemption(member_id: int, product_id: int, key: str):
    """One statement, after the member lock: the product as it is now, the redemption already
    made under ``key`` (if any), the member's available points and the units of this product
    they hold in non-cancelled redemptions."""
    used = (
        Redemption.objects.filter(member_id=member_id, product_id=OuterRef("pk"))
        .exclude(status=RedemptionStatus.CANCELLED)
        .values("product_id").annotate(units=Sum("quantity")).values("units")[:1]
    )
    return (
        Product.objects.filter(pk=product_id)
        .annotate(
            existing_id=Subquery(Redemption.objects.filter(key=key).values("id")[:1]),
            available_points=Subquery(
                Account.objects.filter(member_id=member_id).values("available")[:1]),
            units_held=Subquery(used),
        )
        .first()
    )


def _redeem_locked(member, product_id: int, quantity: int, *, tier: str, key: str,
                   address: str, call: tuple) -> Redemption:
    now = timezone.now()
    # Read under the member lock: no other redemption of this member (and so no other call with
    # this key by this member) can commit meanwhile.
    product = _read_for_redemption(member.pk, product_id, key)
    existing_id = product.existing_id if product else (
        Redemption.objects.filter(key=key).values_list("id", flat=True).first())
    if existing_id is not None:
        return _replay(Redemption.objects.get(pk=existing_id), call)
    if product is None:
        raise NotAvailable(_("This product does not exist."))
    reason = _not_available(product, tier, now)
    if reason:
        raise NotAvailable(reason)
    if product.stock < quantity:
        raise OutOfStock(_("Only %(stock)s left in stock.") % {"stock": product.stock}
                         if product.stock else _("This product is out of stock."))
    used = product.units_held or 0
    if product.per_member_limit is not None and used + quantity > product.per_member_limit:
        raise LimitReached(
            _("You can redeem at most %(limit)s of this product; you already have %(used)s.")
            % {"limit": product.per_member_limit, "used": used}
        )
    points = product.points_price * quantity
    if points > MAX_POINTS:
        raise InvalidQuantity(_("That is more points than one redemption can spend."))
    # Advisory: refuse before locking the product row (which every buyer of the product queues
    # on). The ledger's own check in spend() is the one that counts.
    available = product.available_points or 0
    if available < points:
        raise InsufficientPoints(_("%(points)s points needed, %(available)s available.")
                                 % {"points": points, "available": available})

    # Lock order: product row (this UPDATE), then coupon codes, then the points account. The
    # redemption's id is drawn here so the ledger entry can name it.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_product SET stock = stock - %s, sold = sold + %s "
            "WHERE id = %s AND stock >= %s "
            "RETURNING stock, nextval(pg_get_serial_sequence('catalog_redemption', 'id'))",
            [quantity, quantity, product_id, quantity],
        )
        row = cursor.fetchone()
    if row is None:
        raise OutOfStock(_("This product is out of stock."))
    stock_after, redemption_id = row
    code_ids = []
    if product.kind == ProductKind.COUPON:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM catalog_couponcode WHERE product_id = %s AND redemption_id IS NULL "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                [product_id, quantity],
            )
            code_ids = [row[0] for row in cursor.fetchall()]
        if len(code_ids) < quantity:
            raise CodesExhausted()
    entry = ledger.spend(
        member, points, key=KEY_PREFIX + key,
        reason=_stored_text(gettext_noop("Redeemed %(product)s × %(quantity)s"),
                            product=product.name, quantity=quantity)[:255],
        reference=f"redemption:{redemption_id}",
    )
    immediate = product.kind in (ProductKind.COUPON, ProductKind.PRIVILEGE)
    redemption = Redemption.objects.create(
        id=redemption_id, key=key, member=member, product=product, quantity=quantity,
        points=points, cash=(product.cash_price * quantity).quantize(Decimal("0.01")),
        status=RedemptionStatus.FULFILLED if immediate else RedemptionStatus.CREATED,
        address=address, entry=entry, created_at=now, fulfilled_at=now if immediate else None,
    )
    if code_ids:
        CouponCode.objects.filter(id__in=code_ids).update(redemption=redemption, assigned_at=now)
    StockMovement.objects.create(
        product=product, delta=-quantity, stock_after=stock_after, redemption=redemption,
        reason=_stored_text(gettext_noop("Redemption #%(id)s"), id=redemption_id), created_at=now,
    )
    product.stock, product.sold = stock_after, product.sold + quantity
    _invalidate_after_commit()
    return redemption


def fulfil(redemption, *, staff=None, tracking_number="") -> Redemption:
    """Mark a physical redemption shipped (``created`` -> ``fulfilled``) with its tracking number
    (required for physical goods).

    Already fulfilled or completed with the same (or no) tracking number: returned unchanged.
    Raises ``InvalidTransition`` for a cancelled redemption or another tracking number,
    ``InvalidArgument`` without a tracking number.
    """
    tracking_number = _check_text("tracking_number", tracking_number, required=False, max_length=64)
    with transaction.atomic():
        locked = _lock_redemption(redemption.pk)
        if locked.status in (RedemptionStatus.FULFILLED, RedemptionStatus.COMPLETED):
            if tracking_number and tracking_number != locked.tracking_number:
                raise InvalidTransition(_("This redemption was already shipped with tracking "
                                          "number %(number)s.")
                                        % {"number": locked.tracking_number or "-"})
            return locked
        if locked.status != RedemptionStatus.CREATED:
            raise InvalidTransition(_("A cancelled redemption cannot be fulfilled."))
        if not tracking_number and locked.product.kind == ProductKind.PHYSICAL:
            raise InvalidArgument(_("A tracking number is required to ship physical goods."))
        locked.status = RedemptionStatus.FULFILLED
        locked.fulfilled_at = timezone.now()
        locked.tracking_number = tracking_number
        locked.save(update_fields=["status", "fulfilled_at", "tracking_number"])
    return locked


def complete(redemption, *, staff=None) -> Redemption:
    """``fulfilled`` -> ``completed`` (received). Already completed: returned unchanged. Raises
    ``InvalidTransition`` from ``created`` or ``cancelled``."""
    with transaction.atomic():
        locked = _lock_redemption(redemption.pk)
        if locked.status == RedemptionStatus.COMPLETED:
            return locked
        if locked.status != RedemptionStatus.FULFILLED:
            raise InvalidTransition(_("Only a fulfilled redemption can be completed."))
        locked.status = RedemptionStatus.COMPLETED
        locked.completed_at = timezone.now()
        locked.save(update_fields=["status", "completed_at"])
    return locked


def cancel(redemption, *, reason, staff=None) -> Redemption:
    """Cancel a redemption before fulfilment: its points go back to the lots they came from
    (``points.services.reverse``; points of a lot that has expired meanwhile expire at once), its
    stock back to the product, with a stock movement.

    Already cancelled: returned unchanged. Raises ``InvalidTransition`` once fulfilled (a coupon
    code or privilege is delivered at once, so those can never be cancelled), ``InvalidArgument``
    without a reason.
    """
    reason = _check_text("reason", reason, required=True, max_length=200)
    with transaction.atomic():
        _lock_member(redemption.member_id)
        locked = _lock_redemption(redemption.pk)
        if locked.status == RedemptionStatus.CANCELLED:
            return locked
        if locked.status != RedemptionStatus.CREATED:
            raise InvalidTransition(_("A redemption that has been fulfilled cannot be cancelled."))
        now = timezone.now()
        stock_after = _move_stock(locked.product_id, locked.quantity, sold=-locked.quantity)
        refund = ledger.reverse(
            locked.entry, key=f"redeem-cancel:{locked.pk}",
            reason=_stored_text(gettext_noop("Redemption #%(id)s cancelled: %(reason)s"),
                                id=locked.pk, reason=reason)[:255],
        )
        locked.status = RedemptionStatus.CANCELLED
        locked.cancelled_at = now
        locked.cancel_reason = reason
        locked.refund_entry = refund
        locked.save(update_fields=["status", "cancelled_at", "cancel_reason", "refund_entry"])
        StockMovement.objects.create(
            product_id=locked.product_id, delta=locked.quantity, stock_after=stock_after,
            redemption=locked, staff=staff, created_at=now,
            reason=_stored_text(gettext_noop("Redemption #%(id)s cancelled"), id=locked.pk),
        )
        _invalidate_after_commit()
    return locked


# --------------------------------------------------------------------------- stock and products


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

