"""Time ``points.services.reconcile`` over 100,000 accounts / 1,000,000 lots against the single
invariant query of the tests (``tests.conftest.INVARIANT_SQL``), with its peak memory (issue 10).

    DEBUG=1 .venv/bin/python bench/bench_reconcile.py                    # 100,000 accounts
    DEBUG=1 .venv/bin/python bench/bench_reconcile.py --accounts 20000 --rounds 1
    DEBUG=1 .venv/bin/python bench/run.py --only reconcile

Like bench/run.py it uses DATABASE_URL's server (or the embedded PostgreSQL) but never its
database: everything happens in ``<name>_bench_recon``, dropped at the end unless ``--keep``. The
ledger is generated set-based (``INSERT ... SELECT generate_series``, not timed): every account
earned ten lots of 10, 20 ... 100 points in ten months (so its lots and entries lie in ten places
of the tables, as in production) and then spent 25 of them, which took the first lot and 15 of the
second (two allocation rows); so 11 entries per account. Both sides must find it clean.

The reconciliation makes its 15 checks per account in batches of 10,000 accounts (one statement
each); the single query makes 4 over all accounts at once, with no bound on its memory. The ratio
is the price of the extra checks and of the batches; the memory figure is the growth of this
process's peak RSS during the reconciliation (and the peak of Python's own allocations), which
must not grow with the ledger.
"""

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOTS_PER_ACCOUNT = 10
SPENT = 25
MEMORY_GOAL_KB = 16 * 1024


def say(text: str) -> None:
    print(text, flush=True)


def _fill(url: str, accounts: int) -> None:
    from bench.dbs import connect

    earned = 10 * LOTS_PER_ACCOUNT * (LOTS_PER_ACCOUNT + 1) // 2
    with connect(url) as conn, conn.cursor() as cur:
        try:  # skip the per-row FK triggers while generating data, where allowed
            cur.execute("SET session_replication_role = replica")
        except Exception:  # noqa: BLE001 - not a superuser: slower, same data
            conn.rollback()
        cur.execute(
            "INSERT INTO mall_member (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined, nickname, tier) "
            "SELECT '!', false, 'rec-' || g, '', '', '', false, true, now() - interval '1 year', "
            "'', 'normal' FROM generate_series(1, %s) g",
            [accounts],
        )
        cur.execute(
            "INSERT INTO points_account (id, member_id, available, pending, held, debt, "
            "lifetime_earned, lifetime_spent, lifetime_expired) "
            "SELECT id, id, %(left)s, 0, 0, 0, %(earned)s, %(spent)s, 0 FROM mall_member "
            "WHERE username LIKE 'rec-%%' ORDER BY id",
            {"left": earned - SPENT, "earned": earned, "spent": SPENT},
        )
        # Month k's earning of every account, then month k+1's: lots spread over the table.
        cur.execute(
            """
            INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason,
                reference, fingerprint, rule_version, created_at)
            SELECT a.id, 'rec:' || a.id || ':' || k, 'earn', 10 * k, 10 * k * (k + 1) / 2,
                   'bench', '', '', '', now() - interval '1 year' + k * interval '1 month'
            FROM generate_series(1, %(n)s) k CROSS JOIN points_account a
            ORDER BY k, a.id
            """,
            {"n": LOTS_PER_ACCOUNT},
        )
        cur.execute(
            """
            INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at,
                expires_at, created_at)
            SELECT account_id, id, delta,
                   CASE delta WHEN 10 THEN 0 WHEN 20 THEN 5 ELSE delta END,
                   false, created_at, now() + interval '1 year', created_at
            FROM points_entry ORDER BY id
            """
        )
        cur.execute(
            "INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason, "
            "reference, fingerprint, rule_version, created_at) "
            "SELECT id, 'rec:' || id || ':spend', 'spend', %(spent)s, %(left)s, 'bench', '', '', '', "
            "now() FROM points_account ORDER BY id",
            {"spent": -SPENT, "left": earned - SPENT},
        )
        cur.execute(
            """
            INSERT INTO points_allocation (account_id, lot_id, entry_id, hold_id, amount)
            SELECT l.account_id, l.id, s.id, NULL, CASE l.amount WHEN 10 THEN 10 ELSE 15 END
            FROM points_lot l JOIN points_entry s ON s.account_id = l.account_id AND s.kind = 'spend'
            WHERE l.amount IN (10, 20)
            """
        )
        conn.commit()
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) mall_member, points_account, points_entry, points_lot, "
                     "points_allocation")


def _time_sql(sql: str) -> tuple[float, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql)
        rows = cursor.fetchall()
        return time.perf_counter() - started, len(rows)


def _time_reconcile() -> tuple[float, object, int, int]:
    """(seconds, run, peak RSS growth in KiB, peak traced Python allocations in KiB)."""
    from bench.expiry import _proc_status_kb, _reset_peak_rss
    from points.services import reconcile

    reset = _reset_peak_rss()
    rss_before = _proc_status_kb("VmRSS")
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    run = reconcile()
    seconds = time.perf_counter() - started
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm = _proc_status_kb("VmHWM") if reset else None
    if hwm is not None and rss_before is not None:
        growth = max(0, hwm - rss_before)
    else:
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before
    return seconds, run, growth, traced_peak // 1024


def run(accounts: int = 100_000, *, rounds: int = 3, keep: bool = False, verbose: bool = False) -> dict:
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("recon", keep=keep) as server:
        from django.conf import settings
        from django.db import connection

        from tests.conftest import INVARIANT_SQL

        started = time.perf_counter()
        _fill(os.environ["DATABASE_URL"], accounts)
        if verbose:
            say(f"        reconcile: generated {accounts:,} accounts, {accounts * LOTS_PER_ACCOUNT:,} "
                f"lots in {time.perf_counter() - started:.0f}s")
        settings.DEBUG = False  # no query log while timing
        connection.ensure_connection()
        service_times, sql_times, growths, traced = [], [], [], []
        for rnd in range(rounds):
            order = ("service", "sql") if rnd % 2 == 0 else ("sql", "service")
            for side in order:
                server.checkpoint()
                if side == "service":
                    seconds, result, growth, peak = _time_reconcile()
                    if (result.accounts_checked, result.mismatch_count) != (accounts, 0):
                        raise AssertionError(f"reconcile checked {result.accounts_checked} accounts "
                                             f"and found {result.mismatch_count} mismatches: "
                                             f"{result.mismatches[:5]}")
                    service_times.append(seconds)
                    growths.append(growth)
                    traced.append(peak)
                else:
                    seconds, violations = _time_sql(INVARIANT_SQL)
                    if violations:
                        raise AssertionError(f"the invariant query found {violations} violations")
                    sql_times.append(seconds)
            if verbose:
                say(f"        round {rnd} ({' first, '.join(order)} second): reconcile "
                    f"{service_times[-1]:.2f}s (+{growths[-1] / 1024:.1f} MB RSS, "
                    f"{traced[-1] / 1024:.1f} MB traced), single query {sql_times[-1]:.2f}s")
        service_s, sql_s = statistics.median(service_times), statistics.median(sql_times)
        ratio = service_s / sql_s
        growth = max(growths)
        bounded = growth <= MEMORY_GOAL_KB
        verdict = "" if bounded else "   MISSED"
        say(f"reconcile service {service_s:7.2f}s   sql {sql_s:7.2f}s   ratio {ratio:4.2f}   "
            f"(15 checks in batches vs 4 in one query)   [{accounts:,} accounts, "
            f"{accounts * LOTS_PER_ACCOUNT:,} lots; median of {rounds}]")
        say(f"memory  peak RSS growth in reconcile: +{growth / 1024:.1f} MB, Python allocations "
            f"peak {max(traced) / 1024:.1f} MB   (goal: < {MEMORY_GOAL_KB // 1024} MB, not growing "
            f"with lots){verdict}")
        return {"accounts": accounts, "service": service_times, "sql": sql_times, "ratio": ratio,
                "rss_growth_kb": growths, "traced_peak_kb": traced}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000,
                        help=f"accounts, {LOTS_PER_ACCOUNT} lots each (default 100,000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per side (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.accounts < 1 or args.rounds < 1:
        parser.error("--accounts and --rounds must be at least 1")
    run(args.accounts, rounds=args.rounds, keep=args.keep, verbose=args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
