"""Earn and spend through the services on the partitioned ledger against the same on plain
tables (issue 17: partitioned ÷ unpartitioned >= 0.9).

    DEBUG=1 .venv/bin/python bench/bench_partitions.py                       # 4,000 postings, 5 rounds
    DEBUG=1 .venv/bin/python bench/bench_partitions.py --postings 800 --rounds 3

Everything happens in ``<name>_bench_partitions`` (migrated: the ledger hash-partitioned into 16
partitions per table) and ``<name>_bench_partitions_plain``, a copy of it made after the
background rows are in, whose six ledger tables are then rebuilt as plain tables with the same
keys, indexes, foreign keys and trigger (``ledger_sql(partitioned=False)`` of points migration
0013): the only difference between the two is the partitioning. Both are dropped at the end
unless ``--keep``.

Both hold ``--accounts`` background accounts with five lots each (set-based, not timed). Each
round, each schema gets its own fresh accounts and runs ``--postings`` earns (or spends) through
``points.services`` at ``--threads`` threads (``bench.postings.service_worker``: each thread its
own accounts, a warm-up, then a barrier); the schemas alternate which goes first. The ratio is the
partitioned rate over the plain rate, the median of the rounds'. Every run's accounts are checked
against their lots and entries afterwards.
"""

from __future__ import annotations

import argparse
import importlib
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL = 0.9


def say(text: str) -> None:
    print(text, flush=True)


def plan(cursor, kind: str, label: str, *, rounds: int, postings: int, threads: int):
    """Fresh accounts for every round of ``kind`` on one schema (as ``bench.postings.plan_runs``
    gives one side)."""
    from bench.postings import MAX_SPENDS_PER_ACCOUNT, Run, add_spend_lots, create_accounts

    warmup = max(5, postings // threads // 10)
    per_thread = math.ceil(postings / threads)
    if kind == "spend":
        timed_members = math.ceil(per_thread / MAX_SPENDS_PER_ACCOUNT)
        warm_members = math.ceil(warmup / MAX_SPENDS_PER_ACCOUNT)
    else:
        timed_members, warm_members = 50, 5
    runs = []
    for number in range(rounds):
        run = Run(kind, label, number, postings, warmup, threads)
        each = timed_members + warm_members
        pairs = create_accounts(cursor, f"part-{kind}-{label}-{number}-", threads * each)
        for thread in range(threads):
            chunk = pairs[thread * each:(thread + 1) * each]
            run.timed.append(chunk[:timed_members])
            run.warm.append(chunk[timed_members:])
        if kind == "spend":
            add_spend_lots(cursor, run.all_accounts())
        runs.append(run)
    return runs


def use_database(name: str) -> None:
    """Point Django's default connection (and every thread's new one) at database ``name``."""
    from django.db import connections

    connections.close_all()
    connections.settings["default"]["NAME"] = name


def background(cursor, accounts: int) -> None:
    from bench.postings import add_spend_lots, create_accounts

    pairs = create_accounts(cursor, "part-bg-", accounts)
    add_spend_lots(cursor, [account for _member, account in pairs])
    cursor.execute("ANALYZE")


def run(*, postings: int = 4000, rounds: int = 5, threads: int = 8, accounts: int = 10_000,
        kinds=("earn", "spend"), keep: bool = False, verbose: bool = False) -> dict:
    from bench.dbs import connect, django_on_bench_database, with_name

    with django_on_bench_database("partitions", keep=keep) as server:
        from django.conf import settings
        from django.db import connection

        from bench.postings import check_run, run_threads, service_worker

        settings.DEBUG = False  # DEBUG=1 supplies development secrets; its query log is not work
        partitioned = connection.settings_dict["NAME"]
        plain = f"{partitioned}_plain"[:63]
        with connection.cursor() as cursor:
            background(cursor, accounts)
        use_database(partitioned)
        connection.close()
        server.create(plain, template=partitioned)
        migration = importlib.import_module("points.migrations.0013_partition_ledger")
        with connect(with_name(server.url, plain)) as conn:
            conn.execute(migration.ledger_sql(partitioned=False))
            conn.execute("ANALYZE")
            conn.commit()
            kinds_of = dict(conn.execute("SELECT relname, relkind FROM pg_class WHERE relname = ANY(%s)",
                                         [list(migration.TABLES)]).fetchall())
        if set(kinds_of.values()) != {"r"}:
            raise AssertionError(f"the plain copy is not plain: {kinds_of}")

        runs = {}
        for label, name in (("partitioned", partitioned), ("plain", plain)):
            use_database(name)
            with connection.cursor() as cursor:
                for kind in kinds:
                    runs[kind, label] = plan(cursor, kind, label, rounds=rounds, postings=postings,
                                             threads=threads)
                cursor.execute("ANALYZE")
        server.checkpoint()
        results = {}
        for kind in kinds:
            ratios, rates = [], {"partitioned": [], "plain": []}
            for number in range(rounds):
                order = ["partitioned", "plain"] if number % 2 == 0 else ["plain", "partitioned"]
                for label in order:
                    use_database(partitioned if label == "partitioned" else plain)
                    one = runs[kind, label][number]
                    one.seconds = run_threads(one, service_worker)
                    rates[label].append(one.rate)
                ratios.append(rates["partitioned"][-1] / rates["plain"][-1])
                if verbose:
                    say(f"        {kind} round {number}: partitioned {rates['partitioned'][-1]:.0f}/s, "
                        f"plain {rates['plain'][-1]:.0f}/s, ratio {ratios[-1]:.2f}")
            for label in ("partitioned", "plain"):
                use_database(partitioned if label == "partitioned" else plain)
                with connection.cursor() as cursor:
                    for one in runs[kind, label]:
                        check_run(cursor, one)
            ratio = statistics.median(ratios)
            met = ratio >= GOAL
            say(f"part-{kind:<5} partitioned {statistics.median(rates['partitioned']):7.0f}/s   "
                f"unpartitioned {statistics.median(rates['plain']):7.0f}/s   "
                f"partitioned ÷ unpartitioned {ratio:4.2f}   (goal >= {GOAL}, median of {rounds}, "
                f"{threads} threads){'' if met else '   MISSED'}")
            results[kind] = {"ratio": ratio, "rounds": ratios, "met": met}
        use_database(partitioned)
        return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=4000, help="postings per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=10_000,
                        help="background accounts (five lots each) in both schemas")
    parser.add_argument("--only", choices=["earn", "spend"], action="append")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases afterwards")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round")
    args = parser.parse_args(argv)
    if args.postings < args.threads or args.rounds < 1:
        parser.error("--postings must be >= --threads, --rounds >= 1")
    run(postings=args.postings, rounds=args.rounds, threads=args.threads, accounts=args.accounts,
        kinds=tuple(args.only or ("earn", "spend")), keep=args.keep, verbose=args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
