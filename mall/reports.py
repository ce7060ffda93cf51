"""The 报表 dashboards' numbers: pure reads, set-based SQL (GROUP BY in the database).

Days are Asia/Shanghai local days; ``start`` and ``end`` are inclusive local dates. Points are
int, money Decimal.

The ledger's *balance* is what the entries add up to: ``Σ delta = available + pending + held −
debt`` per account (``points.models``). Every entry kind falls in exactly one flow:

* ``issued``: earnings (``earn``) and staff credits (``adjust`` > 0), by source;
* ``spent`` / ``redeemed``: ``spend`` and ``capture`` (a hold's spending);
* ``expired``: ``expire``;
* ``reversed``: earnings taken back (``reverse`` < 0, a refunded order's points);
* ``returned``: spendings given back (``reverse`` > 0, a cancelled redemption);
* ``adjusted_out``: staff debits (``adjust`` < 0);
* ``hold``, ``release`` and ``activate`` move points between buckets (delta 0);
  ``activated`` counts the points the activation job made available.

So ``opening + issued − spent − expired − reversed + returned − adjusted_out = closing``
exactly, for any range (``monthly_liability_report`` names each term).

The ledger flows are read per local day (``daily``): closed days from the nightly aggregate
(``mall.report_models.DailyPoints``, filled by ``mall.report_jobs.materialise``), and live from
the entries whatever it does not hold yet (today, days since its last run, entries posted since
into earlier days), in one statement that also reads the aggregate's watermark; so the figures are
the raw sums exactly, whenever the job last ran. Build a page's reports inside ``reading()`` and
the per-day sums are read once.

Sources of issued points, from the entry's key (each service's own prefix): ``order:`` orders,
``behaviour:`` and ``check-in:`` behaviours, ``reward:`` referrals, ``draw-prize:`` lottery,
``adjust`` entries adjustments, everything else (tasks, badges, win-back messages, welcome gifts)
lifecycle.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

LOCAL = ZoneInfo("Asia/Shanghai")
PERIODS = ("day", "week", "month")
SOURCES = ("orders", "behaviours", "referrals", "lifecycle", "adjustments", "lottery")
FLOWS = ("issued", "activated", "spent", "expired", "reversed", "returned", "adjusted_out")
TOP = 10
CENT = Decimal("0.01")

# The aggregate's sums (``mall.report_models.DailyPoints``) per column of ``daily``.
_DAY_SQL = {
    "earned": "SUM(credit) FILTER (WHERE kind = 'earn')",
    "adjusted_in": "SUM(credit) FILTER (WHERE kind = 'adjust')",
    "activated": "SUM(moved) FILTER (WHERE kind = 'activate')",
    "spent": "SUM(debit) FILTER (WHERE kind IN ('spend', 'capture'))",
    "expired": "SUM(debit) FILTER (WHERE kind = 'expire')",
    "reversed": "SUM(debit) FILTER (WHERE kind = 'reverse')",
    "returned": "SUM(credit) FILTER (WHERE kind = 'reverse')",
    "adjusted_out": "SUM(debit) FILTER (WHERE kind = 'adjust')",
    **{name: f"SUM(credit) FILTER (WHERE source = '{name}')" for name in SOURCES},
    "net": "SUM(credit - debit)",
}
DAY_COLUMNS = tuple(_DAY_SQL)
_NET = "COALESCE(SUM(credit - debit), 0)"
_memo: ContextVar[dict | None] = ContextVar("mall_reports_memo", default=None)

# The watermark of the aggregates, read in the same statement as them (one snapshot: a nightly
# run committing meanwhile cannot make a day count twice or not at all).
_WATERMARK = """w AS (SELECT COALESCE(MAX(through), DATE '1900-01-01') AS through,
                         COALESCE(MAX(max_entry_id), 0) AS max_id FROM mall_reportwatermark)"""


def _days_cte(name: str, prefix: str) -> str:
    """SQL for a CTE ``name`` with the rows ``(day, kind, source, credit, debit, moved)`` of the local
    days ``%(<prefix>first)s``..``%(<prefix>last)s`` (instants ``%(<prefix>since)s``,
    ``%(<prefix>until)s``): closed days from the aggregate, and live from the entries what it does
    not hold (today, the days since its last run, entries posted since into earlier days). Needs
    the CTE ``w`` (``_WATERMARK``) before it. See ``_day_params``."""
    from mall.report_jobs import LOCAL_DAY, SOURCE, SUMS

    p = prefix
    return f"""{name} AS (
        SELECT day, kind, source, credit, debit, moved, entries FROM mall_dailypoints
         WHERE day >= %({p}first)s AND day <= LEAST((SELECT through FROM w), %({p}last)s)
        UNION ALL
        SELECT {LOCAL_DAY}, kind, {SOURCE}, {SUMS} FROM points_entry
         WHERE created_at >= %({p}since)s AND created_at < %({p}until)s
           AND (id > (SELECT max_id FROM w)
                OR created_at >= ((LEAST((SELECT through FROM w), %({p}last)s) + 1)::timestamp
                                  AT TIME ZONE 'Asia/Shanghai'))
         GROUP BY 1, 2, 3)"""


def _day_params(first: date, last: date, prefix: str = "") -> dict:
    return {f"{prefix}first": first, f"{prefix}last": last, f"{prefix}since": local_start(first),
            f"{prefix}until": local_start(last + timedelta(days=1))}


EPOCH = date(1900, 1, 2)  # before any entry: "every day before X" is EPOCH..X−1


def local_start(day: date) -> datetime:
    """The instant a local (Asia/Shanghai) day begins."""
    return datetime.combine(day, time.min, tzinfo=LOCAL)


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    if end < start:
        raise ValueError("end is before start")
    return local_start(start), local_start(end + timedelta(days=1))


@contextmanager
def reading():
    """One transaction for a set of reports, with JIT off: the statements are cheap but their
    estimates are not (the live part of ``_days_cte`` is guessed at half the entries), and
    PostgreSQL would spend more compiling them than running them. Inside it the per-day sums
    (``daily``) are read once, however many reports use them."""
    token = _memo.set({})
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            yield
    finally:
        _memo.reset(token)


def daily(last: date) -> dict[date, dict[str, int]]:
    """``{day: {column: points}}`` for every local day up to ``last`` that has entries, the columns
    ``DAY_COLUMNS``: earned (earnings), adjusted_in / adjusted_out (staff credits / debits),
    activated, spent (spendings and captures), expired, reversed (earnings taken back), returned
    (spendings given back), the issued points per source, and net (Σ delta). Closed days come
    from the aggregate, the rest live (one statement); memoised inside ``reading()``."""
    memo = _memo.get()
    if memo is not None:
        if "days" not in memo:
            memo["days"] = _daily(FAR)
        return {day: values for day, values in memo["days"].items() if day <= last}
    return _daily(last)


FAR = date(9000, 1, 1)  # after every entry: daily(FAR) is every day


def _daily(last: date) -> dict[date, dict[str, int]]:
    columns = ", ".join(f"COALESCE({sql}, 0)" for sql in _DAY_SQL.values())
    found = _rows(f"WITH {_WATERMARK}, {_days_cte('d', '')} SELECT day, {columns} FROM d GROUP BY 1",
                  _day_params(EPOCH, last))
    return {row[0]: dict(zip(DAY_COLUMNS, (int(v) for v in row[1:]), strict=True)) for row in found}


def _sum(days: dict, first: date, last: date) -> dict[str, int]:
    """The columns of ``daily`` summed over the local days ``first``..``last``."""
    totals = dict.fromkeys(DAY_COLUMNS, 0)
    for day, values in days.items():
        if first <= day <= last:
            for name in DAY_COLUMNS:
                totals[name] += values[name]
    return totals


def _rows(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_period(day: date, period: str) -> date:
    if period == "day":
        return day + timedelta(days=1)
    if period == "week":
        return day + timedelta(days=7)
    return _add_months(day, 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def ledger_balance() -> int:
    """Σ of the accounts' totals now (available + pending + held − debt) = Σ of all deltas."""
    return _rows("SELECT COALESCE(SUM(available + pending + held - debt), 0) FROM points_account",
                 [])[0][0]


def points_flow(start: date, end: date, *, period: str = "day") -> dict:
    """Per period (``day``, ``week`` from Monday, ``month``) of the local days ``start``..``end``:
    ``{period_start, issued, activated, spent, expired, reversed, returned, adjusted_out, net,
    outstanding, by_source: {source: points}}``, every period present (zeros when quiet);
    ``issued`` is earnings and staff credits; ``outstanding`` the ledger balance (available +
    pending + held − debt) at the period's end (capped at ``end``).

    Returns ``{"rows", "totals", "by_source", "opening", "earn_burn_ratio"}``;
    ``earn_burn_ratio`` is issued ÷ spent over the range (None without spending).
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    if end < start:
        raise ValueError("end is before start")
    days = daily(end)
    opening = sum(values["net"] for day, values in days.items() if day < start)
    balance = opening
    rows = []
    day = _period_start(start, period)
    while day <= end:
        sums = _sum(days, max(day, start), min(_next_period(day, period) - timedelta(days=1), end))
        flows = {name: sums[name] for name in FLOWS if name != "issued"}
        balance += sums["net"]
        rows.append({"period_start": day, "issued": sums["earned"] + sums["adjusted_in"], **flows,
                     "net": sums["net"], "outstanding": balance,
                     "by_source": {name: sums[name] for name in SOURCES}})
        day = _next_period(day, period)
    totals = {name: sum(row[name] for row in rows) for name in (*FLOWS, "net")}
    by_source = {name: sum(row["by_source"][name] for row in rows) for name in SOURCES}
    return {"rows": rows, "totals": totals, "by_source": by_source, "opening": opening,
            "earn_burn_ratio": ratio(totals["issued"], totals["spent"])}


def ratio(numerator: int, denominator: int, places: str = "0.0001") -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(places))


def breakage(as_of: datetime | None = None) -> dict:
    """Expired ÷ issued over matured lots (whose expiry has passed at ``as_of``): ``{issued,
    expired, rate}``. ``issued`` is the lots' amounts; ``expired`` the expire entries up to
    ``as_of`` (only a matured lot can expire) plus what matured lots still keep because the
    expiry job has not run yet.

    The lots' amounts come from ``LotMaturity`` (lots up to its watermark) plus the lots made
    since; the expire entries from the daily aggregate for the days before ``as_of``'s, plus the
    entries it does not hold up to ``as_of``."""
    now = as_of is None
    as_of = as_of or timezone.now()
    day = timezone.localtime(as_of, LOCAL).date()
    # As of now, today's expired points are in ``daily`` too (no entry is dated later).
    before = sum(values["expired"] for values in daily(day if now else day - timedelta(days=1)).values())
    issued, overdue, today = _rows(
        """
        SELECT (SELECT COALESCE(SUM(amount), 0) FROM mall_lotmaturity WHERE expires_at <= %(as_of)s)
               + (SELECT COALESCE(SUM(amount), 0) FROM points_lot
                  WHERE id > (SELECT COALESCE(MAX(max_lot_id), 0) FROM mall_reportwatermark)
                    AND expires_at <= %(as_of)s),
               (SELECT COALESCE(SUM(remaining), 0) FROM points_lot
                 WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= %(as_of)s),
               (SELECT COALESCE(-SUM(delta), 0) FROM points_entry WHERE kind = 'expire'
                  AND created_at >= %(day_start)s AND created_at <= %(as_of)s AND NOT %(now)s)
        """, {"as_of": as_of, "day_start": local_start(day), "now": now})[0]
    expired = before + int(today)
    expired = int(expired) + int(overdue)
    return {"issued": int(issued), "expired": expired, "rate": ratio(expired, int(issued))}


def points_per_yuan() -> int:
    """The active rule set's redemption rate: points per yuan."""
    from rules.selectors import active_rulebook

    return active_rulebook().redemption_points_per_yuan


def worth(points: int, *, point_value_yuan: Decimal | None = None, rate: int | None = None) -> Decimal:
    """The yuan value of ``points``: ``points × point_value_yuan``, or ``points ÷ rate``."""
    if point_value_yuan is not None:
        return (Decimal(points) * Decimal(point_value_yuan)).quantize(CENT)
    return (Decimal(points) / Decimal(rate or points_per_yuan())).quantize(CENT)


def liability(as_of: date | None = None, *, point_value_yuan: Decimal | None = None,
              months: int = 12) -> dict:
    """合同负债: outstanding points × the yuan value of a point (default: the active rule set's
    ``1 / redemption_points_per_yuan``).

    ``today``: the accounts now, ``{available, pending, held, debt, outstanding (available +
    pending + held), value}``. ``months``: the ``months`` month-ends up to ``as_of``'s month,
    ``{month, balance, value}`` with the ledger balance (net of debt) at the end of each month
    (the current month: at ``as_of``'s end).
    """
    as_of = as_of or timezone.localdate()
    rate = None if point_value_yuan is not None else points_per_yuan()
    available, pending, held, debt = (int(v) for v in _rows(
        "SELECT COALESCE(SUM(available), 0), COALESCE(SUM(pending), 0), COALESCE(SUM(held), 0), "
        "COALESCE(SUM(debt), 0) FROM points_account", [])[0])
    outstanding = available + pending + held
    today = {"available": available, "pending": pending, "held": held, "debt": debt,
             "outstanding": outstanding,
             "value": worth(outstanding, point_value_yuan=point_value_yuan, rate=rate)}
    first = _add_months(as_of.replace(day=1), -(months - 1))
    series = [{"month": month, "balance": balance,
               "value": worth(balance, point_value_yuan=point_value_yuan, rate=rate)}
              for month, balance in month_end_balances(first, as_of)]
    return {"today": today, "months": series, "points_per_yuan": rate,
            "point_value_yuan": point_value_yuan}


def month_end_balances(first: date, last: date) -> list[tuple[date, int]]:
    """``[(month, ledger balance at its end)]`` for the local months from ``first``'s to
    ``last``'s (the last one: at the end of the day ``last``); one statement over the daily
    aggregate (and the entries it does not hold yet)."""
    first = first.replace(day=1)
    days = daily(last)
    balance = sum(values["net"] for day, values in days.items() if day < first)
    per_month: dict[date, int] = {}
    for day, values in days.items():
        if day >= first:
            per_month[day.replace(day=1)] = per_month.get(day.replace(day=1), 0) + values["net"]
    series, month = [], first
    while month <= last:
        balance += per_month.get(month, 0)
        series.append((month, balance))
        month = _add_months(month, 1)
    return series


def expiry_forecast(as_of: datetime | None = None, months: int = 12) -> list[dict]:
    """Points due to expire per local month for the ``months`` months from ``as_of``'s month, from
    the lots' ``remaining`` (points held by open holds are not in it): ``[{month, points}]``, every
    month present. Lots already due but not yet expired by the job count in the first month."""
    as_of = as_of or timezone.now()
    first = timezone.localtime(as_of, LOCAL).date().replace(day=1)
    until = local_start(_add_months(first, months))
    found = dict(_rows(
        "SELECT GREATEST(date_trunc('month', expires_at AT TIME ZONE 'Asia/Shanghai')::date, %s), "
        "SUM(remaining) FROM points_lot WHERE remaining > 0 AND expires_at IS NOT NULL "
        "AND expires_at < %s GROUP BY 1",
        [first, until],
    ))
    forecast = []
    for index in range(months):
        month = _add_months(first, index)
        forecast.append({"month": month, "points": int(found.get(month, 0))})
    return forecast


def monthly_liability_report(year: int, month: int, *, point_value_yuan: Decimal | None = None) -> dict:
    """One local month: ``{month, opening, issued, adjusted_in, redeemed, returned, reversed,
    expired, adjusted_out, closing, opening_value, closing_value}`` with

        opening + issued + adjusted_in − redeemed + returned − reversed − expired − adjusted_out
        = closing

    exactly: ``issued`` are earnings, ``adjusted_in``/``adjusted_out`` staff credits/debits,
    ``redeemed`` spendings and captures, ``returned`` cancelled spendings given back,
    ``reversed`` earnings taken back (refunds). Opening and closing are the ledger balances (Σ of
    all deltas before the month's first / after its last local day = Σ of the accounts' totals as
    they were then).
    """
    first = date(year, month, 1)
    last = _add_months(first, 1) - timedelta(days=1)
    days = daily(last)
    sums = _sum(days, first, last)
    opening = sum(values["net"] for day, values in days.items() if day < first)
    report = {"opening": opening, "issued": sums["earned"], "adjusted_in": sums["adjusted_in"],
              "redeemed": sums["spent"], "returned": sums["returned"], "reversed": sums["reversed"],
              "expired": sums["expired"], "adjusted_out": sums["adjusted_out"],
              "closing": opening + sums["net"]}
    rate = None if point_value_yuan is not None else points_per_yuan()
    report["month"] = first
    report["opening_value"] = worth(report["opening"], point_value_yuan=point_value_yuan, rate=rate)
    report["closing_value"] = worth(report["closing"], point_value_yuan=point_value_yuan, rate=rate)
    return report


def reconciles(report: dict) -> bool:
    """Whether the named flows of ``monthly_liability_report`` carry opening to closing."""
    return report["closing"] == (
        report["opening"] + report["issued"] + report["adjusted_in"] - report["redeemed"]
        + report["returned"] - report["reversed"] - report["expired"] - report["adjusted_out"]
    )


def member_stats(start: date, end: date) -> dict:
    """Members over the local days ``start``..``end`` (staff left out):

    * ``active``: members with any entry in the range; ``new``: members who joined in it;
    * ``tiers``: ``[{tier, members}]`` now;
    * ``top_earners``: the ``TOP`` members who earned most in the range (earnings and credits;
      ties by account), ``[{member_id, username, name (nickname, else username), points}]``
      (summed per account before any join); ``top_holders``: the ``TOP`` largest balances now
      (available + pending + held);
    * ``repurchase``: of the members whose first redemption (not cancelled) falls in the range,
      how many paid an order (``points.Order``) after it; against the members who paid an order
      in the range and never redeemed, how many paid another order after their first one in it.
    """
    since, until = _bounds(start, end)
    active, new = _rows(
        """
        SELECT (SELECT COUNT(DISTINCT account_id) FROM points_entry
                WHERE created_at >= %(since)s AND created_at < %(until)s)
               -- less the few staff accounts with entries (cheaper than joining every entry)
               - (SELECT COUNT(*) FROM mall_member m JOIN points_account a ON a.member_id = m.id
                  WHERE m.is_staff AND EXISTS (
                      SELECT 1 FROM points_entry e WHERE e.account_id = a.id
                         AND e.created_at >= %(since)s AND e.created_at < %(until)s)),
               (SELECT COUNT(*) FROM mall_member
                WHERE date_joined >= %(since)s AND date_joined < %(until)s AND NOT is_staff)
        """, {"since": since, "until": until})[0]
    tiers = [{"tier": tier, "members": count} for tier, count in _rows(
        "SELECT tier, COUNT(*) FROM mall_member WHERE NOT is_staff GROUP BY tier ORDER BY 2 DESC, 1",
        [])]
    top_earners = [{"member_id": member_id, "username": username, "name": name, "points": int(points)}
                   for member_id, username, name, points in _rows(
        """
        SELECT m.id, m.username, COALESCE(NULLIF(m.nickname, ''), m.username), top.points
        FROM (SELECT account_id, SUM(delta) AS points FROM points_entry
              WHERE created_at >= %s AND created_at < %s
                AND (kind = 'earn' OR (kind = 'adjust' AND delta > 0))
              GROUP BY account_id ORDER BY 2 DESC, 1 LIMIT %s) top
        JOIN points_account a ON a.id = top.account_id JOIN mall_member m ON m.id = a.member_id
        ORDER BY 4 DESC, a.id
        """, [since, until, TOP])]
    top_holders = [{"member_id": member_id, "username": username, "name": name, "points": int(points)}
                   for member_id, username, name, points in _rows(
        """
        SELECT m.id, m.username, COALESCE(NULLIF(m.nickname, ''), m.username),
               a.available + a.pending + a.held FROM points_account a
        JOIN mall_member m ON m.id = a.member_id WHERE a.available + a.pending + a.held > 0
        ORDER BY 4 DESC, 1 LIMIT %s
        """, [TOP])]
    redeemers, redeemers_back, others, others_back = (int(v) for v in _rows(
        """
        WITH first_redemption AS (
            SELECT member_id, MIN(created_at) AS at FROM catalog_redemption
            WHERE status <> 'cancelled' GROUP BY member_id
        ), redeemed AS (
            SELECT f.member_id, EXISTS (SELECT 1 FROM points_order o WHERE o.member_id = f.member_id
                                        AND o.paid_at > f.at) AS back
            FROM first_redemption f WHERE f.at >= %(since)s AND f.at < %(until)s
        ), buyers AS (
            SELECT o.member_id, MIN(o.paid_at) AS at FROM points_order o
            WHERE o.paid_at >= %(since)s AND o.paid_at < %(until)s
              AND NOT EXISTS (SELECT 1 FROM first_redemption f WHERE f.member_id = o.member_id)
            GROUP BY o.member_id
        ), others AS (
            SELECT b.member_id, EXISTS (SELECT 1 FROM points_order o WHERE o.member_id = b.member_id
                                        AND o.paid_at > b.at) AS back
            FROM buyers b
        )
        SELECT (SELECT COUNT(*) FROM redeemed), (SELECT COUNT(*) FILTER (WHERE back) FROM redeemed),
               (SELECT COUNT(*) FROM others), (SELECT COUNT(*) FILTER (WHERE back) FROM others)
        """, {"since": since, "until": until})[0])
    return {
        "active": int(active), "new": int(new), "tiers": tiers,
        "top_earners": top_earners, "top_holders": top_holders,
        "repurchase": {
            "redeemed": {"members": redeemers, "repurchased": redeemers_back,
                         "rate": ratio(redeemers_back, redeemers)},
            "not_redeemed": {"members": others, "repurchased": others_back,
                             "rate": ratio(others_back, others)},
        },
    }


def catalog_stats(start: date, end: date, *, now: datetime | None = None) -> dict:
    """The points mall over the local days ``start``..``end``:

    * ``products`` / ``categories``: redemptions (not cancelled, lottery prizes included),
      quantity and points spent, most points first: ``[{id, name, redemptions, quantity, points}]``;
    * ``stock_outs``: products on sale now with stock 0, ``[{id, name}]``;
    * ``lottery``: ``{draws, points_spent (draw costs), prize_points (points paid out as prizes:
      the lottery's cost)}``;
    * ``auctions``: auctions closed with a winner in the range, ``{closed, points (winning bids
      captured), list_points (the products' points prices), cost (list − winning, ≥ 0 each)}``.
    """
    from catalog.models import Product

    since, until = _bounds(start, end)
    params = {"since": since, "until": until}
    products = [{"id": pk, "name": name, "redemptions": int(n), "quantity": int(q), "points": int(p)}
                for pk, name, n, q, p in _rows(
        """
        SELECT p.id, p.name, COUNT(*), SUM(r.quantity), SUM(r.points) FROM catalog_redemption r
        JOIN catalog_product p ON p.id = r.product_id
        WHERE r.status <> 'cancelled' AND r.created_at >= %(since)s AND r.created_at < %(until)s
        GROUP BY p.id, p.name ORDER BY 5 DESC, 3 DESC, 1
        """, params)]
    categories = [{"id": pk, "name": name, "redemptions": int(n), "quantity": int(q), "points": int(p)}
                  for pk, name, n, q, p in _rows(
        """
        SELECT c.id, c.name, COUNT(*), SUM(r.quantity), SUM(r.points) FROM catalog_redemption r
        JOIN catalog_product p ON p.id = r.product_id
        LEFT JOIN catalog_category c ON c.id = p.category_id
        WHERE r.status <> 'cancelled' AND r.created_at >= %(since)s AND r.created_at < %(until)s
        GROUP BY c.id, c.name ORDER BY 5 DESC, 3 DESC, 1 NULLS LAST
        """, params)]
    stock_outs = [{"id": pk, "name": name} for pk, name in
                  Product.objects.on_sale(now).filter(stock=0).order_by("name", "pk")
                  .values_list("pk", "name")]
    draws, draw_points, prize_points, closed, won, listed, cost = (int(v) for v in _rows(
        """
        SELECT (SELECT COUNT(*) FROM catalog_draw WHERE created_at >= %(since)s
                AND created_at < %(until)s),
               (SELECT COALESCE(SUM(points_spent), 0) FROM catalog_draw
                WHERE created_at >= %(since)s AND created_at < %(until)s),
               (SELECT COALESCE(SUM(delta), 0) FROM points_entry WHERE kind = 'earn'
                AND key LIKE 'draw-prize:%%' AND created_at >= %(since)s AND created_at < %(until)s),
               a.closed, a.won, a.listed, a.cost
        FROM (SELECT COUNT(*) AS closed, COALESCE(SUM(b.points), 0) AS won,
                     COALESCE(SUM(p.points_price), 0) AS listed,
                     COALESCE(SUM(GREATEST(p.points_price - b.points, 0)), 0) AS cost
              FROM catalog_auction au JOIN catalog_bid b ON b.id = au.winning_bid_id
              JOIN catalog_product p ON p.id = au.product_id
              WHERE au.status = 'closed' AND au.closed_at >= %(since)s
                AND au.closed_at < %(until)s) a
        """, params)[0])
    return {
        "products": products, "categories": categories, "stock_outs": stock_outs,
        "lottery": {"draws": draws, "points_spent": draw_points, "prize_points": prize_points},
        "auctions": {"closed": closed, "points": won, "list_points": listed, "cost": cost},
    }
