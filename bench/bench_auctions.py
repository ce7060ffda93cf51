"""Auction bids per second (issue 11): ``catalog.services.place_bid`` on N threads against plain
psycopg sending the statements a bid needs (target: service >= 0.5 of plain SQL).

    DEBUG=1 .venv/bin/python bench/bench_auctions.py [--bids 2000] [--threads 8] [--rounds 2]

Like the other benches it uses DATABASE_URL's server but its own database ``<name>_bench_auc``,
dropped at the end unless ``--keep``. Each thread has its own auction and its own two members who
outbid each other in turn (increment 1), so every bid also releases the previous leader's hold:
the two sides queue on no common row. Warm-up bids first, then all threads start at a barrier;
the time is from the barrier to the last thread's finish. Sides alternate going first per round.
The service side is checked afterwards (one open hold per auction, ledger totals match lots).

The plain-SQL side, per bid, in one transaction: lock the auction row, look the key up, read the
leading bid, lock both accounts in id order; the hold (conditional account UPDATE, hold INSERT,
entry INSERT, the lots statement with its allocations); the release (hold read, lots given back,
entry INSERT, account UPDATE, hold UPDATE); the outbid bid's UPDATE, the bid INSERT and the
auction UPDATE. No idempotency bookkeeping beyond the unique keys, no Python objects.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WARMUP = 5


def say(text: str) -> None:
    print(text, flush=True)


def _setup(threads: int, tag: str):
    """Per thread: an auction (its own product) and two funded members. Returns
    ``[(auction_id, [(member_id, account_id), (member_id, account_id)])]``."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from bench.postings import add_spend_lots, create_accounts
    from catalog.models import Auction, Product

    now = timezone.now()
    out = []
    with connection.cursor() as cursor:
        pairs = create_accounts(cursor, f"bench-auc-{tag}-", 2 * threads)
        add_spend_lots(cursor, [account for _m, account in pairs])
    for t in range(threads):
        product = Product.objects.create(name=f"Auction {tag} {t}", points_price=1, stock=1)
        auction = Auction.objects.create(product=product, starts_at=now - timedelta(minutes=1),
                                         ends_at=now + timedelta(days=1), start_price=1, increment=1)
        out.append((auction.pk, pairs[2 * t:2 * t + 2]))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return out


def service_side(setup, bids: int, round_: int) -> float:
    from django.db import connection

    from bench.postings import timed_threads
    from catalog import services
    from catalog.models import Auction
    from mall.models import Member

    share = bids // len(setup)

    def work(t, barrier, ends):
        try:
            auction_id, pairs = setup[t]
            auction = Auction.objects.get(pk=auction_id)
            two = [Member.objects.get(pk=member) for member, _account in pairs]
            for n in range(1, WARMUP + share + 1):
                if n == WARMUP + 1:
                    barrier.wait()
                services.place_bid(two[n % 2], auction, n, key=f"bench:{round_}:{t}:{n}")
            ends[t] = time.perf_counter()
        finally:
            connection.close()

    return timed_threads(len(setup), work, name="bid")


LOCK_AUCTION = ("SELECT id, status, ends_at, starts_at, start_price, increment, extend_minutes, "
                "leading_bid_id FROM catalog_auction WHERE id = %s FOR NO KEY UPDATE")
KEY_LOOKUP = "SELECT id FROM catalog_bid WHERE key = %s"
LEADER = "SELECT member_id, points, hold_id FROM catalog_bid WHERE id = %s"
LOCK_ACCOUNTS = "SELECT member_id, debt FROM points_account WHERE member_id = ANY(%s) ORDER BY id FOR UPDATE"
HOLD_ACCOUNT = ("UPDATE points_account SET available = available - %s, held = held + %s "
                "WHERE member_id = %s AND available >= %s RETURNING id, available + pending + held - debt")
HOLD_INSERT = ("INSERT INTO points_hold (account_id, amount, captured, status, reference, expires_at, "
               "created_at) VALUES (%s, %s, 0, 'held', %s, now() + interval '2 days', now()) RETURNING id")
ENTRY = ("INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason, reference, "
         "fingerprint, hold_id, rule_version, created_at) "
         "VALUES (%s, %s, %s, 0, %s, %s, %s, '', %s, '', now()) RETURNING id")
HOLD_LOTS = """
    WITH candidates AS (
        SELECT id, remaining, SUM(remaining) OVER (ORDER BY expires_at ASC NULLS LAST, id ASC) AS running
        FROM points_lot WHERE account_id = %s AND remaining > 0 AND NOT pending
    ), taken AS (
        SELECT id, LEAST(remaining, %s - (running - remaining)) AS amount
        FROM candidates WHERE running - remaining < %s
    ), updated AS (
        UPDATE points_lot l SET remaining = l.remaining - taken.amount FROM taken
        WHERE l.account_id = %s AND l.id = taken.id  -- one partition, as the service
        RETURNING l.id, taken.amount
    )
    INSERT INTO points_allocation (account_id, lot_id, entry_id, hold_id, amount)
    SELECT %s, id, NULL, %s, amount FROM updated
"""
HOLD_READ = "SELECT account_id, amount, status FROM points_hold WHERE id = %s"
RELEASE_LOTS = ("UPDATE points_lot l SET remaining = l.remaining + a.amount FROM points_allocation a "
                "WHERE a.account_id = %s AND a.hold_id = %s AND a.entry_id IS NULL "
                "AND l.account_id = a.account_id AND l.id = a.lot_id")
RELEASE_ACCOUNT = ("UPDATE points_account SET available = available + %s, held = held - %s "
                   "WHERE id = %s RETURNING available + pending + held - debt")
HOLD_RELEASED = "UPDATE points_hold SET status = 'released', resolved_at = now() WHERE id = %s"
OUTBID = "UPDATE catalog_bid SET status = 'outbid' WHERE id = %s"
BID_INSERT = ("INSERT INTO catalog_bid (auction_id, member_id, points, key, hold_id, status, created_at) "
              "VALUES (%s, %s, %s, %s, %s, 'leading', now()) RETURNING id")
AUCTION_UPDATE = "UPDATE catalog_auction SET leading_bid_id = %s, ends_at = %s WHERE id = %s"


def sql_side(setup, bids: int, round_: int, url: str) -> float:
    from bench.dbs import connect
    from bench.postings import timed_threads

    share = bids // len(setup)

    def work(t, barrier, ends):
        conn = connect(url)
        try:
            cur = conn.cursor()
            auction_id, pairs = setup[t]
            for n in range(1, WARMUP + share + 1):
                if n == WARMUP + 1:
                    barrier.wait()
                member = pairs[n % 2][0]
                key = f"sql:{round_}:{t}:{n}"
                reference = f"auction:{auction_id}"
                cur.execute(LOCK_AUCTION, [auction_id])
                row = cur.fetchone()
                ends_at, leading = row[2], row[7]
                cur.execute(KEY_LOOKUP, [key])
                cur.fetchone()
                leader = None
                if leading:
                    cur.execute(LEADER, [leading])
                    leader = cur.fetchone()
                cur.execute(LOCK_ACCOUNTS, [[member] + ([leader[0]] if leader else [])])
                cur.fetchall()
                cur.execute(HOLD_ACCOUNT, [n, n, member, n])
                account_id, total = cur.fetchone()
                cur.execute(HOLD_INSERT, [account_id, n, reference])
                hold_id = cur.fetchone()[0]
                cur.execute(ENTRY, [account_id, "bid:" + key, "hold", total, "reserved", reference, hold_id])
                cur.fetchone()
                cur.execute(HOLD_LOTS, [account_id, n, n, account_id, account_id, hold_id])
                if leader:
                    cur.execute(HOLD_READ, [leader[2]])
                    old_account, amount, _status = cur.fetchone()
                    cur.execute(RELEASE_LOTS, [old_account, leader[2]])
                    cur.execute(RELEASE_ACCOUNT, [amount, amount, old_account])
                    old_total = cur.fetchone()[0]
                    cur.execute(ENTRY, [old_account, f"bid-release:{leader[2]}", "release", old_total,
                                        "released", reference, leader[2]])
                    cur.fetchone()
                    cur.execute(HOLD_RELEASED, [leader[2]])
                    cur.execute(OUTBID, [leading])
                cur.execute(BID_INSERT, [auction_id, member, n, key, hold_id])
                bid_id = cur.fetchone()[0]
                cur.execute(AUCTION_UPDATE, [bid_id, ends_at, auction_id])
                conn.commit()
            ends[t] = time.perf_counter()
        finally:
            conn.close()

    return timed_threads(len(setup), work, name="bid-sql")


def check(setup) -> None:
    from django.db import connection

    from catalog.models import Bid
    from points.models import Hold, HoldStatus

    for auction_id, _pairs in setup:
        open_holds = Hold.objects.filter(bid__auction_id=auction_id, status=HoldStatus.HELD).count()
        leading = Bid.objects.filter(auction_id=auction_id, status="leading").count()
        if (open_holds, leading) != (1, 1):
            raise AssertionError(f"auction {auction_id}: {open_holds} open holds, {leading} leaders")
    accounts = [account for _a, pairs in setup for _m, account in pairs]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM points_account a "
            "LEFT JOIN (SELECT account_id, sum(remaining) s FROM points_lot GROUP BY account_id) l "
            "ON l.account_id = a.id "
            "LEFT JOIN (SELECT account_id, sum(amount) h FROM points_hold WHERE status = 'held' "
            "GROUP BY account_id) h ON h.account_id = a.id "
            "WHERE a.id = ANY(%s) AND (a.available <> COALESCE(l.s, 0) OR a.held <> COALESCE(h.h, 0))",
            [accounts])
        if cursor.fetchone()[0]:
            raise AssertionError("ledger totals, lots and holds disagree after the bids")


def run(bids: int = 2000, *, threads: int = 8, rounds: int = 2, keep: bool = False) -> float:
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("auc", keep=keep) as server:
        import os

        from django.conf import settings
        from django.db import connection

        url = os.environ["DATABASE_URL"]
        settings.DEBUG = False
        version = server.version
        say(f"bench auctions: {os.cpu_count()} cores, PostgreSQL {version // 10000}.{version % 10000}; "
            f"{bids} bids on {threads} threads (each its own auction, two members outbidding each other)")
        service_rates, sql_rates = [], []
        for round_ in range(rounds):
            service_setup, sql_setup = _setup(threads, f"s{round_}"), _setup(threads, f"q{round_}")
            connection.close()
            sides = ["service", "sql"][::-1 if round_ % 2 else 1]
            for side in sides:
                if side == "service":
                    service_rates.append(bids / service_side(service_setup, bids, round_))
                else:
                    sql_rates.append(bids / sql_side(sql_setup, bids, round_, url))
            check(service_setup)
        service, sql = max(service_rates), max(sql_rates)
        ratio = service / sql
        verdict = "" if ratio >= 0.5 else "   MISSED"
        say(f"bid     service {service:>7.0f}/s   sql {sql:>7.0f}/s   ratio {ratio:4.2f}   (>= 0.5){verdict}"
            f"   [{threads} threads, best of {rounds} rounds, checked]")
        return ratio


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids", type=int, default=2000, help="bids per side per round (default 2000)")
    parser.add_argument("--threads", type=int, default=8, help="threads (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, sides alternating first (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--quick", action="store_true", help="sanity run: --bids 400 --rounds 1")
    args = parser.parse_args(argv)
    if args.quick:
        args.bids, args.rounds = 400, 1
    if args.bids < args.threads or args.threads < 1 or args.rounds < 1:
        parser.error("--bids must be >= --threads >= 1, --rounds >= 1")
    if args.bids // args.threads + WARMUP > 400:
        parser.error("at most 400 bids per thread: each member holds 500 points")
    run(args.bids, threads=args.threads, rounds=args.rounds, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
