"""Backtest of the replenishment policy (issue 15): ``manage.py backtest_replenishment`` and
``bench/bench_replenishment.py`` (``make bench``). Pure Python, no database.

What is replayed. Two generated years of daily redemptions of one product (seeded, so a run is
repeatable): a base rate with a weekly pattern (weekends up to 1.35×), a mild yearly one (December
and January up, the summer down) and two holiday spikes — 双十一 (11 November, up to 3× over four
days) and the week before 春节 (up to 2×) —, with Poisson-like noise. The first year is history
only; the second is replayed day by day for both policies, from the same starting stock:

- each morning the deliveries due arrive; the day's demand is served from stock (what cannot be
  served is lost, and the day counts as a **stock-out day**); the stock left at the end of the day
  is what **average stock** averages;
- each night the policy may order; an order placed on night t arrives on the morning of day
  t + lead time + 1, so the lead time's days are covered by the stock already there.

(a) **forecast**: ``catalog.replenishment.plan`` exactly as the nightly job runs it, on the units
actually redeemed over the trailing 365 days (stock-outs hide demand from it, as in production).

(b) **naive**: a fixed reorder point, mean daily demand of the history year × lead time, and a
fixed order quantity, ordered whenever stock + on order is at or below the reorder point. To be
fair the order quantity is tuned: of the quantities worth 1 to 60 days of mean demand, the one
whose average stock comes closest to the forecast policy's is used, so the comparison is of
stock-outs at about the same stock (the forecast's stock is also shown against it as a ratio).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from catalog.replenishment import HISTORY_DAYS, plan

START = date(2025, 1, 1)
DAYS = 730  # one year of history, then the replayed year
SPRING_FESTIVALS = {2025: date(2025, 1, 29), 2026: date(2026, 2, 17), 2027: date(2027, 2, 6)}
WEEKDAY = (0.9, 0.85, 0.9, 0.95, 1.05, 1.3, 1.35)  # Monday .. Sunday
MONTH = (1.1, 1.0, 0.95, 0.95, 1.0, 0.9, 0.85, 0.9, 1.0, 1.0, 1.1, 1.2)
DOUBLE_ELEVEN = {8: 1.5, 9: 2.0, 10: 2.5, 11: 3.0, 12: 1.5}  # day of November: multiplier


@dataclass(frozen=True)
class Outcome:
    policy: str
    stockout_days: int
    average_stock: float
    lost_units: int
    orders: int
    detail: str = ""


@dataclass(frozen=True)
class Result:
    forecast: Outcome
    naive: Outcome
    naive_order_quantity: int
    naive_reorder_point: int
    mean_daily_demand: float

    @property
    def stock_ratio(self) -> float:
        return self.forecast.average_stock / self.naive.average_stock

    @property
    def claim_holds(self) -> bool:
        """Fewer stock-out days at no more than 1.2× the average stock (issue 15)."""
        return self.forecast.stockout_days < self.naive.stockout_days and self.stock_ratio <= 1.2


def holiday_multiplier(day: date) -> float:
    multiplier = DOUBLE_ELEVEN.get(day.day, 1.0) if day.month == 11 else 1.0
    festival = SPRING_FESTIVALS.get(day.year)
    if festival is not None and 0 < (festival - day).days <= 7:
        multiplier = max(multiplier, 1.0 + (8 - (festival - day).days) / 7)  # rising to 2x
    return multiplier


def generate(seed: int, *, base: float = 20.0, days: int = DAYS, start: date = START) -> list[int]:
    """Daily demand from ``start``: the pattern of the module docstring with noise."""
    rng = random.Random(seed)
    demand = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        mean = base * WEEKDAY[day.weekday()] * MONTH[day.month - 1] * holiday_multiplier(day)
        demand.append(max(0, round(rng.gauss(mean, math.sqrt(mean)))))
    return demand


def _replay(demand: list[int], history: list[int], *, start_stock: int, lead_days: int, decide,
            policy: str) -> Outcome:
    """Replay ``demand`` (the test year) after ``history``; ``decide(t, served, position)`` returns
    the units to order on night t given what was served so far."""
    served = list(history)
    stock, arrivals = start_stock, {}
    on_order = stockouts = lost = orders = 0
    stock_days = 0
    for t, wanted in enumerate(demand):
        arrived = arrivals.pop(t, 0)
        stock += arrived
        on_order -= arrived
        sold = min(stock, wanted)
        if wanted > stock:
            stockouts += 1
            lost += wanted - stock
        stock -= sold
        served.append(sold)
        stock_days += stock
        quantity = decide(t, served, stock + on_order)
        if quantity > 0:
            arrivals[t + lead_days + 1] = arrivals.get(t + lead_days + 1, 0) + quantity
            on_order += quantity
            orders += 1
    return Outcome(policy, stockouts, stock_days / len(demand), lost, orders)


def backtest(seed: int = 15, *, lead_days: int = 5, review_days: int = 7, service_level: float = 0.95,
             base: float = 20.0) -> Result:
    """Both policies over the same generated year (module docstring)."""
    demand = generate(seed, base=base)
    history, year = demand[:DAYS - 365], demand[DAYS - 365:]
    year_start = START + timedelta(days=len(history))
    mean = sum(history) / len(history)
    start_stock = round(mean * (lead_days + review_days))

    def forecast_decide(t, served, position):
        window = served[-HISTORY_DAYS:]
        first_day = year_start + timedelta(days=t + 1 - len(window))
        return plan(window, first_day, lead_days=lead_days, review_days=review_days,
                    service_level=service_level, position=position).quantity

    forecast = _replay(year, history, start_stock=start_stock, lead_days=lead_days,
                       decide=forecast_decide, policy="forecast")
    reorder_point = round(mean * lead_days)
    best = None
    for days_worth in range(1, 61):
        quantity = round(mean * days_worth)
        outcome = _replay(
            year, history, start_stock=start_stock, lead_days=lead_days, policy="naive",
            decide=lambda t, served, position, q=quantity: q if position <= reorder_point else 0)
        gap = abs(outcome.average_stock - forecast.average_stock)
        if best is None or gap < best[0]:
            best = (gap, quantity, outcome)
    _gap, quantity, naive = best
    return Result(forecast, naive, quantity, reorder_point, mean)


def report(result: Result) -> list[str]:
    """The side-by-side lines the command and the bench print."""
    rows = [
        f"{'policy':<22}{'stock-out days':>16}{'average stock':>16}{'lost units':>12}{'orders':>8}",
        *(f"{name:<22}{o.stockout_days:>16}{o.average_stock:>16.1f}{o.lost_units:>12}{o.orders:>8}"
          for name, o in (("(a) forecast", result.forecast),
                          (f"(b) naive ROP {result.naive_reorder_point} Q {result.naive_order_quantity}",
                           result.naive))),
        f"mean daily demand {result.mean_daily_demand:.1f}; forecast's average stock is "
        f"{result.stock_ratio:.2f}x the naive one (goal: fewer stock-out days at <= 1.20x): "
        + ("met" if result.claim_holds else "MISSED"),
    ]
    return rows
