"""Suppliers, purchase orders and receipts in the admin, as the catalog manager (and the auditor,
who may only look): pages render, the KPI list and its CSV, a new order, the status buttons
(POST only) and the receive page, all through ``catalog.services.purchasing``."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from catalog.models import (
    Product,
    ProductKind,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    Receipt,
    StockMovement,
    Supplier,
)
from catalog.services import purchasing
from mall import console
from tests.catalog.helpers import make_product, stock
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
S = PurchaseOrderStatus


def login(client, group_name):
    user = StaffFactory()
    user.groups.add(Group.objects.get(name=group_name))
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return user


@pytest.fixture
def manager(client):
    login(client, "商品管理 / Catalog manager")
    return client


@pytest.fixture
def supplier():
    return Supplier.objects.create(name="优选供应链", contact="王经理", lead_time_days=5)


@pytest.fixture
def tea(supplier):
    product = make_product(name="Tea", kind=ProductKind.PHYSICAL, stock=10)
    Product.objects.filter(pk=product.pk).update(supplier=supplier, supplier_sku="YX-TEA")
    product.refresh_from_db()
    return product


def url(name, *args):
    return reverse(f"admin:catalog_{name}", args=args)


def sent(supplier, tea, quantity=10):
    order = purchasing.create_purchase_order(supplier, [(tea, quantity, Decimal("3.50"))], staff=None,
                                             expected_date=date(2026, 3, 10))
    return purchasing.send(order, staff=None, now=timezone.make_aware(datetime(2026, 3, 1, 10)))


def test_every_supply_page_renders_for_the_catalog_manager(manager, supplier, tea):
    order = sent(supplier, tea)
    receipt = purchasing.receive(order, [(order.lines.get(), 4, 1)],
                                 at=timezone.make_aware(datetime(2026, 3, 8, 10)))
    for page in (url("supplier_changelist"), url("supplier_change", supplier.pk), url("supplier_kpis"),
                 url("purchaseorder_changelist"), url("purchaseorder_change", order.pk),
                 url("purchaseorder_add"), url("purchaseorder_receive", order.pk), url("receipt_changelist"),
                 url("receipt_change", receipt.pk), url("product_change", tea.pk)):
        response = manager.get(page)
        assert response.status_code == 200, page
    text = manager.get(url("product_change", tea.pk)).content.decode()
    assert "YX-TEA" in text


def test_the_supplier_page_and_list_show_exact_kpis_for_a_period(manager, supplier, tea):
    order = sent(supplier, tea)
    purchasing.receive(order, [(order.lines.get(), 4, 1)], at=timezone.make_aware(datetime(2026, 3, 8, 10)))
    period = {"first": "2026-03-01", "last": "2026-03-31"}
    text = manager.get(url("supplier_change", supplier.pk), period).content.decode()
    assert "KPIs from March 1, 2026 to March 31, 2026" in text
    # 1 receipt, on time (8 March <= 10 March); 4 of 10 received; 1 of 4 defective; 7 days.
    for figure in ("100.00%", "40.00%", "25.00%", "7.00"):
        assert figure in text, figure
    response = manager.get(url("supplier_kpis"), {**period, "format": "csv"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = response.content.decode("utf-8-sig").splitlines()
    assert rows == [
        "Supplier,Receipts,On-time rate,Fill rate,Defect rate,Average lead time (days),Units ordered,"
        "Units received,Units defective",
        "优选供应链,1,100.00%,40.00%,25.00%,7.00,10,4,1",
    ]
    listing = manager.get(url("supplier_kpis"), period).content.decode()
    assert "40.00%" in listing and "format=csv" in listing
    bad = manager.get(url("supplier_kpis"), {"first": "2026-03-31", "last": "2026-03-01"})
    assert "The end date is before the start date." in bad.content.decode()


def test_a_new_order_is_made_through_the_service(manager, supplier, tea):
    response = manager.post(url("purchaseorder_add"), {
        "supplier": supplier.pk, "expected_date": "2026-12-24", "note": "year end",
        "lines-TOTAL_FORMS": "2", "lines-INITIAL_FORMS": "0",
        "lines-0-product": tea.pk, "lines-0-quantity": "12", "lines-0-unit_cost": "3.20",
        "lines-1-product": "", "lines-1-quantity": "", "lines-1-unit_cost": "",
    })
    order = PurchaseOrder.objects.get()
    assert response.status_code == 302 and response["Location"] == url("purchaseorder_change", order.pk)
    assert (order.status, order.expected_date, order.note) == (S.CREATED, date(2026, 12, 24), "year end")
    rows = order.lines.values_list("product", "quantity", "unit_cost")
    assert list(rows) == [(tea.pk, 12, Decimal("3.20"))]
    # No lines: the service refuses, shown on the page, nothing written.
    refused = manager.post(url("purchaseorder_add"), {
        "supplier": supplier.pk, "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0"})
    assert refused.status_code == 200
    assert "A purchase order needs from 1 to 200 lines." in refused.content.decode()
    assert PurchaseOrder.objects.count() == 1


def test_the_buttons_accept_send_and_cancel_by_post_only(manager, supplier, tea):
    purchasing.replace_suggestions([purchasing.Suggestion(
        supplier=supplier, expected_date=date(2026, 12, 31), reasoning={"run_at": "2026-12-03T02:00"},
        lines=[purchasing.SuggestedLine(tea, 7, Decimal("2.00"), {
            "forecast": "120.00", "safety_stock": "8.40", "reorder_point": "128.40", "current_stock": 3,
            "open_purchase_quantity": 0, "lead_time_days": 5})])])
    order = PurchaseOrder.objects.get()
    page = manager.get(url("purchaseorder_change", order.pk)).content.decode()
    for text in ("Accept suggestion", "Cancel order", "Forecast over lead time + review period: 120.00",
                 "Safety stock: 8.40", "Reorder point: 128.40", "Current stock: 3"):
        assert text in page, text
    assert "Send to supplier" not in page
    assert manager.get(url("purchaseorder_move", order.pk, "accept")).status_code == 405
    assert PurchaseOrder.objects.get().status == S.SUGGESTED
    manager.post(url("purchaseorder_move", order.pk, "accept"))
    assert PurchaseOrder.objects.get().status == S.CREATED
    assert "Send to supplier" in manager.get(url("purchaseorder_change", order.pk)).content.decode()
    manager.post(url("purchaseorder_move", order.pk, "send"))
    assert PurchaseOrder.objects.get().status == S.SENT
    # Refused by the service (a sent order is no suggestion): a message, no 500.
    response = manager.post(url("purchaseorder_move", order.pk, "accept"), follow=True)
    assert "cannot be accepted" in response.content.decode()
    manager.post(url("purchaseorder_move", order.pk, "cancel"))
    assert PurchaseOrder.objects.get().status == S.CANCELLED


def test_receiving_on_the_receive_page(manager, supplier, tea):
    order = sent(supplier, tea)
    line = PurchaseOrderLine.objects.get(order=order)
    page = manager.get(url("purchaseorder_change", order.pk)).content.decode()
    assert url("purchaseorder_receive", order.pk) in page
    response = manager.post(url("purchaseorder_receive", order.pk), {
        f"received_{line.pk}": "6", f"defective_{line.pk}": "1", "received_at": "2026-03-08 10:00",
        "note": "first boxes"})
    assert response.status_code == 302
    receipt = Receipt.objects.get()
    assert (receipt.received_at, receipt.note) == (
        timezone.make_aware(datetime(2026, 3, 8, 10)), "first boxes")
    assert stock(tea) == (15, 0)
    assert StockMovement.objects.filter(receipt=receipt).values_list("delta", flat=True).get() == 5
    assert PurchaseOrder.objects.get().status == S.PARTLY_RECEIVED
    # More than outstanding: refused on the page, nothing written.
    refused = manager.post(url("purchaseorder_receive", order.pk), {
        f"received_{line.pk}": "5", f"defective_{line.pk}": "0"})
    assert refused.status_code == 200 and "only 4 still awaited" in refused.content.decode()
    bad = manager.post(url("purchaseorder_receive", order.pk), {f"received_{line.pk}": "x"})
    assert "give whole numbers" in bad.content.decode()
    assert Receipt.objects.count() == 1 and stock(tea) == (15, 0)


def test_the_auditor_sees_but_cannot_move_or_receive(client, supplier, tea):
    login(client, "审计 / Auditor")
    order = sent(supplier, tea)
    assert client.get(url("purchaseorder_change", order.pk)).status_code == 200
    assert client.get(url("supplier_kpis")).status_code == 200
    page = client.get(url("purchaseorder_change", order.pk)).content.decode()
    assert "Cancel order" not in page and url("purchaseorder_receive", order.pk) not in page
    assert client.post(url("purchaseorder_move", order.pk, "cancel")).status_code == 403
    assert client.get(url("purchaseorder_receive", order.pk)).status_code == 403
    assert client.get(url("purchaseorder_add")).status_code == 403
    assert PurchaseOrder.objects.get().status == S.SENT


def test_the_sidebar_links_the_supply_pages(rf, supplier):
    user = StaffFactory()
    user.groups.add(Group.objects.get(name="商品管理 / Catalog manager"))
    request = rf.get("/admin/")
    request.user = user
    links = [item["link"] for section in console.navigation(request) for item in section["items"]]
    for name in ("supplier_changelist", "supplier_kpis", "purchaseorder_changelist", "receipt_changelist"):
        assert url(name) in links, name
