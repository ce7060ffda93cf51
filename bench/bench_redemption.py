"""Redemptions through ``catalog.services.redeem`` against plain SQL doing the same writes (issue 17:
ratio >= 0.6 at 8 threads).

    DEBUG=1 .venv/bin/python bench/bench_redemption.py                       # 2000 x 5 rounds per side
    DEBUG=1 .venv/bin/python bench/bench_redemption.py --redemptions 400 --rounds 3 -v --statements

Like bench/run.py it uses DATABASE_URL's server (or the embedded PostgreSQL when it is unset) but
never its database: everything happens in ``<name>_bench_redeem``, dropped and recreated on each
run and dropped at the end unless ``--keep``.

Each side of each round gets products and members of its own, made set-based before anything is
timed: one physical product per thread (stock for every redemption of the thread, points only,
no per-member limit) and members who joined a year ago (so the welcome offer does not apply)
with 500 points in five lots of different expiries, each redeeming the thread's product 40 times
at 10 points (so the spend crosses into the next lot every tenth time). No two threads touch one
row: what is measured is the work per redemption, not lock queues.

* ``service``: ``catalog.services.redeem(member, product, key=...)``, what the member's page and
  the API call: the member lock, one read of the product, the key, the balance and the limits,
  the guarded stock UPDATE, the ledger's spend, the redemption and its stock movement, and the
  activity announced after commit.
* ``sql``: one psycopg connection per thread sending the same writes as plain statements: the
  stock UPDATE with its guard (``stock >= q``, drawing the redemption id), the account UPDATE with
  its guard (``available >= points``), the entry INSERT, the lot consumption and its allocations
  (the ledger's own statement), the redemption row and its stock movement, then COMMIT.

Rounds alternate which side goes first; every thread warms up on redemptions of its own, then all
threads start together (``bench.postings.run_threads``). The printed rates are the medians of
the rounds' rates, the ratio the median of the rounds' ratios. Afterwards both sides are checked
alike: every product's stock is 0 and ``sold`` its redemptions, every redemption has its entry
and stock movement, and every account's totals match its lots and entries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL = 0.60
POINTS_PRICE = 10
PER_MEMBER = 40  # 400 of each member's 500 points
WARMUP_PER_THREAD = 5
SIDES = ("service", "sql")


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Run:
    """One timed run of one side (what ``bench.postings.run_threads`` needs: threads, tag)."""

    side: str
    round: int
    threads: int
    redemptions: int  # timed, in all
    products: list[int]  # one per thread
    members: list[list[int]]  # per thread, [warm-up member, timed members...]
    seconds: float = 0.0

    @property
    def tag(self) -> str:
        return f"{self.side}-{self.round}"

    @property
    def rate(self) -> float:
        return self.redemptions / self.seconds

    def share(self, thread: int) -> int:
        base, extra = divmod(self.redemptions, self.threads)
        return base + (1 if thread < extra else 0)

    def key(self, thread: int, phase: str, i: int) -> str:
        return f"rb:{self.tag}:{thread}:{phase}{i}"


# --------------------------------------------------------------------------- set-up


def plan_runs(cursor, *, redemptions: int, threads: int, rounds: int) -> list[Run]:
    from bench.postings import add_spend_lots, create_accounts
    from catalog.models import Product

    runs = []
    per_thread = -(-redemptions // threads)
    members_per_thread = 1 + -(-per_thread // PER_MEMBER)  # one for the warm-up
    for rnd in range(rounds):
        for side in (SIDES if rnd % 2 == 0 else SIDES[::-1]):
            tag = f"{side}-{rnd}"
            products = [p.pk for p in Product.objects.bulk_create(
                Product(name=f"Redeem {tag} {t}", points_price=POINTS_PRICE, stock=0)
                for t in range(threads))]
            pairs = create_accounts(cursor, f"rb-{tag}-", threads * members_per_thread)
            add_spend_lots(cursor, [account for _member, account in pairs])
            ids = [member for member, _account in pairs]
            run = Run(side, rnd, threads, redemptions, products,
                      [ids[t * members_per_thread:(t + 1) * members_per_thread] for t in range(threads)])
            # Each product holds exactly its thread's share: unused stock would fail the check.
            for t, product in enumerate(products):
                cursor.execute("UPDATE catalog_product SET stock = %s WHERE id = %s",
                               [run.share(t) + WARMUP_PER_THREAD, product])
            runs.append(run)
    # Members who joined long ago: a new member's first redemption would be free (the welcome
    # offer, catalog.pricing), and a redemption without a spend is not what is timed.
    cursor.execute("UPDATE mall_member SET date_joined = now() - interval '1 year' "
                   "WHERE username LIKE 'rb-%%'")
    cursor.execute("ANALYZE")
    return runs


# --------------------------------------------------------------------------- service side


def service_worker(run: Run, thread: int, barrier, ends) -> None:
    from django.db import connection

    from catalog import services
    from catalog.models import Product
    from mall.models import Member

    try:
        product = Product.objects.get(pk=run.products[thread])
        found = Member.objects.in_bulk(run.members[thread])
        warm, *timed = (found[pk] for pk in run.members[thread])
        for i in range(WARMUP_PER_THREAD):
            services.redeem(warm, product, key=run.key(thread, "w", i))
        barrier.wait()
        for i in range(run.share(thread)):
            services.redeem(timed[i // PER_MEMBER], product, key=run.key(thread, "t", i))
        ends[thread] = time.perf_counter()
    finally:
        connection.close()


# --------------------------------------------------------------------------- plain SQL side

STOCK_UPDATE = (
    "UPDATE catalog_product SET stock = stock - %s, sold = sold + %s WHERE id = %s AND stock >= %s "
    "RETURNING stock, nextval(pg_get_serial_sequence('catalog_redemption', 'id'))"
)
ACCOUNT_UPDATE = (
    "UPDATE points_account SET available = available - %s, lifetime_spent = lifetime_spent + %s "
    "WHERE member_id = %s AND available >= %s RETURNING id, available + pending + held - debt"
)
REDEMPTION_INSERT = (
    "INSERT INTO catalog_redemption (id, key, member_id, product_id, quantity, points, "
    "welcome_discount, cash, status, address, tracking_number, entry_id, created_at, cancel_reason) "
    "VALUES (%s, %s, %s, %s, %s, %s, 0, 0, 'created', '', '', %s, %s, '')"
)
MOVEMENT_INSERT = (
    "INSERT INTO catalog_stockmovement (product_id, delta, stock_after, reason, redemption_id, "
    "created_at) VALUES (%s, %s, %s, %s, %s, %s)"
)


def _fingerprint(*args) -> str:
    # The same kind of value the ledger stores (sha256 of the caller's arguments).
    return hashlib.sha256(json.dumps(args, default=str, separators=(",", ":")).encode()).hexdigest()


def sql_worker_factory(url: str):
    from django.utils import timezone

    from bench.dbs import connect
    from bench.postings import ENTRY_INSERT, SPEND_LOTS

    def worker(run: Run, thread: int, barrier, ends) -> None:
        conn = connect(url)  # autocommit off: psycopg opens a transaction, we commit it
        product = run.products[thread]
        name = f"Redeem {run.tag} {thread}"
        quantity = 1
        points = POINTS_PRICE * quantity
        try:
            cur = conn.cursor()

            def redeem(member_id, key):
                now = timezone.now()
                cur.execute(STOCK_UPDATE, [quantity, quantity, product, quantity])
                row = cur.fetchone()
                if row is None:
                    raise RuntimeError(f"product {product} ran out of stock in the benchmark")
                stock_after, redemption_id = row
                cur.execute(ACCOUNT_UPDATE, [points, points, member_id, points])
                row = cur.fetchone()
                if row is None:
                    raise RuntimeError(f"member {member_id} ran out of points in the benchmark")
                account_id, total = row
                reference = f"redemption:{redemption_id}"
                cur.execute(ENTRY_INSERT, [
                    account_id, f"redeem:{key}", "spend", -points, total,
                    f"Redeemed {name} × {quantity}", reference,
                    _fingerprint("spend", member_id, -points, reference), "", None, now])
                entry_id = cur.fetchone()[0]
                cur.execute(SPEND_LOTS, [account_id, points, points, account_id, entry_id])
                cur.fetchall()
                cur.execute(REDEMPTION_INSERT, [redemption_id, key, member_id, product, quantity,
                                                points, entry_id, now])
                cur.execute(MOVEMENT_INSERT, [product, -quantity, stock_after,
                                              f"Redemption #{redemption_id}", redemption_id, now])
                conn.commit()

            warm, *timed = run.members[thread]
            for i in range(WARMUP_PER_THREAD):
                redeem(warm, run.key(thread, "w", i))
            barrier.wait()
            for i in range(run.share(thread)):
                redeem(timed[i // PER_MEMBER], run.key(thread, "t", i))
            ends[thread] = time.perf_counter()
        finally:
            conn.close()

    return worker


SQL_STATEMENTS = ["BEGIN", "UPDATE catalog_product", "UPDATE points_account",
                  "INSERT points_entry", "WITH UPDATE points_lot + INSERT points_allocation",
                  "INSERT catalog_redemption", "INSERT catalog_stockmovement", "COMMIT"]


# --------------------------------------------------------------------------- statements


def service_statements(cursor) -> list[str]:
    """The statements one warm service redemption sends (its own product and member)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.bench_referrals import describe
    from bench.postings import add_spend_lots, create_accounts
    from catalog import services
    from catalog.models import Product
    from mall.models import Member
    from points.services import _cursor

    [(member_id, account_id)] = create_accounts(cursor, "rb-count-", 1)
    add_spend_lots(cursor, [account_id])
    cursor.execute("UPDATE mall_member SET date_joined = now() - interval '1 year' WHERE id = %s",
                   [member_id])
    product = Product.objects.create(name="Redeem count", points_price=POINTS_PRICE, stock=5)
    member = Member.objects.get(pk=member_id)
    services.redeem(member, product, key="rb:count:0")
    # The postings run on a psycopg cursor of their own, which Django's query log does not see.
    real_execute = _cursor._PreparedCursor.execute

    def noted_execute(self, sql, params=()):
        connection.queries_log.append({"sql": sql, "time": "0"})
        return real_execute(self, sql, params)

    _cursor._PreparedCursor.execute = noted_execute
    try:
        with CaptureQueriesContext(connection) as captured:
            services.redeem(member, product, key="rb:count:1")
    finally:
        _cursor._PreparedCursor.execute = real_execute
    return [describe(query["sql"]) for query in captured.captured_queries]


# --------------------------------------------------------------------------- checks

CHECK = """
SELECT count(*),
       count(*) FILTER (WHERE e.id IS NULL OR e.delta <> -r.points OR e.key <> 'redeem:' || r.key
                          OR a.member_id <> r.member_id),
       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM catalog_stockmovement m
                                          WHERE m.redemption_id = r.id AND m.delta = -r.quantity))
FROM catalog_redemption r LEFT JOIN points_entry e ON e.id = r.entry_id
LEFT JOIN points_account a ON a.id = e.account_id
WHERE r.key LIKE %s
"""

LEDGER_CHECK = """
SELECT count(*) FILTER (WHERE a.available <> COALESCE(l.available, 0)
                          OR a.available + a.pending + a.held - a.debt <> COALESCE(e.total, 0)
                          OR a.lifetime_spent <> COALESCE(e.spent, 0))
FROM points_account a
LEFT JOIN (SELECT account_id, SUM(remaining) AS available FROM points_lot GROUP BY account_id) l
    ON l.account_id = a.id
LEFT JOIN (SELECT account_id, SUM(delta) AS total, -SUM(delta) FILTER (WHERE kind = 'spend') AS spent
           FROM points_entry GROUP BY account_id) e ON e.account_id = a.id
"""


def check(cursor, runs: list[Run]) -> None:
    """Both sides wrote the same thing: all stock sold, each redemption with its entry and its
    stock movement, and every account's totals matching its lots and entries."""
    for run in runs:
        expected = run.redemptions + run.threads * WARMUP_PER_THREAD
        cursor.execute("SELECT sum(stock), sum(sold) FROM catalog_product WHERE id = ANY(%s)",
                       [run.products])
        left, sold = cursor.fetchone()
        cursor.execute(CHECK, [f"rb:{run.tag}:%"])
        count, bad_entry, no_movement = cursor.fetchone()
        if (left, sold, count, bad_entry, no_movement) != (0, expected, expected, 0, 0):
            raise AssertionError(
                f"{run.tag}: stock left {left}, sold {sold}, {count} redemptions (expected "
                f"{expected}), {bad_entry} without their entry, {no_movement} without a movement")
    cursor.execute(LEDGER_CHECK)
    broken = cursor.fetchone()[0]
    if broken:
        raise AssertionError(f"{broken} accounts break the ledger invariants")


# --------------------------------------------------------------------------- run


def run(*, redemptions: int = 2000, rounds: int = 5, threads: int = 8, keep: bool = False,
        verbose: bool = False, statements: bool = False) -> dict:
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("redeem", keep=keep) as server:
        from django.conf import settings
        from django.db import connection

        from bench.postings import run_threads

        with connection.cursor() as cursor:
            runs = plan_runs(cursor, redemptions=redemptions, threads=threads, rounds=rounds)
        # DEBUG=1 only supplies development secrets; its query log is not part of the work.
        settings.DEBUG = False
        connection.close()
        server.checkpoint()
        workers = {"service": service_worker, "sql": sql_worker_factory(connection_url())}
        for r in runs:
            r.seconds = run_threads(r, workers[r.side])
            if verbose:
                say(f"        round {r.round} {r.side:<7} {r.redemptions} redemptions in "
                    f"{r.seconds:.2f}s = {r.rate:.0f}/s")
        with connection.cursor() as cursor:
            check(cursor, runs)
        rate = {side: statistics.median(r.rate for r in runs if r.side == side) for side in SIDES}
        per_round = [next(r for r in runs if r.round == n and r.side == "service").rate
                     / next(r for r in runs if r.round == n and r.side == "sql").rate
                     for n in range(rounds)]
        ratio = statistics.median(per_round)
        if verbose and rounds > 1:
            say(f"        ratio per round {', '.join(f'{x:.2f}' for x in per_round)}")
        listed = []
        if statements:
            with connection.cursor() as cursor:
                listed = service_statements(cursor)
        verdict = "" if ratio >= GOAL else "   MISSED"
        say(f"redeem  service {rate['service']:6.0f}/s   sql {rate['sql']:6.0f}/s   ratio {ratio:4.2f}   "
            f"(goal >= {GOAL:.2f})   [{threads} threads, {redemptions} x {rounds} rounds per side, "
            f"median; stock, redemptions and ledger checked]{verdict}")
        if listed:
            say(f"        statements per redemption: service {len(listed)}, sql {len(SQL_STATEMENTS)}")
            for n, text in enumerate(listed, 1):
                say(f"          {n:>2}. {text}")
            say(f"        sql: {', '.join(SQL_STATEMENTS)}")
        return {"service": rate["service"], "sql": rate["sql"], "ratio": ratio,
                "per_round": per_round, "statements": listed}


def connection_url() -> str:
    import os

    return os.environ["DATABASE_URL"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redemptions", type=int, default=2000,
                        help="timed redemptions per side per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, sides alternating first (default 5)")
    parser.add_argument("--threads", type=int, default=8, help="threads per side (default 8)")
    parser.add_argument("--statements", action="store_true",
                        help="list the statements one service redemption sends")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round")
    args = parser.parse_args(argv)
    if args.redemptions < args.threads or args.threads < 1 or args.rounds < 1:
        parser.error("--redemptions must be >= --threads >= 1, --rounds >= 1")
    run(redemptions=args.redemptions, rounds=args.rounds, threads=args.threads, keep=args.keep,
        verbose=args.verbose, statements=args.statements)
    return 0


if __name__ == "__main__":
    sys.exit(main())
