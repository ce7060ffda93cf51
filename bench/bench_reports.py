"""Time the 报表 page's aggregates (``mall.reports_admin._compute``: every section of
/admin/reports/ for a 30-day range, uncached) and the cached page's read, on the ledger of
``bench_reconcile`` (100,000 accounts, 1,100,000 entries, 1,000,000 lots by default).

    DEBUG=1 .venv/bin/python bench/bench_reports.py                   # 100,000 accounts
    DEBUG=1 .venv/bin/python bench/bench_reports.py --accounts 20000 --rounds 1

Uses DATABASE_URL's server, never its database: ``<name>_bench_reports``, dropped at the end
unless ``--keep``. Goal: the landing page opens in < 1 s (cached; the uncached figure is what the
first visitor of a range pays, once per ``CACHE_SECONDS``).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL_S = 1.0


def run(accounts: int = 100_000, *, rounds: int = 3, keep: bool = False) -> dict:
    from bench.bench_reconcile import LOTS_PER_ACCOUNT, _fill
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("reports", keep=keep):
        from django.conf import settings
        from django.core.cache import cache

        from mall import reports_admin

        _fill(os.environ["DATABASE_URL"], accounts)
        settings.DEBUG = False
        start, end = reports_admin.default_range()
        uncached, cached = [], []
        for _ in range(rounds):
            cache.clear()
            began = time.perf_counter()
            reports_admin.build_tables(start, end, "day")
            uncached.append(time.perf_counter() - began)
            began = time.perf_counter()
            reports_admin.build_tables(start, end, "day")
            cached.append(time.perf_counter() - began)
        entries = accounts * (LOTS_PER_ACCOUNT + 1)
        fresh, warm = statistics.median(uncached), statistics.median(cached)
        verdict = "" if warm < GOAL_S else "   MISSED"
        print(f"reports page  uncached {fresh:5.2f}s   cached {warm * 1000:6.1f} ms   "
              f"(goal < {GOAL_S:.0f} s){verdict}   [{entries:,} entries, {accounts:,} accounts; "
              f"median of {rounds}]", flush=True)
        return {"uncached": uncached, "cached": cached}


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
