"""Real threads on real PostgreSQL: purchase receipts racing redemptions of the same product never
oversell and never lose a unit, and two receipts racing for a line's last units never receive
more than it awaits."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from catalog import services
from catalog.errors import OutOfStock
from catalog.models import (
    Product,
    ProductKind,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    Receipt,
    Redemption,
    StockMovement,
    Supplier,
)
from catalog.services import purchasing
from catalog.supply_errors import OverReceipt
from tests.catalog.helpers import fund, make_product, stock
from tests.factories import MemberFactory, StaffFactory
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def supplied_product(stock_units):
    supplier = Supplier.objects.create(name="优选供应链", lead_time_days=3)
    product = make_product(name="Tea", kind=ProductKind.PHYSICAL, stock=stock_units, points_price=10)
    Product.objects.filter(pk=product.pk).update(supplier=supplier)
    product.refresh_from_db()
    return supplier, product


def test_receipts_racing_redemptions_never_oversell_or_lose_stock(ledger_invariants):
    supplier, product = supplied_product(5)
    staff = StaffFactory()
    orders = []
    for _ in range(6):
        order = purchasing.create_purchase_order(supplier, [(product, 3, Decimal("2"))], staff=staff)
        orders.append(purchasing.send(order, staff=staff))
    lines = [PurchaseOrderLine.objects.get(order=order) for order in orders]
    members = [MemberFactory(established=True) for _ in range(24)]
    for member in members:
        fund(member, 100)

    def call(i):
        if i < 6:  # six receipts of 3 units, one of them 1 defective: 17 units accepted
            return purchasing.receive(orders[i], [(lines[i], 3, 1 if i == 0 else 0)], staff=staff)
        return services.redeem(members[i - 6], product, key=f"r{i}", address="1 Tea Street")

    results = run_together(30, call)

    receipts = [r for r in results if isinstance(r, Receipt)]
    redemptions = [r for r in results if isinstance(r, Redemption)]
    refused = [r for r in results if not isinstance(r, Receipt | Redemption)]
    assert len(receipts) == 6
    assert all(isinstance(error, OutOfStock) for error in refused), refused
    assert len(redemptions) + len(refused) == 24
    sold = len(redemptions)
    # Every unit accounted for: 5 at the start + 17 accepted - sold, never below 0.
    assert stock(product) == (5 + 17 - sold, sold)
    assert 5 <= sold <= 22
    movements = StockMovement.objects.filter(product=product)
    assert movements.aggregate(total=Sum("delta"))["total"] == 5 + 17 - sold
    assert movements.filter(receipt__isnull=False).count() == 6
    assert movements.filter(redemption__isnull=False).count() == sold
    # Each movement's stock_after is a stock the product really had, in the order they committed.
    afters = list(movements.order_by("id").values_list("delta", "stock_after"))
    running = 0
    for delta, after in afters:
        running += delta
        assert after == running >= 0
    assert set(PurchaseOrder.objects.values_list("status", flat=True)) == {PurchaseOrderStatus.RECEIVED}
    assert ledger_invariants() == []


def test_two_receipts_racing_for_a_lines_last_units_receive_it_once():
    supplier, product = supplied_product(0)
    staff = StaffFactory()
    order = purchasing.send(purchasing.create_purchase_order(
        supplier, [(product, 10, Decimal("2"))], staff=staff), staff=staff)
    line = PurchaseOrderLine.objects.get(order=order)

    results = run_together(4, lambda i: purchasing.receive(order, [(line, 6, 0)], staff=staff))

    assert sum(isinstance(result, Receipt) for result in results) == 1
    assert sum(isinstance(result, OverReceipt) for result in results) == 3
    line.refresh_from_db()
    assert (line.received, line.defective) == (6, 0)
    assert stock(product) == (6, 0)
    order.refresh_from_db()
    assert order.status == PurchaseOrderStatus.PARTLY_RECEIVED


def test_accepting_a_suggestion_while_the_job_reruns_never_orders_twice():
    from django.utils import timezone

    from catalog.errors import InvalidArgument
    from catalog.replenishment import suggest

    supplier, product = supplied_product(330)
    member = MemberFactory(established=True)
    fund(member, 10**6)
    today = timezone.localdate()
    for back in range(1, 29):  # 10 a day for 28 days: 50 left, a suggestion of 170 - 50 units
        redemption = services.redeem(member, product, 10, key=f"h{back}", address="1 Tea Street")
        noon = datetime.combine(today - timedelta(days=back), time(12))
        Redemption.objects.filter(pk=redemption.pk).update(created_at=timezone.make_aware(noon))
    assert suggest()["lines"] == 1
    staff = StaffFactory()
    order = PurchaseOrder.objects.get(status=PurchaseOrderStatus.SUGGESTED)

    results = run_together(2, lambda i: purchasing.accept_suggestion(order, staff=staff) if i == 0
                           else suggest())

    accepted, rerun = results
    open_orders = PurchaseOrder.objects.filter(
        status__in=[PurchaseOrderStatus.SUGGESTED, PurchaseOrderStatus.CREATED], lines__product=product)
    # Either accepted first (the rerun counts it as on order and suggests nothing) or replaced
    # first (accepting finds no such order): one order for the tea, never two.
    assert open_orders.count() == 1
    if isinstance(accepted, PurchaseOrder):
        assert rerun == {"products": 1, "replaced": 0, "orders": 0, "lines": 0}
        assert open_orders.get().status == PurchaseOrderStatus.CREATED
    else:
        assert isinstance(accepted, InvalidArgument), accepted
        assert rerun["replaced"] == 1 and open_orders.get().status == PurchaseOrderStatus.SUGGESTED
    line = PurchaseOrderLine.objects.get(order=open_orders.get())
    assert line.quantity == 120, line.reasoning  # up to 10 a day x (3 + 7) + 7 x 10, from 50
