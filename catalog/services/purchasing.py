"""Purchase orders and their receipts (issue 15): ``create_purchase_order``, ``accept_suggestion``,
``send``, ``cancel``, ``receive``, and ``replace_suggestions`` for the nightly replenishment job.

Life cycle::

    suggested --accept_suggestion--> created --send--> sent --receive--> partly_received --receive--> received

and ``cancel`` from any of suggested, created, sent and partly received to cancelled.

A move asked for again from the state it leads to returns the order unchanged; any other move the
status does not allow raises ``PurchaseOrderState`` (code ``purchase_order_state``). Cancelling a
partly received order closes what is still outstanding; what arrived stays in stock.

Receiving. ``receive`` records one delivery (a ``Receipt``): per line the units received and how
many of them are defective. Accepted units (received − defective) enter stock through the one stock
path of ``catalog.services`` (the conditional ``UPDATE`` of ``_move_stock`` and a ``StockMovement``
with reason "Purchase receipt" and the receipt linked), never by writing ``Product.stock``. More
units than a line still awaits raise ``OverReceipt`` (code ``over_receipt``) and nothing is written.

Locks, in this order only: the purchase order row, then its lines by id, then each product row by
id (inside the stock UPDATE). Redemptions never lock purchase rows and lock products last, so a
receipt and a redemption of the same product meet only on the product row, and neither waits on
the other in a cycle. Only physical goods are purchased (a coupon's stock comes from importing its
codes, a privilege has nothing to deliver).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from catalog.errors import InvalidArgument, InvalidQuantity
from catalog.models import (
    Product,
    ProductKind,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    Receipt,
    ReceiptLine,
    StockMovement,
    Supplier,
)
from catalog.services._helpers import (
    MAX_STOCK_DELTA,
    _check_text,
    _invalidate_after_commit,
    _move_stock,
    _stored_text,
)
from catalog.supply_errors import OverReceipt, PurchaseOrderState

Status = PurchaseOrderStatus
MAX_LINES = 200
RECEIPT_REASON = gettext_noop("Purchase receipt")


@dataclass(frozen=True)
class SuggestedLine:
    product: Product
    quantity: int
    unit_cost: Decimal
    reasoning: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Suggestion:
    supplier: Supplier
    expected_date: date
    lines: list[SuggestedLine]
    reasoning: dict = field(default_factory=dict)


def _check_lines(supplier: Supplier, lines) -> list[tuple[Product, int, Decimal]]:
    checked, seen = [], set()
    if not lines or len(lines) > MAX_LINES:
        raise InvalidArgument(_("A purchase order needs from 1 to %(max)s lines.") % {"max": MAX_LINES})
    for product, quantity, unit_cost in lines:
        if type(quantity) is not int or not 1 <= quantity <= MAX_STOCK_DELTA:
            raise InvalidQuantity(_("Quantity must be a whole number of at least 1."))
        if not isinstance(unit_cost, Decimal | int) or isinstance(unit_cost, bool) or unit_cost < 0:
            raise InvalidArgument(_("The unit cost must be an amount of at least 0."))
        if product.pk in seen:
            raise InvalidArgument(_("%(product)s is on the order twice.") % {"product": product})
        if product.kind != ProductKind.PHYSICAL:
            raise InvalidArgument(_("Only physical goods are purchased: %(product)s is not.")
                                  % {"product": product})
        if product.supplier_id != supplier.pk:
            raise InvalidArgument(_("%(product)s is not supplied by %(supplier)s.")
                                  % {"product": product, "supplier": supplier})
        seen.add(product.pk)
        checked.append((product, quantity, Decimal(unit_cost).quantize(Decimal("0.01"))))
    return checked


def create_purchase_order(supplier: Supplier, lines, *, staff, expected_date: date | None = None,
                          note: str = "", now: datetime | None = None) -> PurchaseOrder:
    """A purchase order in ``created`` for ``lines`` — ``(product, quantity, unit_cost)`` each, every
    product a physical one of ``supplier`` and on the order once — expected on ``expected_date``
    (default: today + the supplier's lead time). Raises ``InvalidArgument`` / ``InvalidQuantity``
    for malformed lines or an inactive supplier; nothing is written then."""
    now = now or timezone.now()
    checked = _check_lines(supplier, lines)
    note = _check_text("note", note, required=False, max_length=255)
    if not supplier.active:
        raise InvalidArgument(_("%(supplier)s is not active.") % {"supplier": supplier})
    expected = expected_date or timezone.localdate(now) + timedelta(days=supplier.lead_time_days)
    with transaction.atomic():
        order = PurchaseOrder.objects.create(supplier=supplier, status=Status.CREATED, expected_date=expected,
                                             note=note, created_by=staff, created_at=now)
        PurchaseOrderLine.objects.bulk_create([
            PurchaseOrderLine(order=order, product=product, quantity=quantity, unit_cost=unit_cost)
            for product, quantity, unit_cost in checked])
    return order


def lock_suggestions() -> list[int]:
    """Lock every still-suggested order (evaluated: an unevaluated queryset locks nothing) until
    the transaction ends; returns their ids. The replenishment job takes this lock before it reads
    stock and open quantities, so a suggestion accepted meanwhile is either accepted before (and
    counted as open quantity) or waits and finds it replaced (``InvalidArgument``)."""
    return list(PurchaseOrder.objects.select_for_update().filter(status=Status.SUGGESTED)
                .order_by("id").values_list("id", flat=True))


def replace_suggestions(suggestions: list[Suggestion], *, now: datetime | None = None) -> dict:
    """Replace every still-``suggested`` purchase order with ``suggestions`` (one order per
    supplier, a line per product, each with its reasoning); orders staff have accepted, sent or
    received are never touched. Returns ``{"replaced", "orders", "lines"}``."""
    now = now or timezone.now()
    with transaction.atomic():
        old = lock_suggestions()
        PurchaseOrderLine.objects.filter(order_id__in=old).delete()
        PurchaseOrder.objects.filter(id__in=old).delete()
        orders = lines = 0
        for suggestion in suggestions:
            if not suggestion.lines:
                continue
            order = PurchaseOrder.objects.create(
                supplier=suggestion.supplier, status=Status.SUGGESTED, expected_date=suggestion.expected_date,
                reasoning=suggestion.reasoning, created_at=now)
            PurchaseOrderLine.objects.bulk_create([
                PurchaseOrderLine(order=order, product=line.product, quantity=line.quantity,
                                  unit_cost=line.unit_cost, reasoning=line.reasoning)
                for line in suggestion.lines])
            orders += 1
            lines += len(suggestion.lines)
    return {"replaced": len(old), "orders": orders, "lines": lines}


def _lock_order(order_id: int) -> PurchaseOrder:
    try:
        return PurchaseOrder.objects.select_for_update(no_key=True).select_related(None).get(pk=order_id)
    except PurchaseOrder.DoesNotExist:
        raise InvalidArgument(_("No such purchase order.")) from None


def _refuse(order: PurchaseOrder, operation: str):
    raise PurchaseOrderState(
        _("Purchase order %(order)s is %(status)s: it cannot be %(operation)s.")
        % {"order": order, "status": order.get_status_display(), "operation": operation})


def _move(order: PurchaseOrder, *, allowed, target, operation, **stamps) -> PurchaseOrder:
    with transaction.atomic():
        locked = _lock_order(order.pk)
        if locked.status == target:
            return locked
        if locked.status not in allowed:
            _refuse(locked, operation)
        locked.status = target
        for name, value in stamps.items():
            setattr(locked, name, value)
        locked.save(update_fields=["status", *stamps])
    return locked


def accept_suggestion(order: PurchaseOrder, *, staff, now: datetime | None = None) -> PurchaseOrder:
    """A suggested order becomes a real one (``created``), for staff to send. Raises
    ``PurchaseOrderState`` for an order that is not a suggestion."""
    return _move(order, allowed={Status.SUGGESTED}, target=Status.CREATED, operation=_("accepted"),
                 accepted_at=now or timezone.now(), created_by=staff)


def send(order: PurchaseOrder, *, staff, now: datetime | None = None) -> PurchaseOrder:
    """``created`` → ``sent`` (the supplier has it; its lead time runs from ``sent_at``). Raises
    ``PurchaseOrderState`` from any other status."""
    return _move(order, allowed={Status.CREATED}, target=Status.SENT, operation=_("sent"),
                 sent_at=now or timezone.now())


def cancel(order: PurchaseOrder, *, staff, now: datetime | None = None) -> PurchaseOrder:
    """Cancel a suggested, created, sent or partly received order: nothing more is awaited (what
    was received stays in stock). Raises ``PurchaseOrderState`` for a received order."""
    return _move(order, allowed={Status.SUGGESTED, Status.CREATED, Status.SENT, Status.PARTLY_RECEIVED},
                 target=Status.CANCELLED, operation=_("cancelled"), cancelled_at=now or timezone.now())


def receive(order: PurchaseOrder, lines, *, staff=None, at: datetime | None = None,
            note: str = "") -> Receipt:
    """Record one delivery against a sent or partly received order: ``lines`` is
    ``[(line, received, defective), ...]`` (lines of this order; pairs of 0 are skipped). Accepted
    units enter stock with a "Purchase receipt" movement linked to the receipt; the order becomes
    ``received`` when every line has all its units, else ``partly_received``.

    Raises ``PurchaseOrderState`` for an order in another status, ``OverReceipt`` for more units
    than a line still awaits, ``InvalidQuantity`` for counts that are not whole numbers or more
    defective than received, ``InvalidArgument`` for a line of another order, a line given twice,
    nothing received, or a receipt time in the future or before the order was sent. Nothing is
    written when it raises.
    """
    now = timezone.now()
    at = at or now
    note = _check_text("note", note, required=False, max_length=255)
    wanted: dict[int, tuple[int, int]] = {}
    for line, received, defective in lines:
        if type(received) is not int or type(defective) is not int or received < 0 or defective < 0:
            raise InvalidQuantity(_("Received and defective units must be whole numbers of at least 0."))
        if defective > received:
            raise InvalidQuantity(_("Defective units cannot exceed the units received."))
        if line.order_id != order.pk:
            raise InvalidArgument(_("That line is not on this purchase order."))
        if line.pk in wanted:
            raise InvalidArgument(_("A line is given twice."))
        if received:
            wanted[line.pk] = (received, defective)
    if not wanted:
        raise InvalidArgument(_("Nothing was received."))
    if at > now:
        raise InvalidArgument(_("The receipt time cannot be in the future."))
    with transaction.atomic():
        locked = _lock_order(order.pk)
        if locked.status not in (Status.SENT, Status.PARTLY_RECEIVED):
            _refuse(locked, _("received"))
        if locked.sent_at and at < locked.sent_at:
            raise InvalidArgument(_("The receipt time cannot be before the order was sent."))
        # Lines by id, then products by id: the one lock order (module docstring).
        order_lines = list(PurchaseOrderLine.objects.select_for_update(no_key=True)
                           .filter(order=locked).order_by("id"))
        for line in order_lines:
            received, _defective = wanted.get(line.pk, (0, 0))
            if received > line.quantity - line.received:
                raise OverReceipt(
                    _("%(product)s: %(received)s received, but only %(outstanding)s still awaited.")
                    % {"product": line.product, "received": received,
                       "outstanding": line.quantity - line.received})
        receipt = Receipt.objects.create(order=locked, received_at=at, received_by=staff, note=note,
                                         created_at=now)
        ReceiptLine.objects.bulk_create([
            ReceiptLine(receipt=receipt, line_id=line_id, quantity_received=received,
                        quantity_defective=defective)
            for line_id, (received, defective) in sorted(wanted.items())])
        complete = True
        for line in sorted(order_lines, key=lambda line: (line.product_id, line.pk)):
            received, defective = wanted.get(line.pk, (0, 0))
            if received:
                PurchaseOrderLine.objects.filter(pk=line.pk).update(
                    received=F("received") + received, defective=F("defective") + defective)
            accepted = received - defective
            if accepted:
                stock_after = _move_stock(line.product_id, accepted)
                StockMovement.objects.create(
                    product_id=line.product_id, delta=accepted, stock_after=stock_after, staff=staff,
                    receipt=receipt, reason=_stored_text(RECEIPT_REASON), created_at=now)
            complete = complete and line.received + received == line.quantity
        locked.status = Status.RECEIVED if complete else Status.PARTLY_RECEIVED
        locked.received_at = at if complete else None
        locked.save(update_fields=["status", "received_at"])
        _invalidate_after_commit()
    return receipt
