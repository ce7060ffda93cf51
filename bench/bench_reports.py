"""Time the 报表 landing page's aggregates (``mall.reports_admin.dashboard``: every section of
/admin/reports/ for the default 30-day range, uncached) on the ledger of ``bench_reconcile``
(100,000 accounts, 1,100,000 entries, 1,000,000 lots by default: ten months of earnings and
today's 100,000 spendings), against a plain-SQL baseline, and the cached page's read.

    DEBUG=1 .venv/bin/python bench/bench_reports.py                   # 100,000 accounts
    DEBUG=1 .venv/bin/python bench/bench_reports.py --accounts 20000 --rounds 1
    DEBUG=1 .venv/bin/python bench/run.py --only reports

Uses DATABASE_URL's server, never its database: ``<name>_bench_reports``, dropped at the end
unless ``--keep``. Before timing, the nightly job (``mall.report_jobs.materialise``) runs once, as
it would have overnight; its time is printed too. Closed days then come from the daily aggregate
and today (the 100,000 spendings) live from the entries.

The baseline is the plain SQL the page's ledger figures need without the aggregate: one
``GROUP BY`` of every entry per local day and kind (flows, opening and month-end balances,
breakage's expired points), plus the lots' matured amounts. Goal: the landing page opens in
< 1 s uncached on 1,000,000 entries.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL_S = 1.0
GOAL_ENTRIES = 1_000_000

BASELINE_SQL = [
    """SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date, kind,
              SUM(delta) FILTER (WHERE delta > 0), SUM(delta) FILTER (WHERE delta < 0), COUNT(*)
       FROM points_entry GROUP BY 1, 2""",
    "SELECT COALESCE(SUM(amount), 0) FROM points_lot WHERE expires_at <= now()",
]


def _time(call) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def _baseline() -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        for sql in BASELINE_SQL:
            cursor.execute(sql)
            cursor.fetchall()


def run(accounts: int = 100_000, *, rounds: int = 3, keep: bool = False) -> dict:
    from bench.bench_reconcile import LOTS_PER_ACCOUNT, _fill
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("reports", keep=keep):
        from django.conf import settings
        from django.core.cache import cache

        from mall import report_jobs, reports_admin

        _fill(os.environ["DATABASE_URL"], accounts)
        settings.DEBUG = False
        job = time.perf_counter()
        summary = report_jobs.materialise()
        job = time.perf_counter() - job
        start, end = reports_admin.default_range()
        uncached, cached, baseline = [], [], []
        for _ in range(rounds):
            baseline.append(_time(_baseline))
            cache.clear()
            uncached.append(_time(lambda: reports_admin.build_tables(start, end, "day")))
            cached.append(_time(lambda: reports_admin.build_tables(start, end, "day")))
        entries = accounts * (LOTS_PER_ACCOUNT + 1)
        fresh, warm, plain = (statistics.median(v) for v in (uncached, cached, baseline))
        scale = f"[{entries:,} entries, {accounts:,} accounts; median of {rounds}]"
        print(f"reports page  uncached {fresh:5.2f}s   plain sql {plain:5.2f}s   ratio {fresh / plain:4.2f}"
              f"   cached {warm * 1000:6.1f} ms   {scale}", flush=True)
        print(f"reports job   nightly materialise {job:5.2f}s   ({summary['days']} days, "
              f"{summary['rows']} day rows, {summary['lots']} maturity rows)", flush=True)
        if entries >= GOAL_ENTRIES:
            held = fresh < GOAL_S
            print(f"reports goal  landing page < {GOAL_S:.0f} s uncached on {entries:,} entries: "
                  f"{'holds' if held else 'MISSED'} ({fresh:.2f}s)", flush=True)
        else:
            print(f"reports goal  not checked: {entries:,} entries < {GOAL_ENTRIES:,} "
                  "(run without --accounts)", flush=True)
        return {"uncached": uncached, "cached": cached, "baseline": baseline, "job": job}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    run(args.accounts, rounds=args.rounds, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
