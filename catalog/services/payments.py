"""Points + cash: the payment of a redemption's cash part (``catalog.payment_models.Payment``).

``redeem`` of a product with a cash price (``catalog.services.redemption``) takes the stock, holds
the points (``points.services.hold``, key ``redeem:<key>``) and writes the redemption in
``awaiting_payment`` with a ``pending`` payment (``start_payment``) that expires after
``settings.PAYMENT_TIMEOUT_MINUTES``. Then exactly one of:

* ``confirm_payment(reference, paid=True, amount=...)`` (the provider's signed callback): the hold
  is captured (the ``capture`` entry is the redemption's ``entry``), coupon codes are issued and
  the redemption goes on as a points-only one (coupons and privileges ``fulfilled``, goods
  ``created``);
* ``confirm_payment(..., paid=False)``: the payment failed; ``_close`` below;
* ``release_unpaid(now)`` (every minute) for a pending payment past ``expires_at``: ``_close``.

``_close`` releases the hold (the points back to their lots), puts the stock back with a movement
and cancels the redemption with a reason; the payment becomes ``failed`` or ``expired``.

Idempotent: a replayed callback changes nothing and returns the payment as it is (a paid one
paid). A paid callback for a payment already released raises ``PaymentExpired`` (409); an amount
other than the payment's ``AmountMismatch`` (400), before anything else is judged. A paid callback
after ``expires_at`` but before the job ran is still honoured: the money was taken, the points
and the stock are still reserved.

Locks, in the order of ``catalog.services``: member row -> redemption row -> payment row ->
product row (the stock UPDATE) -> coupon codes -> points account (inside the ledger). The
callback and the job both take the member's and the redemption's locks first, so they meet there
and the second one sees the first's outcome.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from catalog.errors import AmountMismatch, CodesExhausted, PaymentExpired, PaymentNotFound
from catalog.models import (
    Payment,
    PaymentStatus,
    ProductKind,
    Redemption,
    RedemptionStatus,
    StockMovement,
)
from catalog.payments import default_provider_name
from catalog.services._helpers import (
    _invalidate_after_commit,
    _issue_codes,
    _lock_member,
    _lock_redemption,
    _move_stock,
    _stored_text,
)
from common import events
from common.text import clip
from points import services as ledger
from points.errors import HoldNotOpen

logger = logging.getLogger(__name__)

# A hold outlives its payment by this much, so the ledger's own timeout job
# (release_stale_holds) never resolves a payment's hold before release_unpaid does.
HOLD_MARGIN = timedelta(days=1)


def payment_timeout() -> timedelta:
    return timedelta(minutes=getattr(settings, "PAYMENT_TIMEOUT_MINUTES", 15))


def capture_key(redemption_id: int) -> str:
    return f"redeem-capture:{redemption_id}"


def release_key(redemption_id: int) -> str:
    return f"redeem-release:{redemption_id}"


def hold_points(member, points: int, *, key: str, redemption_id: int):
    """The points of an awaiting-payment redemption, reserved (None for 0 points)."""
    if not points:
        return None
    return ledger.hold(member, points, key=key, reference=f"redemption:{redemption_id}",
                       ttl=payment_timeout() + HOLD_MARGIN)


def start_payment(redemption: Redemption, *, hold, now) -> Payment:
    """The pending payment of ``redemption``'s cash (inside ``redeem``'s transaction)."""
    return Payment.objects.create(
        redemption=redemption, provider=default_provider_name(), reference=uuid.uuid4().hex,
        amount=redemption.cash, hold=hold, created_at=now, expires_at=now + payment_timeout(),
    )


def _amount(value) -> Decimal:
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise AmountMismatch() from None
    if not amount.is_finite():
        raise AmountMismatch()
    return amount


def confirm_payment(reference: str, *, paid: bool, amount) -> Payment:
    """Apply the provider's verdict on payment ``reference`` (see the module docstring); returns
    the payment as it is after. Raises ``PaymentNotFound`` (404), ``AmountMismatch`` (400) and
    ``PaymentExpired`` (409)."""
    amount = _amount(amount)
    found = (Payment.objects.filter(reference=reference).values_list("redemption_id", "redemption__member_id")
             .first() if isinstance(reference, str) and len(reference) <= 64 else None)
    if found is None:
        raise PaymentNotFound()
    redemption_id, member_id = found
    with transaction.atomic():
        _lock_member(member_id)
        redemption = _lock_redemption(redemption_id)
        payment = Payment.objects.select_for_update(no_key=True).get(redemption_id=redemption_id)
        if amount != payment.amount:
            raise AmountMismatch(_("The amount paid (¥%(paid)s) does not match the payment "
                                   "(¥%(amount)s).") % {"paid": amount, "amount": payment.amount})
        if payment.status == PaymentStatus.PAID:
            return payment  # a replay (or a late "failed" for a paid one): nothing changes
        if payment.status != PaymentStatus.PENDING:
            if not paid and payment.status == PaymentStatus.FAILED:
                return payment  # the same "failed" again
            raise PaymentExpired()
        now = timezone.now()
        if paid:
            _settle(payment, redemption, now)
        else:
            _close(payment, redemption, PaymentStatus.FAILED, now,
                   reason=_stored_text(gettext_noop("Payment failed")))
    return payment


def release_unpaid(now=None) -> int:
    """Release every pending payment past its ``expires_at`` at ``now``: points back to their
    lots, stock back, the redemption cancelled. Each in its own transaction (one bad row does not
    hold up the rest); safe to run twice or in two workers. Returns how many it released."""
    now = now or timezone.now()
    due = list(Payment.objects.filter(status=PaymentStatus.PENDING, expires_at__lte=now)
               .order_by("expires_at", "id").values_list("redemption_id", "redemption__member_id"))
    released = 0
    for redemption_id, member_id in due:
        try:
            with transaction.atomic():
                _lock_member(member_id)
                redemption = _lock_redemption(redemption_id)
                payment = Payment.objects.select_for_update(no_key=True).get(
                    redemption_id=redemption_id)
                if payment.status != PaymentStatus.PENDING:
                    continue  # paid (or failed) meanwhile
                _close(payment, redemption, PaymentStatus.EXPIRED, now,
                       reason=_stored_text(gettext_noop("Not paid in time")))
                released += 1
        except Exception:
            logger.exception("could not release the payment of redemption %s", redemption_id)
    return released


def close_unpaid(redemption: Redemption, now, *, reason: str) -> None:
    """``cancel`` of an awaiting-payment redemption (its member and redemption rows locked by the
    caller): release it as the timeout would, the payment ``expired``."""
    payment = Payment.objects.select_for_update(no_key=True).get(redemption_id=redemption.pk)
    _close(payment, redemption, PaymentStatus.EXPIRED, now, reason=reason)


def _settle(payment: Payment, redemption: Redemption, now) -> None:
    product = redemption.product
    code_ids = []
    if product.kind == ProductKind.COUPON:
        # The codes are picked when paid: their stock was taken at redemption, and the pool keeps
        # at least as many free codes as stock.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM catalog_couponcode WHERE product_id = %s AND redemption_id IS NULL "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                [product.pk, redemption.quantity],
            )
            code_ids = [row[0] for row in cursor.fetchall()]
        if len(code_ids) < redemption.quantity:
            raise CodesExhausted()
    entry = None
    if payment.hold_id is not None:
        try:
            entry = ledger.capture(payment.hold, key=capture_key(redemption.pk))
        except HoldNotOpen:  # resolved by the ledger's own timeout: the points are gone back
            raise PaymentExpired() from None
    immediate = product.kind in (ProductKind.COUPON, ProductKind.PRIVILEGE)
    redemption.entry = entry
    redemption.status = RedemptionStatus.FULFILLED if immediate else RedemptionStatus.CREATED
    redemption.fulfilled_at = now if immediate else None
    redemption.save(update_fields=["entry", "status", "fulfilled_at"])
    if code_ids:
        _issue_codes(code_ids, redemption, product, now)
    payment.status = PaymentStatus.PAID
    payment.paid_at = now
    payment.save(update_fields=["status", "paid_at"])
    events.announce("redemption", redemption.member_id, at=now)


def _close(payment: Payment, redemption: Redemption, status: str, now, *, reason: str) -> None:
    stock_after = _move_stock(redemption.product_id, redemption.quantity, sold=-redemption.quantity)
    if payment.hold_id is not None:
        try:
            ledger.release(payment.hold, key=release_key(redemption.pk))
        except HoldNotOpen:
            pass  # the ledger's timeout job released it already: the points are back
    redemption.status = RedemptionStatus.CANCELLED
    redemption.cancelled_at = now
    redemption.cancel_reason = reason[:255]
    redemption.save(update_fields=["status", "cancelled_at", "cancel_reason"])
    StockMovement.objects.create(
        product_id=redemption.product_id, delta=redemption.quantity, stock_after=stock_after,
        redemption=redemption, created_at=now,
        reason=clip(_stored_text(gettext_noop("Redemption #%(id)s cancelled: %(reason)s"),
                                 id=redemption.pk, reason=reason), 255),
    )
    payment.status = status
    payment.save(update_fields=["status"])
    _invalidate_after_commit()
