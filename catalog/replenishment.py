"""Replenishment (issue 15): the nightly job that forecasts each supplied product's demand and
suggests purchase orders, and the forecast it uses (pure functions, shared with the backtest in
``catalog.replenishment_backtest``).

The method, chosen to be explained in a sentence to a buyer:

1. **History**: units redeemed per day (cancelled redemptions left out) over the last 365 days,
   from the product's first redemption in that year (a product that sold nothing has no forecast
   and is never suggested; days before its first sale are not "no demand", just not yet selling).
2. **Seasonal indices** from that history: a weekday index (mean demand on that weekday ÷ mean
   demand), once there are 28 days (four of each weekday), and a month index (mean daily demand
   in that calendar month ÷ mean demand), once there is a whole year (with less, a month index
   would mistake a product's first weeks for a season). Without enough history an index is 1.
   The weekly pattern (weekends) and the yearly one (双十一, 春节) are what a points mall's demand
   mostly is; a year of history holds one of each month.
3. **Level**: the history de-seasonalised (each day ÷ its weekday index × month index) and
   smoothed with an exponentially weighted mean, ``level = α·x + (1 − α)·level`` with α = 0.1
   (about the last two to three weeks weigh most), started from the mean of the first 28 days.
4. **Forecast** for each coming day: level × that day's weekday index × month index; summed over
   the supplier's lead time L plus review period R.
5. **Safety stock** ``z(service level) · σ · √(L + R)``, σ the standard deviation of the one-step
   forecast errors over the history (yesterday's forecast for today against today).
6. **Reorder point** = forecast over L + R + safety stock. When stock + open purchase quantity
   (units ordered but not received on created, sent and partly received orders) is below it, the
   product is ordered up to the reorder point plus the forecast over R: one *suggested* purchase
   order per supplier, a line per product, each line keeping these figures as its reasoning.

Why this and not something cleverer: every figure on the suggestion can be checked by hand, it
needs no library (numpy is not installed), and the backtest shows it beats a fixed reorder point.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import NormalDist

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

ALPHA = 0.1
HISTORY_DAYS = 365
WARM_UP_DAYS = 28
WEEKDAY_MIN_DAYS = 28
MONTH_MIN_DAYS = 365
HUNDREDTH = Decimal("0.01")


@dataclass(frozen=True)
class Forecast:
    daily_level: float  # de-seasonalised units per day
    daily: tuple[float, ...]  # the forecast of each day of the horizon
    sigma: float  # std dev of the one-step daily errors
    weekday_index: tuple[float, ...]  # Monday .. Sunday
    month_index: tuple[float, ...]  # January .. December
    history_days: int

    @property
    def demand(self) -> float:
        """Units over the whole horizon."""
        return sum(self.daily)


@dataclass(frozen=True)
class Plan:
    """What the policy decides for one product on one night."""

    forecast_lead_review: float  # demand over L + R
    forecast_review: float  # demand over R
    safety_stock: float
    reorder_point: float
    order_up_to: float
    quantity: int  # units to order (0: none)
    sigma: float
    daily_level: float


def seasonal_indices(history: list[int], first_day: date) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(weekday index, month index) of ``history`` (units per day from ``first_day``)."""
    mean = sum(history) / len(history) if history else 0.0
    weekday_sums, weekday_days = [0.0] * 7, [0] * 7
    month_sums, month_days = [0.0] * 12, [0] * 12
    for offset, units in enumerate(history):
        day = first_day + timedelta(days=offset)
        weekday_sums[day.weekday()] += units
        weekday_days[day.weekday()] += 1
        month_sums[day.month - 1] += units
        month_days[day.month - 1] += 1
    if not mean:
        return (1.0,) * 7, (1.0,) * 12
    weekday = (1.0,) * 7
    if len(history) >= WEEKDAY_MIN_DAYS:
        weekday = tuple(weekday_sums[i] / weekday_days[i] / mean for i in range(7))
    month = (1.0,) * 12
    if len(history) >= MONTH_MIN_DAYS:
        month = tuple(month_sums[i] / month_days[i] / mean if month_days[i] else 1.0 for i in range(12))
    return weekday, month


def forecast(history: list[int], first_day: date, horizon: int, *, alpha: float = ALPHA) -> Forecast:
    """The forecast of the ``horizon`` days after ``history`` (units per day from ``first_day``,
    the last entry being yesterday), by the method of the module docstring."""
    weekday, month = seasonal_indices(history, first_day)

    def factor(day: date) -> float:
        return weekday[day.weekday()] * month[day.month - 1]

    if not history or not any(history):
        return Forecast(0.0, (0.0,) * horizon, 0.0, weekday, month, len(history))
    days = [first_day + timedelta(days=offset) for offset in range(len(history))]
    deseasonalised = [units / factor(day) if factor(day) else None
                      for units, day in zip(history, days, strict=True)]
    start = [x for x in deseasonalised[:WARM_UP_DAYS] if x is not None]
    level = sum(start) / len(start) if start else 0.0
    errors = []
    for units, day, x in zip(history, days, deseasonalised, strict=True):
        errors.append(units - level * factor(day))
        if x is not None:
            level = alpha * x + (1 - alpha) * level
    sigma = _stdev(errors)
    after = days[-1] + timedelta(days=1)
    daily = tuple(level * factor(after + timedelta(days=h)) for h in range(horizon))
    return Forecast(level, daily, sigma, weekday, month, len(history))


def _stdev(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1))


def plan(history: list[int], first_day: date, *, lead_days: int, review_days: int,
         service_level: float, position: int) -> Plan:
    """The policy for one product: ``position`` is stock + open purchase quantity."""
    horizon = lead_days + review_days
    whole = forecast(history, first_day, horizon)
    review = sum(whole.daily[lead_days:])  # the days after the delivery the order must last
    z = NormalDist().inv_cdf(service_level)
    safety = z * whole.sigma * math.sqrt(horizon)
    reorder_point = whole.demand + safety
    up_to = reorder_point + review
    quantity = math.ceil(up_to - position) if position < reorder_point else 0
    return Plan(whole.demand, review, safety, reorder_point, up_to, max(quantity, 0), whole.sigma,
                whole.daily_level)


def _rounded(value: float) -> str:
    return str(Decimal(repr(value)).quantize(HUNDREDTH, rounding=ROUND_HALF_UP))


# --------------------------------------------------------------------------- the nightly job


def _daily_history(product_ids: list[int], first: date, last: date) -> dict[int, dict[date, int]]:
    """Units redeemed per product and local day from ``first`` to ``last`` (both included), in
    one query; cancelled redemptions are not demand served."""
    start = timezone.make_aware(datetime.combine(first, time()))
    end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time()))
    history: dict[int, dict[date, int]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT product_id, (created_at AT TIME ZONE %s)::date, SUM(quantity) FROM catalog_redemption "
            "WHERE product_id = ANY(%s) AND status <> 'cancelled' AND created_at >= %s AND created_at < %s "
            "GROUP BY 1, 2", [settings.TIME_ZONE, product_ids, start, end])
        for product_id, day, units in cursor.fetchall():
            history[product_id][day] = int(units)
    return history


def _open_quantities(product_ids: list[int]) -> dict[int, int]:
    from catalog.models import OPEN_STATUSES, PurchaseOrderLine

    rows = (PurchaseOrderLine.objects.filter(product_id__in=product_ids, order__status__in=OPEN_STATUSES)
            .values_list("product_id", "quantity", "received"))
    open_units: dict[int, int] = defaultdict(int)
    for product_id, quantity, received in rows:
        open_units[product_id] += quantity - received
    return open_units


def _last_costs(product_ids: list[int]) -> dict[int, Decimal]:
    from catalog.models import PurchaseOrderLine, PurchaseOrderStatus

    costs = {}
    rows = (PurchaseOrderLine.objects.filter(product_id__in=product_ids)
            .exclude(order__status=PurchaseOrderStatus.SUGGESTED)
            .order_by("product_id", "-order__created_at", "-id").values_list("product_id", "unit_cost"))
    for product_id, cost in rows:
        costs.setdefault(product_id, cost)
    return costs


def suggest(now: datetime | None = None) -> dict:
    """Nightly: replace the still-suggested purchase orders with this night's suggestions, one per
    active supplier with at least one active physical product below its reorder point. Returns
    ``{"products", "replaced", "orders", "lines"}``. Running it twice gives the same suggestions."""
    from catalog.services import purchasing

    now = now or timezone.now()
    with transaction.atomic():
        # First the lock on the old suggestions, then the reads (purchasing.lock_suggestions).
        purchasing.lock_suggestions()
        return _suggest(now)


def _suggest(now: datetime) -> dict:
    from catalog.models import Product, ProductKind
    from catalog.services import purchasing

    today = timezone.localdate(now)
    last = today - timedelta(days=1)
    first = today - timedelta(days=HISTORY_DAYS)
    products = list(Product.objects.filter(active=True, kind=ProductKind.PHYSICAL, supplier__active=True)
                    .select_related("supplier").order_by("supplier_id", "id"))
    ids = [product.pk for product in products]
    history = _daily_history(ids, first, last)
    open_units = _open_quantities(ids)
    costs = _last_costs(ids)
    by_supplier: dict[int, list] = defaultdict(list)
    suppliers = {}
    for product in products:
        supplier = product.supplier
        suppliers[supplier.pk] = supplier
        if not history[product.pk]:
            continue  # nothing redeemed in a year: no demand to forecast
        since = min(history[product.pk])
        days = (last - since).days + 1
        series = [history[product.pk].get(since + timedelta(days=offset), 0) for offset in range(days)]
        position = product.stock + open_units[product.pk]
        decided = plan(series, since, lead_days=supplier.lead_time_days, review_days=supplier.review_days,
                       service_level=float(supplier.service_level), position=position)
        if not decided.quantity:
            continue
        by_supplier[supplier.pk].append(purchasing.SuggestedLine(
            product=product, quantity=decided.quantity, unit_cost=costs.get(product.pk, Decimal("0.00")),
            reasoning=reasoning(decided, supplier=supplier, stock=product.stock,
                                open_quantity=open_units[product.pk], history_days=days)))
    suggestions = [
        purchasing.Suggestion(
            supplier=suppliers[supplier_id], lines=lines,
            expected_date=today + timedelta(days=suppliers[supplier_id].lead_time_days),
            reasoning={"run_at": now.isoformat(), "method": "ewma-weekday-month", "alpha": ALPHA,
                       "history_from": str(first), "history_to": str(last)})
        for supplier_id, lines in sorted(by_supplier.items())]
    done = purchasing.replace_suggestions(suggestions, now=now)
    return {"products": len(products), **done}


def reasoning(decided: Plan, *, supplier, stock: int, open_quantity: int, history_days: int) -> dict:
    """A suggestion line's figures, as stored (strings of two-decimal amounts)."""
    return {
        "forecast": _rounded(decided.forecast_lead_review),
        "forecast_review": _rounded(decided.forecast_review),
        "daily_level": _rounded(decided.daily_level),
        "sigma": _rounded(decided.sigma),
        "lead_time_days": supplier.lead_time_days,
        "review_days": supplier.review_days,
        "service_level": str(supplier.service_level),
        "safety_stock": _rounded(decided.safety_stock),
        "reorder_point": _rounded(decided.reorder_point),
        "order_up_to": _rounded(decided.order_up_to),
        "current_stock": stock,
        "open_purchase_quantity": open_quantity,
        "history_days": history_days,
    }
