"""Supplier scoring over a period (issue 15), in one SQL query for every supplier at once.

A period is a range of dates in the site's time zone (Asia/Shanghai), both ends included.

- **On-time rate**, per receipt: receipts made in the period on or before their order's expected
  date ÷ receipts made in the period. Per receipt rather than per order, so a late second delivery
  of an order counts against the supplier even when the first one was on time.
- **Fill rate**: units received ÷ units ordered, over the orders expected in the period that were
  sent (sent, partly received, received, or cancelled after sending: the cancelled remainder
  counts as not filled). Receipts of those orders count whenever they came.
- **Defect rate**: defective units ÷ units received, over the receipts made in the period.
- **Average lead time**: days from sending the order to the receipt, averaged over the receipts
  made in the period.

Rates are percentages with two decimals and the lead time days with two decimals, rounded half up
(``Decimal``); ``None`` where the period has nothing to divide by. The query returns the sums and
counts; the divisions are done here in ``Decimal`` so the rounding is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

HUNDREDTH = Decimal("0.01")

QUERY = """
WITH receipts AS (
    SELECT o.supplier_id,
           COUNT(*) AS receipts,
           COUNT(*) FILTER (WHERE (r.received_at AT TIME ZONE %(tz)s)::date <= o.expected_date) AS on_time,
           SUM(EXTRACT(EPOCH FROM r.received_at - o.sent_at)) AS lead_seconds
    FROM catalog_receipt r JOIN catalog_purchaseorder o ON o.id = r.order_id
    WHERE r.received_at >= %(start)s AND r.received_at < %(end)s
    GROUP BY o.supplier_id
), units AS (
    SELECT o.supplier_id, SUM(rl.quantity_received) AS received, SUM(rl.quantity_defective) AS defective
    FROM catalog_receiptline rl
    JOIN catalog_receipt r ON r.id = rl.receipt_id
    JOIN catalog_purchaseorder o ON o.id = r.order_id
    WHERE r.received_at >= %(start)s AND r.received_at < %(end)s
    GROUP BY o.supplier_id
), fill AS (
    SELECT o.supplier_id, SUM(l.quantity) AS ordered, SUM(l.received) AS received
    FROM catalog_purchaseorderline l JOIN catalog_purchaseorder o ON o.id = l.order_id
    WHERE o.sent_at IS NOT NULL AND o.expected_date BETWEEN %(first)s AND %(last)s
    GROUP BY o.supplier_id
)
SELECT s.id, s.name,
       COALESCE(receipts.receipts, 0), COALESCE(receipts.on_time, 0), receipts.lead_seconds,
       COALESCE(units.received, 0), COALESCE(units.defective, 0),
       COALESCE(fill.ordered, 0), COALESCE(fill.received, 0)
FROM catalog_supplier s
LEFT JOIN receipts ON receipts.supplier_id = s.id
LEFT JOIN units ON units.supplier_id = s.id
LEFT JOIN fill ON fill.supplier_id = s.id
WHERE %(all)s OR s.id = ANY(%(ids)s)
ORDER BY s.name, s.id
"""


@dataclass(frozen=True)
class SupplierKPI:
    supplier_id: int
    name: str
    receipts: int
    on_time_receipts: int
    units_received: int
    units_defective: int
    units_ordered: int
    units_filled: int
    on_time_rate: Decimal | None  # percent
    fill_rate: Decimal | None  # percent
    defect_rate: Decimal | None  # percent
    average_lead_days: Decimal | None


def _percent(part, whole) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(first, time()))
    end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time()))
    return start, end


def supplier_kpis(first: date, last: date, *, supplier_ids=None) -> list[SupplierKPI]:
    """The KPIs of every supplier (or of ``supplier_ids``) from ``first`` to ``last`` (dates in
    the site's time zone, both included), ordered by name."""
    start, end = _bounds(first, last)
    ids = list(supplier_ids or [])
    with connection.cursor() as cursor:
        cursor.execute(QUERY, {"tz": settings.TIME_ZONE, "start": start, "end": end, "first": first,
                               "last": last, "all": supplier_ids is None, "ids": ids})
        rows = cursor.fetchall()
    result = []
    for (supplier_id, name, receipts, on_time, lead_seconds, received, defective, ordered,
         filled) in rows:
        lead = None
        if receipts and lead_seconds is not None:
            lead = (Decimal(lead_seconds) / Decimal(86400 * receipts)).quantize(
                HUNDREDTH, rounding=ROUND_HALF_UP)
        result.append(SupplierKPI(
            supplier_id=supplier_id, name=name, receipts=receipts, on_time_receipts=on_time,
            units_received=received, units_defective=defective, units_ordered=ordered,
            units_filled=filled, on_time_rate=_percent(on_time, receipts),
            fill_rate=_percent(filled, ordered), defect_rate=_percent(defective, received),
            average_lead_days=lead))
    return result


def supplier_kpi(supplier, first: date, last: date) -> SupplierKPI:
    return supplier_kpis(first, last, supplier_ids=[supplier.pk])[0]
