"""Lottery draws per second through ``catalog.services.draw`` against plain SQL doing the same
statements (issue 11; target ratio >= 0.5).

    DEBUG=1 .venv/bin/python bench/bench_lottery.py --draws 2000 --threads 8

Like bench/bench_catalog.py it works in its own ``<name>_bench_lot`` database, dropped at the end
unless ``--keep``. One lottery (10 points a draw) with an unlimited "nothing" prize (weight 9)
and a points prize with ample stock (weight 1), so a tenth of the draws take stock with the
conditional UPDATE and post an earning. Each thread draws for its own members (500 points each,
at most 40 draws per member). The SQL side runs, per draw in one transaction: the member lock,
the key / lottery / today's-count / balance / prize reads, the prize UPDATE for a stocked prize,
the spend (account UPDATE, entry, lots and allocations), the earning of a points prize (account,
entry, lot) and the draw row — what the service does, without Django.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COST = 10
DRAWS_PER_MEMBER = 40
WARMUP_PER_THREAD = 5


def say(text: str) -> None:
    print(text, flush=True)


def _setup(threads: int, per_thread: int):
    from django.db import connection

    from bench.postings import add_spend_lots, create_accounts
    from catalog.models import Lottery, Prize, PrizeKind

    lottery = Lottery.objects.create(name="Bench draw", cost_points=COST)
    Prize.objects.create(lottery=lottery, name="Nothing", kind=PrizeKind.NOTHING, weight=9)
    Prize.objects.create(lottery=lottery, name="Coin", kind=PrizeKind.POINTS, weight=1, points=5,
                         stock=10**8)
    members_per_thread = -(-(per_thread + WARMUP_PER_THREAD) // DRAWS_PER_MEMBER)
    sides = {}
    with connection.cursor() as cursor:
        for side in ("service", "sql"):
            pairs = create_accounts(cursor, f"bench-lot-{side}-", threads * members_per_thread)
            add_spend_lots(cursor, [account for _member, account in pairs])
            sides[side] = [pairs[t * members_per_thread:(t + 1) * members_per_thread]
                           for t in range(threads)]
        cursor.execute("ANALYZE")
    return lottery, sides


def bench_service(lottery, members, *, shares) -> float:
    from django.db import connection

    from bench.postings import timed_threads
    from catalog import services
    from mall.models import Member

    def worker(t, barrier, ends):
        try:
            mine = list(Member.objects.filter(pk__in=[m for m, _a in members[t]]).order_by("pk"))
            for i in range(WARMUP_PER_THREAD):
                services.draw(mine[i // DRAWS_PER_MEMBER], lottery, key=f"svc:{t}:w:{i}")
            barrier.wait()
            for i in range(WARMUP_PER_THREAD, WARMUP_PER_THREAD + shares[t]):
                services.draw(mine[i // DRAWS_PER_MEMBER], lottery, key=f"svc:{t}:t:{i}")
            ends[t] = time.perf_counter()
        finally:
            connection.close()

    return sum(shares) / timed_threads(len(shares), worker, name="draw")


def bench_sql(url: str, lottery, members, *, shares) -> float:
    from django.utils import timezone

    from bench.dbs import connect
    from bench.postings import (
        EARN_ACCOUNT,
        EARN_LOT,
        ENTRY_INSERT,
        SPEND_ACCOUNT,
        SPEND_LOTS,
        _fingerprint,
        bench_expiry,
        timed_threads,
    )
    from catalog.services.lottery import pick, start_of_day

    rng = secrets.SystemRandom()

    class Row:
        def __init__(self, pk, weight, stock, points, kind):
            self.pk, self.weight, self.stock, self.points, self.kind = pk, weight, stock, points, kind

    def worker(t, barrier, ends):
        conn = connect(url)
        cur = conn.cursor()

        def draw(member_id, account_id, key):
            now = timezone.now()
            cur.execute("SELECT tier FROM mall_member WHERE id = %s FOR NO KEY UPDATE", [member_id])
            cur.fetchone()
            cur.execute("SELECT id FROM catalog_draw WHERE key = %s", [key])
            if cur.fetchone() is not None:
                raise RuntimeError("replayed key")
            cur.execute("SELECT cost_points, daily_limit FROM catalog_lottery WHERE id = %s",
                        [lottery.pk])
            cur.fetchone()
            cur.execute("SELECT count(*) FROM catalog_draw WHERE member_id = %s AND lottery_id = %s "
                        "AND created_at >= %s", [member_id, lottery.pk, start_of_day(now)])
            cur.fetchone()
            cur.execute("SELECT available FROM points_account WHERE member_id = %s", [member_id])
            cur.fetchone()
            cur.execute("SELECT id, weight, stock, points, kind FROM catalog_prize "
                        "WHERE lottery_id = %s AND (stock IS NULL OR stock <> 0) ORDER BY id",
                        [lottery.pk])
            prize = pick([Row(*row) for row in cur.fetchall()], rng)
            if prize.stock is not None:
                cur.execute("UPDATE catalog_prize SET stock = stock - 1 WHERE id = %s AND stock > 0 "
                            "RETURNING stock", [prize.pk])
                cur.fetchone()
            cur.execute("SELECT nextval(pg_get_serial_sequence('catalog_draw', 'id'))")
            draw_id = cur.fetchone()[0]
            reference = f"draw:{draw_id}"
            cur.execute(SPEND_ACCOUNT, [COST, COST, account_id, COST])
            total = cur.fetchone()[0]
            cur.execute(ENTRY_INSERT, [account_id, "draw:" + key, "spend", -COST, total,
                                       "Lottery draw", reference,
                                       _fingerprint("spend", member_id, -COST, reference),
                                       "", None, now])
            spend_id = cur.fetchone()[0]
            cur.execute(SPEND_LOTS, [account_id, COST, COST, account_id, spend_id])
            cur.fetchall()
            earn_id = None
            if prize.kind == "points":
                cur.execute(EARN_ACCOUNT, [prize.points, prize.points, account_id])
                total = cur.fetchone()[0]
                expires = bench_expiry()
                cur.execute(ENTRY_INSERT, [account_id, "draw-prize:" + key, "earn", prize.points,
                                           total, "Lottery prize", reference,
                                           _fingerprint("earn", member_id, prize.points, reference),
                                           "", None, now])
                earn_id = cur.fetchone()[0]
                cur.execute(EARN_LOT, [account_id, earn_id, prize.points, prize.points, now,
                                       expires, now])
            cur.execute(
                "INSERT INTO catalog_draw (id, key, member_id, lottery_id, prize_id, points_spent, "
                "entry_id, prize_entry_id, redemption_id, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL, %s)",
                [draw_id, key, member_id, lottery.pk, prize.pk, COST, spend_id, earn_id, now])
            conn.commit()

        try:
            mine = members[t]
            for i in range(WARMUP_PER_THREAD):
                draw(*mine[i // DRAWS_PER_MEMBER], f"sql:{t}:w:{i}")
            barrier.wait()
            for i in range(WARMUP_PER_THREAD, WARMUP_PER_THREAD + shares[t]):
                draw(*mine[i // DRAWS_PER_MEMBER], f"sql:{t}:t:{i}")
            ends[t] = time.perf_counter()
        finally:
            conn.close()

    return sum(shares) / timed_threads(len(shares), worker, name="draw")


def check(total: int) -> None:
    from django.db import connection

    from catalog.models import Draw

    if Draw.objects.count() != total:
        raise AssertionError(f"{Draw.objects.count()} draws; expected {total}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM points_account a LEFT JOIN (SELECT account_id, sum(remaining) s "
            "FROM points_lot GROUP BY account_id) l ON l.account_id = a.id "
            "WHERE a.available <> COALESCE(l.s, 0)")
        if cursor.fetchone()[0]:
            raise AssertionError("ledger totals and lots disagree after the draws")


def run(draws: int = 2000, *, threads: int = 8, keep: bool = False) -> float:
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("lot", keep=keep):
        import os

        from django.conf import settings
        from django.db import connection

        per_thread = -(-draws // threads)
        lottery, sides = _setup(threads, per_thread)
        connection.close()
        settings.DEBUG = False
        shares = [draws // threads + (1 if t < draws % threads else 0) for t in range(threads)]
        service = bench_service(lottery, sides["service"], shares=shares)
        sql = bench_sql(os.environ["DATABASE_URL"], lottery, sides["sql"], shares=shares)
        check(2 * (draws + threads * WARMUP_PER_THREAD))
        ratio = service / sql
        verdict = "" if ratio >= 0.5 else "   MISSED"
        say(f"draw    service {service:>7.0f}/s   sql {sql:>7.0f}/s   ratio {ratio:4.2f}   "
            f"(>= 0.5, {threads} threads, {draws} draws a side, checked){verdict}")
        return ratio


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000, help="draws per side (default 2000)")
    parser.add_argument("--threads", type=int, default=8, help="threads (default 8)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args(argv)
    if args.draws < args.threads or args.threads < 1:
        parser.error("--draws must be >= --threads >= 1")
    run(args.draws, threads=args.threads, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
