"""Suppliers and purchasing (``catalog.services.purchasing``), supplier KPIs
(``catalog.supplier_kpis``), the replenishment forecast and job (``catalog.replenishment``) and
its backtest (``catalog.replenishment_backtest``), on exact prepared data."""

import math
import statistics
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from itertools import count

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from catalog import services
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
from catalog.replenishment import forecast, plan, suggest
from catalog.replenishment_backtest import backtest, generate, report
from catalog.services import purchasing
from catalog.supplier_kpis import supplier_kpi, supplier_kpis
from catalog.supply_errors import OverReceipt, PurchaseOrderState
from common.text import stored_text
from tests.catalog.helpers import fund, make_product, stock
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db
S = PurchaseOrderStatus
_keys = count(1)


def local(year, month, day, hour=0, minute=0):
    return timezone.make_aware(datetime(year, month, day, hour, minute))


@pytest.fixture
def staff():
    return StaffFactory()


@pytest.fixture
def supplier():
    return Supplier.objects.create(name="优选供应链", contact="王经理 13900000000", lead_time_days=5)


def supplied(supplier, name="Tea", stock=10, **fields):
    product = make_product(name=name, stock=stock, kind=ProductKind.PHYSICAL, **fields)
    Product.objects.filter(pk=product.pk).update(supplier=supplier, supplier_sku=f"SKU-{name}")
    product.refresh_from_db()
    return product


def sent_order(supplier, staff, lines, *, sent_at=None, expected_date=None):
    order = purchasing.create_purchase_order(supplier, lines, staff=staff, expected_date=expected_date,
                                             now=sent_at)
    return purchasing.send(order, staff=staff, now=sent_at)


def line_of(order, product):
    return PurchaseOrderLine.objects.get(order=order, product=product)


def state():
    return {
        "orders": list(PurchaseOrder.objects.order_by("id").values_list("id", "status")),
        "lines": list(PurchaseOrderLine.objects.order_by("id").values_list("id", "received", "defective")),
        "receipts": Receipt.objects.count(),
        "receipt_lines": ReceiptLine.objects.count(),
        "movements": StockMovement.objects.count(),
        "stock": list(Product.objects.order_by("id").values_list("id", "stock")),
    }


# --------------------------------------------------------------------------- the state machine


def test_an_order_goes_created_sent_partly_received_received(supplier, staff):
    tea, cups = supplied(supplier, "Tea"), supplied(supplier, "Cups")
    order = purchasing.create_purchase_order(
        supplier, [(tea, 10, Decimal("12.50")), (cups, 4, Decimal("3"))], staff=staff, note="spring")
    assert (order.status, order.created_by, order.note) == (S.CREATED, staff, "spring")
    assert order.expected_date == timezone.localdate() + timedelta(days=5)
    rows = order.lines.values_list("product__name", "quantity", "unit_cost", "received", "defective")
    assert list(rows) == [
        ("Tea", 10, Decimal("12.50"), 0, 0), ("Cups", 4, Decimal("3.00"), 0, 0)]

    order = purchasing.send(order, staff=staff)
    assert order.status == S.SENT and order.sent_at is not None
    assert purchasing.send(order, staff=staff).sent_at == order.sent_at  # again: unchanged

    purchasing.receive(order, [(line_of(order, tea), 6, 1)], staff=staff)
    order.refresh_from_db()
    assert (order.status, order.received_at) == (S.PARTLY_RECEIVED, None)
    purchasing.receive(order, [(line_of(order, tea), 4, 0), (line_of(order, cups), 4, 4)], staff=staff)
    order.refresh_from_db()
    assert order.status == S.RECEIVED and order.received_at is not None
    assert list(order.lines.values_list("received", "defective")) == [(10, 1), (4, 4)]
    # Accepted units only: 5 + 4 tea, no cups (all four defective).
    assert stock(tea) == (19, 0) and stock(cups) == (10, 0)


@pytest.mark.parametrize("status, call", [
    (S.CREATED, "receive"), (S.SENT, "accept"), (S.RECEIVED, "cancel"), (S.RECEIVED, "send"),
    (S.RECEIVED, "accept"), (S.CANCELLED, "send"), (S.CANCELLED, "receive"), (S.CANCELLED, "accept"),
])
def test_moves_the_status_forbids_are_refused_with_nothing_written(supplier, staff, status, call):
    tea = supplied(supplier)
    order = purchasing.create_purchase_order(supplier, [(tea, 2, Decimal("1"))], staff=staff)
    if status != S.CREATED:
        purchasing.send(order, staff=staff)
    if status == S.RECEIVED:
        purchasing.receive(order, [(line_of(order, tea), 2, 0)], staff=staff)
    if status == S.CANCELLED:
        purchasing.cancel(order, staff=staff)
    before = state()
    calls = {
        "receive": lambda: purchasing.receive(order, [(line_of(order, tea), 1, 0)], staff=staff),
        "accept": lambda: purchasing.accept_suggestion(order, staff=staff),
        "cancel": lambda: purchasing.cancel(order, staff=staff),
        "send": lambda: purchasing.send(order, staff=staff),
    }
    with pytest.raises(PurchaseOrderState) as refused:
        calls[call]()
    assert refused.value.code == "purchase_order_state"
    assert state() == before


def test_a_suggestion_is_accepted_then_sent(supplier, staff):
    tea = supplied(supplier)
    purchasing.replace_suggestions([purchasing.Suggestion(
        supplier=supplier, expected_date=date(2026, 12, 31),
        lines=[purchasing.SuggestedLine(tea, 7, Decimal("2.00"), {"forecast": "7.00"})])])
    order = PurchaseOrder.objects.get()
    assert (order.status, order.created_by) == (S.SUGGESTED, None)
    with pytest.raises(PurchaseOrderState):
        purchasing.send(order, staff=staff)
    order = purchasing.accept_suggestion(order, staff=staff)
    assert (order.status, order.created_by) == (S.CREATED, staff) and order.accepted_at is not None
    assert purchasing.send(order, staff=staff).status == S.SENT


def test_cancelling_a_partly_received_order_keeps_what_arrived(supplier, staff):
    tea = supplied(supplier, stock=0)
    order = sent_order(supplier, staff, [(tea, 10, Decimal("1"))])
    purchasing.receive(order, [(line_of(order, tea), 3, 0)], staff=staff)
    order = purchasing.cancel(order, staff=staff)
    assert order.status == S.CANCELLED and stock(tea) == (3, 0)


# --------------------------------------------------------------------------- receipts and stock


def test_accepted_units_enter_stock_through_a_purchase_receipt_movement(supplier, staff):
    tea = supplied(supplier, stock=10)
    order = sent_order(supplier, staff, [(tea, 20, Decimal("5"))], sent_at=timezone.now() - timedelta(days=3))
    at = timezone.now() - timedelta(hours=2)
    receipt = purchasing.receive(order, [(line_of(order, tea), 12, 2)], staff=staff, at=at, note="box 1")
    assert (receipt.order, receipt.received_by, receipt.received_at, receipt.note) == (
        order, staff, at, "box 1")
    rows = receipt.lines.values_list("line__product__name", "quantity_received", "quantity_defective")
    assert list(rows) == [
        ("Tea", 12, 2)]
    movement = StockMovement.objects.filter(product=tea).latest("id")
    assert (movement.delta, movement.stock_after, movement.receipt, movement.staff, movement.redemption) == (
        10, 20, receipt, staff, None)
    assert movement.reason == stored_text("Purchase receipt")
    assert stock(tea) == (20, 0)


def test_an_all_defective_receipt_moves_no_stock(supplier, staff):
    tea = supplied(supplier, stock=10)
    order = sent_order(supplier, staff, [(tea, 5, Decimal("5"))])
    movements = StockMovement.objects.count()
    purchasing.receive(order, [(line_of(order, tea), 5, 5)], staff=staff)
    assert StockMovement.objects.count() == movements and stock(tea) == (10, 0)


def test_receiving_more_than_outstanding_is_refused_with_nothing_written(supplier, staff):
    tea, cups = supplied(supplier, "Tea"), supplied(supplier, "Cups")
    order = sent_order(supplier, staff, [(tea, 10, Decimal("1")), (cups, 5, Decimal("1"))])
    purchasing.receive(order, [(line_of(order, tea), 8, 0)], staff=staff)
    before = state()
    with pytest.raises(OverReceipt) as refused, translation.override("en"):
        purchasing.receive(order, [(line_of(order, cups), 5, 0), (line_of(order, tea), 3, 0)], staff=staff)
    assert refused.value.code == "over_receipt"
    assert "only 2 still awaited" in refused.value.message
    assert state() == before


@pytest.mark.parametrize("received, defective, error", [
    (2, 3, InvalidQuantity), (-1, 0, InvalidQuantity), (1.5, 0, InvalidQuantity), (0, 0, InvalidArgument),
])
def test_malformed_receipts_are_refused(supplier, staff, received, defective, error):
    tea = supplied(supplier)
    order = sent_order(supplier, staff, [(tea, 10, Decimal("1"))])
    before = state()
    with pytest.raises(error):
        purchasing.receive(order, [(line_of(order, tea), received, defective)], staff=staff)
    assert state() == before


def test_a_receipt_in_the_future_or_before_sending_or_of_another_order_is_refused(supplier, staff):
    tea = supplied(supplier)
    order = sent_order(supplier, staff, [(tea, 10, Decimal("1"))], sent_at=timezone.now() - timedelta(days=1))
    other = sent_order(supplier, staff, [(tea, 10, Decimal("1"))])
    before = state()
    for kwargs in ({"at": timezone.now() + timedelta(hours=1)}, {"at": timezone.now() - timedelta(days=2)}):
        with pytest.raises(InvalidArgument):
            purchasing.receive(order, [(line_of(order, tea), 1, 0)], staff=staff, **kwargs)
    with pytest.raises(InvalidArgument):
        purchasing.receive(order, [(line_of(other, tea), 1, 0)], staff=staff)
    assert state() == before


def test_only_the_suppliers_physical_goods_can_be_ordered(supplier, staff):
    other = Supplier.objects.create(name="Other", lead_time_days=3)
    tea = supplied(supplier)
    coupon = make_product(name="Coupon", kind=ProductKind.COUPON, codes=["A1"])
    Product.objects.filter(pk=coupon.pk).update(supplier=supplier)
    coupon.refresh_from_db()
    for lines in ([(coupon, 1, Decimal("1"))], [(tea, 0, Decimal("1"))], [(tea, 1, Decimal("-1"))],
                  [(tea, 1, Decimal("1")), (tea, 2, Decimal("1"))], []):
        with pytest.raises((InvalidArgument, InvalidQuantity)):
            purchasing.create_purchase_order(supplier, lines, staff=staff)
    with pytest.raises(InvalidArgument):
        purchasing.create_purchase_order(other, [(tea, 1, Decimal("1"))], staff=staff)
    assert PurchaseOrder.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_database_keeps_received_within_ordered_and_defective_within_received(supplier, staff):
    tea = supplied(supplier)
    order = sent_order(supplier, staff, [(tea, 10, Decimal("1"))])
    for fields in ({"received": 11}, {"received": 2, "defective": 3}):
        with pytest.raises(IntegrityError), transaction.atomic():
            PurchaseOrderLine.objects.filter(order=order).update(**fields)
    receipt = Receipt.objects.create(order=order)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReceiptLine.objects.create(receipt=receipt, line=line_of(order, tea), quantity_received=1,
                                   quantity_defective=2)


# --------------------------------------------------------------------------- supplier KPIs


@pytest.fixture
def march(supplier, staff):
    """PO1 (expected 10 March, sent 1 March 10:00): tea 100, cups 50; received 8 March 10:00 tea
    60 (2 defective), 12 March 16:00 tea 40 (1) and cups 50 (5). PO2 (expected 20 March, sent 15
    March 10:00): tea 30, received 20 March 22:00 20 (0), then cancelled. PO3 created, never sent."""
    tea, cups = supplied(supplier, "Tea"), supplied(supplier, "Cups")
    po1 = sent_order(supplier, staff, [(tea, 100, Decimal("1")), (cups, 50, Decimal("1"))],
                     sent_at=local(2026, 3, 1, 10), expected_date=date(2026, 3, 10))
    purchasing.receive(po1, [(line_of(po1, tea), 60, 2)], at=local(2026, 3, 8, 10))
    purchasing.receive(po1, [(line_of(po1, tea), 40, 1), (line_of(po1, cups), 50, 5)],
                       at=local(2026, 3, 12, 16))
    po2 = sent_order(supplier, staff, [(tea, 30, Decimal("1"))], sent_at=local(2026, 3, 15, 10),
                     expected_date=date(2026, 3, 20))
    purchasing.receive(po2, [(line_of(po2, tea), 20, 0)], at=local(2026, 3, 20, 22))
    purchasing.cancel(po2, staff=staff)
    purchasing.create_purchase_order(supplier, [(tea, 1000, Decimal("1"))], staff=staff,
                                     expected_date=date(2026, 3, 25))
    return supplier


def test_kpis_over_a_month_are_exact(march, django_assert_num_queries):
    idle = Supplier.objects.create(name="空闲供应商", lead_time_days=3)
    with django_assert_num_queries(1):  # every supplier, every figure: one query per period
        kpis = {kpi.name: kpi for kpi in supplier_kpis(date(2026, 3, 1), date(2026, 3, 31))}
    kpi = kpis["优选供应链"]
    assert (kpi.receipts, kpi.on_time_receipts, kpi.units_received, kpi.units_defective, kpi.units_ordered,
            kpi.units_filled) == (3, 2, 170, 8, 180, 170)
    assert kpi.on_time_rate == Decimal("66.67")  # 8 and 20 March on time, 12 March late
    assert kpi.defect_rate == Decimal("4.71")  # 8 / 170
    assert kpi.fill_rate == Decimal("94.44")  # 170 / 180; PO3 never sent
    assert kpi.average_lead_days == Decimal("7.92")  # (7 + 11.25 + 5.5) / 3
    none = kpis["空闲供应商"]
    assert (none.supplier_id, none.receipts, none.on_time_rate, none.fill_rate, none.defect_rate,
            none.average_lead_days) == (idle.pk, 0, None, None, None, None)


def test_kpis_follow_the_period(march):
    early = supplier_kpi(march, date(2026, 3, 1), date(2026, 3, 10))
    assert (early.receipts, early.on_time_rate, early.defect_rate, early.fill_rate,
            early.average_lead_days) == (
        1, Decimal("100.00"), Decimal("3.33"), Decimal("100.00"), Decimal("7.00"))
    april = supplier_kpi(march, date(2026, 4, 1), date(2026, 4, 30))
    assert (april.receipts, april.on_time_rate, april.fill_rate, april.defect_rate,
            april.average_lead_days) == (
        0, None, None, None, None)


# --------------------------------------------------------------------------- the forecast


MONDAY = date(2026, 6, 1)


def test_a_flat_history_forecasts_its_rate_with_no_safety_stock():
    result = forecast([10] * 28, MONDAY, 12)
    assert (round(result.daily_level, 9), round(result.demand, 9), round(result.sigma, 9)) == (10, 120, 0)
    decided = plan([10] * 28, MONDAY, lead_days=5, review_days=7, service_level=0.95, position=50)
    assert (round(decided.reorder_point, 9), round(decided.safety_stock, 9),
            round(decided.forecast_review, 9),
            decided.quantity) == (120, 0, 70, 140)  # up to 120 + 70, from 50
    assert plan([10] * 28, MONDAY, lead_days=5, review_days=7, service_level=0.95, position=120).quantity == 0


def test_the_weekday_index_shapes_the_forecast():
    # Four weeks of June: weekdays 10, weekends 24 (mean 14); no error left once de-seasonalised.
    history = ([10] * 5 + [24] * 2) * 4
    result = forecast(history, MONDAY, 12)
    assert [round(index, 9) for index in result.weekday_index] == (
        [round(10 / 14, 9)] * 5 + [round(24 / 14, 9)] * 2)
    assert round(result.sigma, 9) == 0
    # From Monday 29 June: Mon-Fri 10, Sat-Sun 24, Mon-Fri 10.
    assert [round(day, 9) for day in result.daily] == [10] * 5 + [24] * 2 + [10] * 5
    assert round(result.demand, 9) == 148


def test_the_month_index_needs_a_year_and_scales_the_coming_month():
    # A year from 2 June 2025: 10 a day, July 20 a day (mean 3960 / 365).
    first = date(2025, 6, 2)
    history = [20 if (first + timedelta(days=offset)).month == 7 else 10 for offset in range(365)]
    result = forecast(history, first, 35)
    mean = 3960 / 365
    assert [round(index, 9) for index in result.month_index] == [round(10 / mean, 9)] * 6 + [
        round(20 / mean, 9)] + [round(10 / mean, 9)] * 5
    # From 2 June 2026: 29 days of June, then 6 of July at twice the rate (the weekday index too).
    june, july = result.daily[:29], result.daily[29:]
    days = [date(2026, 6, 2) + timedelta(days=h) for h in range(35)]
    for day, value in zip(days, result.daily, strict=True):
        index = result.weekday_index[day.weekday()] * result.month_index[day.month - 1]
        expected = result.daily_level * index
        assert math.isclose(value, expected)
    assert math.isclose(sum(july) / 6 / (sum(june) / 29), 2, rel_tol=0.02)
    # With less than a year, months are not told apart (the first weeks of a product are no season).
    assert forecast(history[:364], first, 3).month_index == (1.0,) * 12
    assert forecast(history[:27], first, 3).weekday_index == (1.0,) * 7


def test_level_sigma_and_safety_stock_exactly_on_a_step_in_demand():
    # A week at 10 then a week at 20 (within June: every weekday index 1, month index 1). The
    # level starts at the first 28 days' mean (15) and moves a tenth of the way each day.
    history = [10] * 7 + [20] * 7
    level, errors = 15.0, []
    for units in history:
        errors.append(units - level)
        level += 0.1 * (units - level)
    closed_form = 20 + (10 + 5 * 0.9**7 - 20) * 0.9**7
    assert math.isclose(level, closed_form)
    result = forecast(history, MONDAY, 12)
    assert math.isclose(result.daily_level, closed_form)
    assert math.isclose(result.sigma, statistics.stdev(errors))
    decided = plan(history, MONDAY, lead_days=5, review_days=7, service_level=0.95, position=0)
    z = statistics.NormalDist().inv_cdf(0.95)
    assert math.isclose(decided.safety_stock, z * statistics.stdev(errors) * math.sqrt(12))
    assert math.isclose(decided.reorder_point, 12 * closed_form + decided.safety_stock)
    assert decided.quantity == math.ceil(decided.reorder_point + 7 * closed_form)
    assert (round(closed_form, 4), round(decided.safety_stock, 4)) == (16.3609, 28.412)


# --------------------------------------------------------------------------- the nightly job


def redeem_history(product, member, *, days, units, today):
    """``units`` redeemed on each of the ``days`` days before ``today`` (one redemption a day,
    moved back in time: the services stamp the present)."""
    for back in range(1, days + 1):
        redemption = services.redeem(member, product, units, key=f"hist-{next(_keys)}",
                                     address="1 Tea Street")
        noon = datetime.combine(today - timedelta(days=back), datetime.min.time()) + timedelta(hours=12)
        type(redemption).objects.filter(pk=redemption.pk).update(created_at=timezone.make_aware(noon))


@pytest.fixture
def shop(supplier, staff):
    """Tea (stock 50 after its history, 20 more on a sent order) sells 10 a day for 28 days; cups
    sell 1 a day with 500 in stock; a product of an inactive supplier sells too."""
    today = timezone.localdate()
    member = MemberFactory(established=True)
    fund(member, 10**6)
    tea = supplied(supplier, "Tea", stock=330, points_price=1)
    cups = supplied(supplier, "Cups", stock=528, points_price=1)
    closed = Supplier.objects.create(name="Closed", lead_time_days=3, active=False)
    other = supplied(closed, "Other", stock=28, points_price=1)
    long_ago = timezone.now() - timedelta(days=400)
    Product.objects.filter(pk__in=[tea.pk, cups.pk, other.pk]).update(created_at=long_ago)
    Product.objects.filter(pk=other.pk).update(supplier=closed)
    redeem_history(tea, member, days=28, units=10, today=today)
    redeem_history(cups, member, days=28, units=1, today=today)
    redeem_history(other, member, days=28, units=1, today=today)
    sent_order(supplier, staff, [(tea, 20, Decimal("4.20"))])
    return {"tea": tea, "cups": cups, "today": today}


def test_the_job_suggests_one_order_per_supplier_with_its_reasoning(shop, supplier):
    assert stock(shop["tea"])[0] == 50
    # Inactive suppliers' products are left out; the cups have stock enough.
    assert suggest() == {"products": 2, "replaced": 0, "orders": 1, "lines": 1}
    order = PurchaseOrder.objects.get(status=S.SUGGESTED)
    assert (order.supplier, order.expected_date, order.created_by) == (
        supplier, shop["today"] + timedelta(days=5), None)
    assert order.reasoning["method"] == "ewma-weekday-month"
    [line] = order.lines.all()
    assert (line.product, line.unit_cost) == (shop["tea"], Decimal("4.20"))  # the last order's cost
    # 28 days since its first redemption, 10 a day: the flat history of the forecast tests.
    assert line.reasoning == {
        "forecast": "120.00", "forecast_review": "70.00", "daily_level": "10.00", "sigma": "0.00",
        "lead_time_days": 5, "review_days": 7, "service_level": "0.950", "safety_stock": "0.00",
        "reorder_point": "120.00", "order_up_to": "190.00", "current_stock": 50,
        "open_purchase_quantity": 20, "history_days": 28}
    assert line.quantity == 120  # up to 190 from 50 in stock + 20 on order


def test_products_without_redemptions_in_a_year_are_not_suggested(supplier):
    member = MemberFactory(established=True)
    fund(member, 10**6)
    idle = supplied(supplier, "Idle", stock=0, points_price=1)
    cancelled = supplied(supplier, "Cancelled", stock=5, points_price=1)
    redemption = services.redeem(member, cancelled, 5, key="gone", address="1 Tea Street")
    services.cancel(redemption, reason="changed my mind")
    assert stock(idle) == (0, 0)
    assert suggest() == {"products": 2, "replaced": 0, "orders": 0, "lines": 0}


def test_rerunning_replaces_suggestions_and_never_touches_accepted_orders(shop, supplier, staff):
    suggest()
    first = PurchaseOrder.objects.get(status=S.SUGGESTED)
    quantity = first.lines.get().quantity
    done = suggest()
    assert (done["replaced"], done["orders"]) == (1, 1)
    second = PurchaseOrder.objects.get(status=S.SUGGESTED)
    assert second.pk != first.pk and second.lines.get().quantity == quantity
    assert not PurchaseOrder.objects.filter(pk=first.pk).exists()
    accepted = purchasing.accept_suggestion(second, staff=staff)
    # Accepted, the order is open purchase quantity: the tea needs nothing more tonight.
    assert suggest() == {"products": 2, "replaced": 0, "orders": 0, "lines": 0}
    accepted.refresh_from_db()
    assert accepted.status == S.CREATED and accepted.lines.get().quantity == quantity


def test_the_task_runs_the_job(shop):
    from catalog import tasks

    assert tasks.replenishment()["orders"] == 1


def test_the_job_is_scheduled_nightly_at_two(db):
    from celery import current_app
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_related("crontab").get(task="catalog.replenishment")
    assert (task.crontab.minute, task.crontab.hour, task.crontab.timezone.key, task.enabled) == (
        "0", "2", "Asia/Shanghai", True)
    assert task.task in current_app.tasks


# --------------------------------------------------------------------------- the backtest


def test_generated_demand_has_its_weekly_pattern_and_holiday_spike():
    demand = generate(15)
    year = demand[365:]
    days = [date(2026, 1, 1) + timedelta(days=offset) for offset in range(365)]
    weekend = statistics.mean(units for units, day in zip(year, days, strict=True) if day.weekday() >= 5)
    weekday = statistics.mean(units for units, day in zip(year, days, strict=True) if day.weekday() < 5)
    assert weekend > 1.3 * weekday
    double_eleven = year[days.index(date(2026, 11, 11))]
    assert double_eleven > 2.5 * statistics.mean(year)


def test_the_forecast_has_fewer_stockout_days_at_no_more_than_1_2_times_the_stock():
    result = backtest(15)
    assert (result.forecast.stockout_days, result.naive.stockout_days) == (0, 17)
    assert (round(result.forecast.average_stock, 1), round(result.naive.average_stock, 1)) == (243.0, 246.4)
    assert (result.naive_reorder_point, result.naive_order_quantity) == (106, 528)
    assert result.stock_ratio <= 1.2 and result.claim_holds
    for seed in (1, 2, 3):
        assert backtest(seed).claim_holds, seed
    assert report(result)[-1].endswith("met")


def test_the_backtest_command_prints_both_policies():
    out = StringIO()
    call_command("backtest_replenishment", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[2].split() == ["(a)", "forecast", "0", "243.0", "0", "48"]
    assert lines[3].split() == ["(b)", "naive", "ROP", "106", "Q", "528", "17", "246.4", "273", "15"]
