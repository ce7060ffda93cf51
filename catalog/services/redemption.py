"""Redemptions and their life cycle: ``redeem``, ``fulfil``, ``complete`` and ``cancel`` (the
invariants and the lock order are in ``catalog.services``' docstring)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from catalog import pricing
from catalog.errors import (
    AddressNotFound,
    CodesExhausted,
    InvalidArgument,
    InvalidQuantity,
    InvalidTransition,
    LimitReached,
    NotAvailable,
    OutOfStock,
    WelcomeOfferUsed,
)
from catalog.models import (
    Address,
    Category,
    Product,
    ProductKind,
    Redemption,
    RedemptionStatus,
    SaleState,
    StockMovement,
)
from catalog.services import payments
from catalog.services._helpers import (
    KEY_PREFIX,
    MAX_POINTS,
    _check_key,
    _check_quantity,
    _check_text,
    _insert,
    _invalidate_after_commit,
    _is_unique_violation,
    _issue_codes,
    _lock_member,
    _lock_redemption,
    _move_stock,
    _stored_text,
)
from common import audit, events
from common.text import clip
from points import services as ledger
from points.errors import IdempotencyConflict, InsufficientPoints
from points.services._cursor import prepared_cursor


def redeem(member, product, quantity=1, *, key, address="", saved_address=None) -> Redemption:
    """Spend points on ``quantity`` units of ``product`` and return the ``Redemption``.

    Checks, in order: on sale (``Product.sale_state``: active, sale window, category open) and
    visible to the member's tier as it is in the database now (``NotAvailable``); stock
    (``OutOfStock``); the per-member limit over the product's lifetime, cancelled redemptions not
    counted (``LimitReached``); the balance (``points.errors.InsufficientPoints``) against the
    price after the welcome offer (``catalog.pricing``: the discount is stored as
    ``welcome_discount``, and a redemption it makes free spends no points and has no ledger
    entry). Then, in one
    transaction: the stock is taken by a conditional UPDATE, coupon codes are picked from the pool
    (``CodesExhausted`` if too few), the points are spent (``redeem:<key>`` in the ledger) and the
    redemption and its stock movement are written. Any refusal leaves nothing written.

    Coupons and privileges come back ``fulfilled``; physical goods ``created``. The same ``key``
    returns the same redemption (also under concurrency); with other arguments it raises
    ``IdempotencyConflict``. Malformed input raises ``InvalidQuantity`` / ``InvalidArgument``.
    ``WelcomeOfferUsed`` only if the offer's unique index refuses it (a redemption written without
    the member lock); nothing is written then.

    ``saved_address``: one of the member's ``catalog.Address`` rows (or its id); the redemption
    keeps its text (``Address.snapshot``) in ``address`` and points at it (``shipping_address``).
    Anyone else's or an unknown one raises ``AddressNotFound``.

    Points + cash (``cash_price`` > 0): the redemption is written ``awaiting_payment`` with its
    points held, not spent, its stock taken and a pending ``Payment`` (``catalog.services.payments``
    settles or releases it); coupon codes are picked when it is paid.
    """
    _check_quantity(quantity)
    _check_key(key)
    address = _check_text("address", address, required=False, max_length=1000)
    if saved_address is not None:
        saved_address = _own_address(member, saved_address)
        address = saved_address.snapshot()
    call = (member.pk, product.pk, quantity, address)
    try:
        with transaction.atomic():
            return _redeem_locked(member, product.pk, quantity, key=key, address=address,
                                  saved_address=saved_address, call=call)
    except IntegrityError as exc:
        # The key taken by another member's concurrent redemption (the ledger usually reports it
        # first, as an IdempotencyConflict on "redeem:<key>").
        if not _is_unique_violation(exc, "catalog_redemption"):
            raise
        if exc.__cause__.diag.constraint_name == "catalog_redemption_one_welcome":
            raise WelcomeOfferUsed() from None
        existing = Redemption.objects.filter(key=key).first()
        if existing is None:
            raise
        return _replay(existing, call)


def _replay(existing: Redemption, call: tuple) -> Redemption:
    first = (existing.member_id, existing.product_id, existing.quantity, existing.address)
    if first != call:
        raise IdempotencyConflict(_("This key was already used for another redemption."))
    existing.replayed = True  # the API says so (Idempotent-Replayed)
    return existing


def _not_available(product: Product, tier: str, now) -> str | None:
    """Why ``product`` cannot be redeemed by a member of ``tier`` at ``now``, or None."""
    state = product.sale_state(now)
    if state in (SaleState.INACTIVE, SaleState.CATEGORY_CLOSED):
        return _("This product is no longer offered.")
    if state == SaleState.NOT_STARTED:
        return _("This product is not on sale yet.")
    if state == SaleState.ENDED:
        return _("The sale of this product has ended.")
    if not product.is_visible_to(tier):
        return _("This product is not offered to your membership tier.")
    return None


_PRODUCT_FIELDS = [field.attname for field in Product._meta.concrete_fields]
_CATEGORY_FIELDS = [field.attname for field in Category._meta.concrete_fields]
_READ_FOR_REDEMPTION = (
    "SELECT {product}, {category}, "
    "(SELECT id FROM catalog_redemption WHERE key = %(key)s), "
    "(SELECT available FROM points_account WHERE member_id = %(member)s), "
    "(SELECT SUM(quantity) FROM catalog_redemption WHERE member_id = %(member)s "
    "AND product_id = p.id AND status <> %(cancelled)s), "
    "EXISTS (SELECT 1 FROM catalog_redemption WHERE member_id = %(member)s AND status <> %(cancelled)s), "
    "(SELECT date_joined FROM mall_member WHERE id = %(member)s) "
    "FROM catalog_product p LEFT JOIN catalog_category c ON c.id = p.category_id WHERE p.id = %(product)s"
).format(
    product=", ".join(f"p.{Product._meta.get_field(name).column}" for name in _PRODUCT_FIELDS),
    category=", ".join(f"c.{Category._meta.get_field(name).column}" for name in _CATEGORY_FIELDS),
)


_MEMBER = get_user_model()._meta
# points.services.lock_objects.lock_member's statement, sent in one pipeline with the read.
_LOCK_MEMBER = (f"SELECT {_MEMBER.get_field('tier').column} FROM {_MEMBER.db_table} "
                f"WHERE {_MEMBER.pk.column} = %s FOR NO KEY UPDATE")


def _read_for_redemption(member_id: int, product_id: int, key: str):
    """Lock the member's row (``FOR NO KEY UPDATE``, the first lock of the order) and read what
    the redemption is decided on: the product (and its category) as it is now, the redemption
    already made under ``key`` (if any), the member's available points, the units of this product
    they hold in non-cancelled redemptions, whether they hold any non-cancelled redemption at all
    and when they joined (the welcome offer's two conditions), and their tier (``member_tier``).
    None when there is no such product; raises ``InvalidArgument`` for no such member.

    The lock and the read go in one psycopg pipeline: one round trip instead of two, executed one
    after the other as before. The read is a statement of its own, so it takes its snapshot once
    the lock is granted and sees every redemption of the member committed before (a single
    statement that locked and read would read as of before its wait). Raw and prepared once per
    connection: the ORM's compilation of the same query was about a quarter of a redemption's
    time (bench/bench_redemption.py)."""
    with prepared_cursor() as lock, prepared_cursor() as read:
        raw = connection.connection
        with connection.wrap_database_errors, raw.pipeline():
            lock.execute(_LOCK_MEMBER, [member_id])
            read.execute(_READ_FOR_REDEMPTION, {"key": key, "member": member_id,
                                                "product": product_id,
                                                "cancelled": RedemptionStatus.CANCELLED.value})
        locked, row = lock.fetchone(), read.fetchone()
    if locked is None:
        raise InvalidArgument(_("No such member."))
    product = _product_of(row)
    if product is not None:
        product.member_tier = locked[0]
    return product


def _product_of(row):
    """The product of ``_READ_FOR_REDEMPTION``'s row (its category and the member's figures as
    attributes); None when there is no such product."""
    if row is None:
        return None
    products, categories = len(_PRODUCT_FIELDS), len(_CATEGORY_FIELDS)
    product = Product.from_db(connection.alias, _PRODUCT_FIELDS, row[:products])
    if product.category_id is not None:
        product.category = Category.from_db(connection.alias, _CATEGORY_FIELDS,
                                            row[products:products + categories])
    (product.existing_id, product.available_points, product.units_held, product.redeemed_before,
     product.joined_at) = row[products + categories:]
    return product


def _own_address(member, saved_address) -> Address:
    address_id = getattr(saved_address, "pk", saved_address)
    if type(address_id) is not int:
        raise AddressNotFound()
    found = Address.objects.filter(pk=address_id, member_id=member.pk).first()
    if found is None:
        raise AddressNotFound()
    return found


def _redeem_locked(member, product_id: int, quantity: int, *, key: str, address: str,
                   call: tuple, saved_address=None) -> Redemption:
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
    reason = _not_available(product, product.member_tier, now)
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
    if product.points_price * quantity > MAX_POINTS:
        raise InvalidQuantity(_("That is more points than one redemption can spend."))
    # Priced under the member lock: no other redemption of theirs can take the offer meanwhile
    # (the unique index catalog_redemption_one_welcome is the backstop).
    # A member who has redeemed before is past the offer: no need to read the rule book.
    offer = 0 if product.redeemed_before else pricing.welcome_offer(
        pricing.book_for(member), joined_at=product.joined_at, redeemed_before=False, now=now)
    price = pricing.price(product.points_price, product.cash_price, quantity, offer=offer)
    points = price.points
    # Advisory: refuse before locking the product row (which every buyer of the product queues
    # on). The ledger's own check in spend() is the one that counts.
    available = product.available_points or 0
    if available < points:
        raise InsufficientPoints(_("%(points)s points needed, %(available)s available.")
                                 % {"points": points, "available": available})

    # Lock order: product row (this UPDATE), then coupon codes, then the points account. The
    # redemption's id is drawn here so the ledger entry can name it.
    with prepared_cursor() as cursor:
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
    # Points + cash: the points are held and the codes picked once the cash is paid
    # (catalog.services.payments).
    awaiting = price.cash > 0
    if product.kind == ProductKind.COUPON and not awaiting:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM catalog_couponcode WHERE product_id = %s AND redemption_id IS NULL "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                [product_id, quantity],
            )
            code_ids = [row[0] for row in cursor.fetchall()]
        if len(code_ids) < quantity:
            raise CodesExhausted()
    hold = entry = None
    if awaiting:
        hold = payments.hold_points(member, points, key=KEY_PREFIX + key,
                                    redemption_id=redemption_id)
    else:
        entry = _spend(member, points, key=key, product=product, quantity=quantity,
                       redemption_id=redemption_id)
    immediate = product.kind in (ProductKind.COUPON, ProductKind.PRIVILEGE) and not awaiting
    if awaiting:
        status = RedemptionStatus.AWAITING_PAYMENT
    else:
        status = RedemptionStatus.FULFILLED if immediate else RedemptionStatus.CREATED
    redemption = Redemption(
        id=redemption_id, key=key, member=member, product=product, quantity=quantity,
        points=points, welcome_discount=price.welcome_discount, cash=price.cash, status=status,
        address=address, shipping_address=saved_address, entry=entry, created_at=now,
        fulfilled_at=now if immediate else None,
    )
    movement = StockMovement(
        product=product, delta=-quantity, stock_after=stock_after, redemption=redemption,
        reason=_stored_text(gettext_noop("Redemption #%(id)s"), id=redemption_id), created_at=now,
    )
    # The redemption and its stock movement in one raw statement (prepared once per connection),
    # where two ORM inserts compiled the same SQL on every redemption.
    insert_redemption, params = _insert(redemption)
    insert_movement, more = _insert(movement)
    with prepared_cursor() as cursor:
        cursor.execute(f"WITH redemption AS ({insert_redemption}) {insert_movement}", [*params, *more])
    redemption._state.adding = False
    if awaiting:
        payments.start_payment(redemption, hold=hold, now=now)
    if code_ids:
        _issue_codes(code_ids, redemption, product, now)
    product.stock, product.sold = stock_after, product.sold + quantity
    _invalidate_after_commit()
    if not awaiting:
        events.announce("redemption", member.pk, at=now)
    return redemption


def _spend(member, points, *, key, product, quantity, redemption_id):
    # The ledger refuses a 0-point posting: a redemption the offer makes free spends nothing.
    return ledger.spend(
        member, points, key=KEY_PREFIX + key,
        reason=clip(_stored_text(gettext_noop("Redeemed %(product)s × %(quantity)s"),
                                 product=product.name, quantity=quantity), 255),
        reference=f"redemption:{redemption_id}",
    ) if points else None


def fulfil(redemption, *, staff=None, tracking_number="") -> Redemption:
    """Mark a physical redemption shipped (``created`` -> ``fulfilled``) with its tracking number
    (required for physical goods), recording ``staff`` as who fulfilled it.

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
        if locked.status == RedemptionStatus.AWAITING_PAYMENT:
            raise InvalidTransition(_("This redemption is awaiting payment."))
        if locked.status != RedemptionStatus.CREATED:
            raise InvalidTransition(_("A cancelled redemption cannot be fulfilled."))
        if not tracking_number and locked.product.kind == ProductKind.PHYSICAL:
            raise InvalidArgument(_("A tracking number is required to ship physical goods."))
        locked.status = RedemptionStatus.FULFILLED
        locked.fulfilled_at = timezone.now()
        locked.fulfilled_by = staff
        locked.tracking_number = tracking_number
        locked.save(update_fields=["status", "fulfilled_at", "fulfilled_by", "tracking_number"])
        _audit_transition("redemption.ship", locked, RedemptionStatus.CREATED, staff,
                          tracking_number=("", tracking_number))
    return locked


def _audit_transition(event, redemption, status_before, staff, data=None, **changes):
    """A redemption's transition made by staff (the admin's ship / complete / cancel), recorded
    with the staff member; the member's and the jobs' own transitions are not staff writes."""
    if staff is not None:
        audit.record(event, redemption, actor=staff, data=data,
                     changes={"status": (status_before, redemption.status), **changes})


def complete(redemption, *, staff=None) -> Redemption:
    """``fulfilled`` -> ``completed`` (received), recording ``staff`` as who completed it.
    Already completed: returned unchanged (with who completed it first). Raises
    ``InvalidTransition`` from ``created`` or ``cancelled``."""
    with transaction.atomic():
        locked = _lock_redemption(redemption.pk)
        if locked.status == RedemptionStatus.COMPLETED:
            return locked
        if locked.status != RedemptionStatus.FULFILLED:
            raise InvalidTransition(_("Only a fulfilled redemption can be completed."))
        locked.status = RedemptionStatus.COMPLETED
        locked.completed_at = timezone.now()
        locked.completed_by = staff
        locked.save(update_fields=["status", "completed_at", "completed_by"])
        _audit_transition("redemption.deliver", locked, RedemptionStatus.FULFILLED, staff)
    return locked


def cancel(redemption, *, reason, staff=None) -> Redemption:
    """Cancel a redemption before fulfilment: its points go back to the lots they came from
    (``points.services.reverse``; points of a lot that has expired meanwhile expire at once), its
    stock back to the product, with a stock movement.

    A redemption the welcome offer made free has no points to return. Cancelling a redemption
    gives its welcome offer back (``catalog.pricing``).

    Awaiting payment: the held points are released, the stock goes back and the payment is
    closed (a late payment is refused). Already cancelled: returned unchanged. Raises
    ``InvalidTransition`` once fulfilled (a coupon
    code or privilege is delivered at once, so those can never be cancelled), ``InvalidArgument``
    without a reason.
    """
    reason = _check_text("reason", reason, required=True, max_length=200)
    with transaction.atomic():
        _lock_member(redemption.member_id)
        locked = _lock_redemption(redemption.pk)
        if locked.status == RedemptionStatus.CANCELLED:
            return locked
        now = timezone.now()
        if locked.status == RedemptionStatus.AWAITING_PAYMENT:
            # Not paid yet: the held points are released (not refunded) and the payment closed,
            # so a payment arriving later is refused (payment_expired).
            payments.close_unpaid(locked, now, reason=reason)
            _audit_transition("redemption.cancel", locked, RedemptionStatus.AWAITING_PAYMENT, staff,
                              data={"reason": reason, "points_refunded": 0})
            return locked
        if locked.status != RedemptionStatus.CREATED:
            raise InvalidTransition(_("A redemption that has been fulfilled cannot be cancelled."))
        stock_after = _move_stock(locked.product_id, locked.quantity, sold=-locked.quantity)
        refund = ledger.reverse(
            locked.entry, key=f"redeem-cancel:{locked.pk}",
            reason=clip(_stored_text(gettext_noop("Redemption #%(id)s cancelled: %(reason)s"),
                                id=locked.pk, reason=reason), 255),
        ) if locked.entry_id is not None else None  # a free redemption spent nothing
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
        _audit_transition("redemption.cancel", locked, RedemptionStatus.CREATED, staff,
                          stock=(stock_after - locked.quantity, stock_after),
                          data={"reason": reason, "refund_entry": refund.pk if refund else None,
                                "points_refunded": int(refund.delta) if refund else 0})
        _invalidate_after_commit()
    return locked
