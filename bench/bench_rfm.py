"""Time the nightly RFM scoring (``mall.rfm.score_members``) on 100,000 members against one plain
SQL query computing the same scores (issue 14).

    DEBUG=1 .venv/bin/python bench/bench_rfm.py                     # 100,000 members
    DEBUG=1 .venv/bin/python bench/bench_rfm.py --members 20000 --rounds 1
    DEBUG=1 .venv/bin/python bench/run.py --only rfm

Like the other benches it uses DATABASE_URL's server (or the embedded PostgreSQL) but never its
database: everything happens in ``<name>_bench_rfm``, dropped at the end unless ``--keep``. The
activity is generated set-based (not timed): member i has i mod 7 paid orders (about 3 a member)
spread over the last 500 days, so some fall outside the 365-day window, and i mod 3 redemptions
over the last 400 days; one member in seven has no order at all.

The job writes: the day's run (replacing the previous one of the same day: every round after the
first is a re-run), one score row per member, every member's segment (one ``UPDATE … FROM``) and
the segment counts and movement. The plain query only reads: the same aggregates, medians,
quintiles and segments, counted. The ratio is the price of the writes.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def say(text: str) -> None:
    print(text, flush=True)


PLAIN_SQL = """
WITH acts AS (
    SELECT member_id, paid_at AS at, amount - refunded_amount AS value FROM points_order
     WHERE paid_at >= %(start)s AND paid_at <= %(now)s
    UNION ALL
    SELECT member_id, created_at, 0 FROM catalog_redemption
     WHERE created_at >= %(start)s AND created_at <= %(now)s
       AND status NOT IN ('cancelled', 'awaiting_payment')
), agg AS (
    SELECT member_id, %(today)s::date - MAX((at AT TIME ZONE 'Asia/Shanghai')::date) AS r,
           COUNT(*) AS f, SUM(value) AS m
      FROM acts GROUP BY member_id
), medians AS (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY r) AS r,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY f) AS f,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY m) AS m FROM agg
)
SELECT COUNT(*) FROM (
    SELECT NTILE(5) OVER (ORDER BY a.r DESC, a.member_id DESC),
           NTILE(5) OVER (ORDER BY a.f, a.member_id), NTILE(5) OVER (ORDER BY a.m, a.member_id),
           (a.r <= md.r, a.f >= md.f, a.m >= md.m)
      FROM agg a CROSS JOIN medians md
) scored
"""


def _fill(url: str, members: int) -> None:
    from bench.dbs import connect

    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO mall_member (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined, nickname, tier) "
            "SELECT '!', false, 'rfm-' || g, '', '', '', false, true, now() - interval '2 years', "
            "'', 'normal' FROM generate_series(1, %s) g", [members])
        cur.execute(
            """
            INSERT INTO points_order (external_id, member_id, tier, amount, refunded_amount, paid_at,
                                      created_at)
            SELECT 'rfm-' || m.id || '-' || k, m.id, 'normal', ((m.id * 37 + k * 11) %% 500) + 9.90, 0,
                   now() - ((m.id * 13 + k * 71) %% 500) * interval '1 day', now()
              FROM mall_member m CROSS JOIN generate_series(1, 6) k
             WHERE m.username LIKE 'rfm-%%' AND k <= m.id %% 7
            """, {})
        cur.execute("SELECT id FROM catalog_product ORDER BY id LIMIT 1")
        product_id = cur.fetchone()[0]
        # Free redemptions (no points, so no spend entry): only their dates count.
        cur.execute(
            """
            INSERT INTO catalog_redemption (key, member_id, product_id, quantity, points, cash, status,
                address, tracking_number, created_at, cancel_reason, welcome_discount)
            SELECT 'rfm-' || m.id || '-' || k, m.id, %s, 1, 0, 0, 'completed', '', '',
                   now() - ((m.id * 17 + k * 29) %% 400) * interval '1 day', '', 0
              FROM mall_member m CROSS JOIN generate_series(1, 2) k
             WHERE m.username LIKE 'rfm-%%' AND k <= m.id %% 3
            """, [product_id])
        conn.commit()
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) mall_member, points_order, catalog_redemption")


def _timed(steps: list):
    """An execute wrapper recording (seconds, the statement's first words) of each statement."""
    def wrapper(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            steps.append((time.perf_counter() - began, " ".join(sql.split())[:90]))
    return wrapper


def run(members: int = 100_000, *, rounds: int = 3, keep: bool = False, verbose: bool = False) -> dict:
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("rfm", keep=keep) as server:
        from datetime import datetime, timedelta
        from datetime import time as dtime

        from django.conf import settings
        from django.db import connection
        from django.utils import timezone

        from catalog import services
        from catalog.models import Product
        from mall.rfm import score_members
        from mall.rfm_models import RfmScore

        services.save_product(Product(name="Tea", points_price=10, stock=10))
        started = time.perf_counter()
        _fill(os.environ["DATABASE_URL"], members)
        if verbose:
            say(f"        rfm: generated {members:,} members in {time.perf_counter() - started:.0f}s")
        settings.DEBUG = False
        connection.ensure_connection()
        now = timezone.now()
        today = timezone.localdate(now)
        start = timezone.make_aware(datetime.combine(today - timedelta(days=364), dtime.min))
        job_times, sql_times = [], []
        summary = None
        for rnd in range(rounds):
            order = ("job", "sql") if rnd % 2 == 0 else ("sql", "job")
            for side in order:
                server.checkpoint()
                began = time.perf_counter()
                if side == "job":
                    steps = []
                    with connection.execute_wrapper(_timed(steps)):
                        summary = score_members(now=now)
                    job_times.append(time.perf_counter() - began)
                    if verbose:
                        for seconds, statement in sorted(steps, reverse=True)[:6]:
                            say(f"          {seconds:6.2f}s  {statement}")
                else:
                    with connection.cursor() as cursor:
                        cursor.execute(PLAIN_SQL, {"start": start, "now": now, "today": today})
                        active = cursor.fetchone()[0]
                    sql_times.append(time.perf_counter() - began)
            if summary["members_scored"] != members or RfmScore.objects.count() != members:
                raise AssertionError(f"scored {summary['members_scored']} of {members} members")
            if active != summary["members_active"]:
                raise AssertionError(f"the plain query found {active} active, the job "
                                     f"{summary['members_active']}")
            if verbose:
                say(f"        round {rnd}: job {job_times[-1]:.2f}s, plain query {sql_times[-1]:.2f}s")
        job_s, sql_s = statistics.median(job_times), statistics.median(sql_times)
        ratio = job_s / sql_s
        say(f"rfm     job {job_s:7.2f}s   sql {sql_s:7.2f}s   ratio {ratio:4.2f}   (scores, segments and "
            f"every member's segment written vs read only)   [{members:,} members, "
            f"{summary['members_active']:,} active; median of {rounds}]")
        return {"members": members, "job": job_times, "sql": sql_times, "ratio": ratio,
                "counts": summary["counts"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="members (default 100,000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per side (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    run(args.members, rounds=args.rounds, keep=args.keep, verbose=args.verbose)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
