"""Catalog list reads per second, cached against uncached, and redemption throughput (issue 4).

    DEBUG=1 .venv/bin/python bench/bench_catalog.py                    # cache from REDIS_URL or locmem
    REDIS_URL=redis://127.0.0.1:6379/14 DEBUG=1 .venv/bin/python bench/bench_catalog.py --seconds 3

Like bench/run.py it uses DATABASE_URL's server (or the embedded PostgreSQL when it is unset) but
never its database: everything happens in ``<name>_bench_cat``, dropped and recreated on each run
and dropped at the end unless ``--keep``. Redis (when configured) is not flushed: the run starts by
bumping the catalog version, which makes every older entry unreachable.

Reads: ``catalog.selectors.product_list`` over a fixed mix of 48 queries (12 category filters x
2 pages x 2 orderings) on ``--products`` products in a two-level category tree, each thread
cycling through the mix from its own offset, for ``--seconds`` per measurement:

* ``cached``: the real selector, both levels warm (what a hot page costs);
* ``shared``: the local level off, so every read is a round trip to the shared cache (Redis or
  locmem) — what a process that has just started, or whose local copy expired, pays;
* ``uncached``: the selector's database loader called directly (3 queries: count, page, next
  sale-window boundary).

Redemptions: ``--threads`` threads, each on its own product and its own members (so they queue
on no common row), ``--scale`` redemptions in all, timed from a barrier to the last thread's
finish, after a few warm-up redemptions per thread; then stock, redemptions and the ledger are
checked. ``run(scale)`` is importable but sets Django up on the bench database, so call it in a
process where Django is not set up yet.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POINTS_PRICE = 10  # each bench member holds 500 points (bench.postings.add_spend_lots): 50 redemptions
REDEMPTIONS_PER_MEMBER = 40
WARMUP_PER_THREAD = 5


def say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- data


def _fill_catalog(products: int) -> list[int]:
    """A two-level tree (4 parents x 2 children) and ``products`` products spread over it (about
    one in ten inactive, one in ten outside its sale window). Returns the category ids."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from catalog.models import Category, Product, ProductKind

    parents = Category.objects.bulk_create(Category(name=f"Cat {n}", sort_order=n) for n in range(4))
    children = Category.objects.bulk_create(
        Category(name=f"Cat {p.sort_order}.{n}", parent=p, sort_order=n) for p in parents for n in range(2)
    )
    leaves = children
    now = timezone.now()
    rows = []
    for n in range(products):
        rows.append(Product(
            name=f"Product {n}", description=f"Bench product number {n}, a fine thing to redeem.",
            kind=ProductKind.PHYSICAL if n % 5 else ProductKind.PRIVILEGE,
            category=leaves[n % len(leaves)] if n % 7 else None,
            points_price=10 + (n * 37) % 990, cash_price=Decimal(n % 3),
            stock=100 + n % 50, sold=n % 40, active=n % 10 != 3,
            sale_starts_at=now + timedelta(days=3) if n % 10 == 7 else None,
            sale_ends_at=now + timedelta(days=30 + n % 60) if n % 4 == 0 else None,
            sort_order=n % 13, visible_tiers=["gold"] if n % 11 == 0 else [],
        ))
    Product.objects.bulk_create(rows, batch_size=1000)
    return [c.pk for c in parents + children]


def _queries(category_ids: list[int]) -> list[dict]:
    queries = []
    for category in [None, "search", *category_ids][:12]:
        for page in (1, 2):
            for ordering in ("default", "points"):
                query = {"page": page, "ordering": ordering}
                if category == "search":
                    query["search"] = "product 1"
                elif category is not None:
                    query["category"] = category
                queries.append(query)
    return queries


def _fill_redeemers(threads: int, per_thread: int) -> tuple[list[int], list[list[int]]]:
    """One product per thread (stock for everything) and enough funded members per thread."""
    from django.db import connection

    from bench.postings import add_spend_lots, create_accounts
    from catalog.models import Product

    products = Product.objects.bulk_create(
        Product(name=f"Redeem {t}", points_price=POINTS_PRICE, stock=per_thread + WARMUP_PER_THREAD)
        for t in range(threads)
    )
    members_per_thread = -(-(per_thread + WARMUP_PER_THREAD) // REDEMPTIONS_PER_MEMBER)
    with connection.cursor() as cursor:
        pairs = create_accounts(cursor, "bench-redeem-", threads * members_per_thread)
        add_spend_lots(cursor, [account for _member, account in pairs])
        # Members who joined long ago: a new member's first redemption would be free (the
        # welcome offer, catalog.pricing), and a redemption without a spend is not what is timed.
        cursor.execute("UPDATE mall_member SET date_joined = now() - interval '1 year' "
                       "WHERE id = ANY(%s)", [[member for member, _account in pairs]])
        cursor.execute("ANALYZE")
    members = [member for member, _account in pairs]
    per = [members[t * members_per_thread:(t + 1) * members_per_thread] for t in range(threads)]
    return [p.pk for p in products], per


# --------------------------------------------------------------------------- reads


def _uncached_mode():
    """Make ``catalog.cache.cached`` call the loader directly (the selector's own database work)."""
    from contextlib import contextmanager

    from catalog import cache

    @contextmanager
    def mode():
        real = cache.cached
        cache.cached = lambda kind, params, load, local=True: load()[0]
        try:
            yield
        finally:
            cache.cached = real

    return mode()


def _read_rate(queries: list[dict], threads: int, seconds: float) -> float:
    from django.db import connection

    from catalog import selectors

    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()
    failures: list[BaseException] = []

    def worker(t):
        try:
            for query in queries:  # warm this thread's connection (and the cache)
                selectors.product_list(**query)
            barrier.wait()
            n, i = 0, t * 7
            while not stop.is_set():
                selectors.product_list(**queries[i % len(queries)])
                i += 1
                n += 1
            counts[t] = n
        except BaseException as exc:  # noqa: B036 - reported by the main thread
            failures.append(exc)
            barrier.abort()
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return sum(counts) / elapsed


def bench_reads(queries, *, threads: int, seconds: float) -> dict:
    from catalog import cache

    rates = {}
    for count in (1, threads):
        cache.invalidate()
        rates[("cached", count)] = _read_rate(queries, count, seconds)
        local_ttl = cache.LOCAL_TTL
        cache.LOCAL_TTL = 0
        try:
            rates[("shared", count)] = _read_rate(queries, count, seconds)
        finally:
            cache.LOCAL_TTL = local_ttl
        with _uncached_mode():
            rates[("uncached", count)] = _read_rate(queries, count, seconds)
    return rates


# --------------------------------------------------------------------------- redemptions


def bench_redeem(product_ids, members, *, scale: int, threads: int) -> float:
    from django.db import connection

    from bench.postings import timed_threads
    from catalog import services
    from catalog.models import Product
    from mall.models import Member

    shares = [scale // threads + (1 if t < scale % threads else 0) for t in range(threads)]

    def worker(t, barrier, ends):
        try:
            product = Product.objects.get(pk=product_ids[t])
            mine = list(Member.objects.filter(pk__in=members[t]).order_by("pk"))

            def redeem(i, phase):
                member = mine[i // REDEMPTIONS_PER_MEMBER]
                services.redeem(member, product, key=f"bench:{t}:{phase}:{i}")

            for i in range(WARMUP_PER_THREAD):
                redeem(i, "w")
            barrier.wait()
            for i in range(WARMUP_PER_THREAD, WARMUP_PER_THREAD + shares[t]):
                redeem(i, "t")
            ends[t] = time.perf_counter()
        finally:
            connection.close()

    return scale / timed_threads(threads, worker, name="redeem")


def check_redemptions(product_ids, *, scale: int, threads: int) -> None:
    from django.db import connection

    from catalog.models import Product, Redemption

    total = scale + threads * WARMUP_PER_THREAD
    redeemed = Redemption.objects.filter(product_id__in=product_ids).count()
    left = sum(Product.objects.filter(pk__in=product_ids).values_list("stock", flat=True))
    sold = sum(Product.objects.filter(pk__in=product_ids).values_list("sold", flat=True))
    if (redeemed, left, sold) != (total, 0, total):
        raise AssertionError(f"redemptions {redeemed}, stock left {left}, sold {sold}; expected "
                             f"{total}, 0, {total}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM points_account a LEFT JOIN (SELECT account_id, sum(remaining) s "
            "FROM points_lot GROUP BY account_id) l ON l.account_id = a.id "
            "WHERE a.available <> COALESCE(l.s, 0)"
        )
        if cursor.fetchone()[0]:
            raise AssertionError("ledger totals and lots disagree after the redemptions")


# --------------------------------------------------------------------------- main


def run(scale: int = 2000, *, threads: int = 8, products: int = 500, seconds: float = 2.0,
        keep: bool = False) -> dict:
    """Build the bench database, measure, print the lines and return the figures."""
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("cat", keep=keep) as server:
        from django.conf import settings
        from django.db import connection

        category_ids = _fill_catalog(products)
        queries = _queries(category_ids)
        product_ids, members = _fill_redeemers(threads, -(-scale // threads))
        connection.close()
        # DEBUG=1 only supplies development secrets; its query log is not part of the work.
        settings.DEBUG = False
        backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
        version = server.version
        say(f"bench catalog: {os.cpu_count()} cores, PostgreSQL {version // 10000}.{version % 10000}, "
            f"cache {backend}; {products} products, {len(queries)} list queries, {seconds:g}s per "
            f"read measurement; {scale} redemptions on {threads} threads")

        rates = bench_reads(queries, threads=threads, seconds=seconds)
        for count in (1, threads):
            cached, shared, uncached = (rates[(kind, count)] for kind in ("cached", "shared", "uncached"))
            label = "1 thread " if count == 1 else f"{count} threads"
            say(f"catalog list  {label}  cached {cached:.0f}/s  uncached {uncached:.0f}/s  "
                f"ratio {cached / uncached:.1f}   (shared level only {shared:.0f}/s, "
                f"ratio {shared / uncached:.1f})")
        redeem_rate = bench_redeem(product_ids, members, scale=scale, threads=threads)
        check_redemptions(product_ids, scale=scale, threads=threads)
        say(f"redeem  {threads} threads  {redeem_rate:.0f}/s   [{scale} redemptions, distinct "
            f"products and members, checked]")
        return {"reads": {f"{kind}:{count}": rate for (kind, count), rate in rates.items()},
                "redeem": redeem_rate}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=2000, help="redemptions in all (default 2000)")
    parser.add_argument("--threads", type=int, default=8, help="threads (default 8)")
    parser.add_argument("--products", type=int, default=500, help="catalog size (default 500)")
    parser.add_argument("--seconds", type=float, default=2.0, help="per read measurement (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args(argv)
    if args.scale < args.threads or args.threads < 1 or args.products < 1 or args.seconds <= 0:
        parser.error("--scale must be >= --threads >= 1; --products and --seconds positive")
    run(args.scale, threads=args.threads, products=args.products, seconds=args.seconds, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
