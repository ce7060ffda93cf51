"""Service layer against plain SQL doing the same writes, printed as ratios (DESIGN.md section 5).

    make bench                              # full run, about 5-10 minutes on 2 cores
    make bench BENCH_ARGS=--quick           # sanity run, about a minute
    .venv/bin/python bench/run.py --help

Uses DATABASE_URL's server (or the embedded PostgreSQL when it is unset) but never its database:
everything happens in ``<name>_bench`` and copies of it, dropped and recreated on each run. Exits
non-zero only on errors; a missed goal is printed as MISSED. See bench/README.md.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=4000,
                        help="postings per side per round for earn and spend (default 4000)")
    parser.add_argument("--lots", type=int, default=1_000_000,
                        help="due lots for expire_due, 10 per account (default 1,000,000)")
    parser.add_argument("--threads", type=int, default=8, help="threads per side (default 8)")
    parser.add_argument("--rounds", type=int, default=7,
                        help="rounds of earn and spend, sides alternating first; the ratio printed "
                             "is the median of the rounds' ratios (default 7)")
    parser.add_argument("--expire-rounds", type=int, default=2,
                        help="rounds of expire, sides alternating first (default 2)")
    parser.add_argument("--only", choices=["earn", "spend", "expire", *EXTRA_BENCHES], action="append",
                        help="run only these comparisons (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="sanity run: --scale 1000 --lots 100000 --rounds 3 --expire-rounds 1")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases afterwards")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round")
    parser.add_argument("--expire-child", metavar="NOW", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        # Three rounds of earn and spend even so: a median of one round is just that round.
        args.scale, args.lots, args.rounds, args.expire_rounds = 1000, 100_000, 3, 1
    if args.scale < args.threads or args.lots < 10 or args.rounds < 1 or args.expire_rounds < 1:
        parser.error("--scale must be >= --threads, --lots >= 10, rounds >= 1")
    return args


def line(name, service, sql, ratio, goal, met, extra=""):
    verdict = "" if met else "   MISSED"
    print(f"{name:<7} service {service:>9}   sql {sql:>9}   ratio {ratio:4.2f}   ({goal}){verdict}{extra}",
          flush=True)


def say(text):
    print(text, flush=True)


def mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MB"


# --------------------------------------------------------------------------- earn / spend

# Issue 17: the service's postings at >= 0.7 of the same writes as plain SQL (DESIGN.md 5 had 0.6).
POSTING_GOAL = 0.70


def bench_postings(args, kind: str, bench_url: str) -> None:
    from django.db import connection

    from bench import postings

    with connection.cursor() as cursor:
        runs = postings.plan_runs(cursor, kind, postings=args.scale, threads=args.threads,
                                  rounds=args.rounds)
        cursor.execute("ANALYZE mall_member, points_account, points_entry, points_lot")
    connection.close()
    sql_worker = postings.sql_worker_factory(bench_url)
    for run in runs:
        worker = postings.service_worker if run.side == "service" else sql_worker
        run.seconds = postings.run_threads(run, worker)
        if args.verbose:
            say(f"        round {run.round} {run.side:<7} {run.postings} postings in "
                f"{run.seconds:.2f}s = {run.rate:.0f}/s")
    # Both sides made the same postings: same resulting balances and entry counts, per round.
    with connection.cursor() as cursor:
        for rnd in range(args.rounds):
            pair = [run for run in runs if run.round == rnd]
            results = {run.side: postings.check_run(cursor, run) for run in pair}
            if results["service"] != results["sql"]:
                raise AssertionError(f"{kind} round {rnd}: the sides wrote different results "
                                     f"(service {results['service']}, sql {results['sql']})")
    connection.close()
    # The machine is shared and noisy: one round can be slowed by something else running. Each
    # round's two sides run back to back (alternating which goes first), so the ratio of a round
    # is the fair comparison; the line reports the median of those, with their range.
    rates = {side: [next(r for r in runs if r.round == n and r.side == side).rate
                    for n in range(args.rounds)] for side in ("service", "sql")}
    per_round = [service / sql for service, sql in zip(rates["service"], rates["sql"], strict=True)]
    ratio = statistics.median(per_round)
    if args.verbose and args.rounds > 1:
        say(f"        ratio per round {', '.join(f'{x:.2f}' for x in per_round)}")
    if args.verbose:
        service = postings.service_statements(kind)
        sql = postings.SQL_STATEMENTS[kind]
        say(f"        statements per posting: service {len(service)} ({' '.join(service)}), "
            f"sql {len(sql)} ({' '.join(sql)})")
        connection.close()
    line(kind, f"{statistics.median(rates['service']):.0f}/s",
         f"{statistics.median(rates['sql']):.0f}/s", ratio, f"goal >= {POSTING_GOAL:.2f}",
         ratio >= POSTING_GOAL,
         f"   [median of {args.rounds} rounds, ratios {min(per_round):.2f}-{max(per_round):.2f}]")


# --------------------------------------------------------------------------- expire


def bench_expire(args, server, empty_template: str, base: str) -> None:
    from django.utils import timezone

    from bench import expiry

    small_lots = max(10, args.lots // 5)
    started = time.perf_counter()
    source = server.create(f"{base}_x_src", template=empty_template)
    expiry.fill(source, args.lots)
    small = server.create(f"{base}_x_small", template=empty_template)
    expiry.fill(small, small_lots)
    if args.verbose:
        say(f"        expire: generated {args.lots:,} + {small_lots:,} lots in "
            f"{time.perf_counter() - started:.0f}s")

    # Peak RSS of the service at a fifth of the lots (its time is not part of the comparison).
    server.checkpoint()
    small_report = expiry.run_service(small, timezone.now())

    service_times, sql_times, big_reports = [], [], []
    for rnd in range(args.expire_rounds):
        now = timezone.now() + timedelta(seconds=rnd)
        copies = {side: server.create(f"{base}_x_{side}", template=f"{base}_x_src")
                  for side in ("service", "sql")}
        order = ("service", "sql") if rnd % 2 == 0 else ("sql", "service")
        results = {}
        for side in order:
            server.checkpoint()
            if side == "service":
                report = expiry.run_service(copies[side], now)
                big_reports.append(report)
                results[side] = (report["seconds"], report["points"])
            else:
                results[side] = expiry.run_sql(copies[side], now)
        if results["service"][1] != results["sql"][1] or \
                expiry.state(copies["service"]) != expiry.state(copies["sql"]):
            raise AssertionError(f"expire round {rnd}: the sides wrote different results: "
                                 f"{expiry.state(copies['service'])} vs {expiry.state(copies['sql'])}")
        service_times.append(results["service"][0])
        sql_times.append(results["sql"][0])
        if args.verbose:
            say(f"        round {rnd} ({' first, '.join(order)} second): service "
                f"{results['service'][0]:.2f}s, sql {results['sql'][0]:.2f}s, "
                f"{results['sql'][1]:,} points expired")
        for name in copies.values():
            server.drop(name)

    service_s, sql_s = sum(service_times), sum(sql_times)
    ratio = service_s / sql_s
    runs = len(service_times)
    line("expire", f"{service_s / runs:.2f}s", f"{sql_s / runs:.2f}s", ratio, "goal <= 2.00",
         ratio <= 2.0, f"   [{args.lots:,} lots, {args.lots // 10:,} accounts]")

    def growth(report):
        return report["peak_growth_kb"]

    small_growth = growth(small_report)
    big = max(big_reports, key=growth)
    big_growth = growth(big)
    # Bounded: at five times the lots the peak may not grow by more than noise (16 MB).
    bounded = big_growth <= small_growth + 16 * 1024
    verdict = "" if bounded else "   MISSED"
    say(f"memory  peak RSS growth in expire_due: +{mib(small_growth)} at {small_lots:,} lots, "
        f"+{mib(big_growth)} at {args.lots:,} lots (ru_maxrss {mib(big['maxrss_after_kb'])})   "
        f"(goal: no growth with lots){verdict}")


# --------------------------------------------------------------------------- main


# Benches with a database and Django set-up of their own: run as child processes, each printing
# its own lines (script, arguments for the full run, arguments for --quick).
EXTRA_BENCHES = {
    "simulate": ("bench/bench_simulation.py", [], ["--scale", "20000", "--rounds", "1"]),
    "catalog": ("bench/bench_catalog.py", [], ["--scale", "400", "--seconds", "1"]),
    "redeem": ("bench/bench_redemption.py", [], ["--redemptions", "400", "--rounds", "3"]),
    "hook": ("bench/bench_hook.py", [], ["--orders", "320", "--rounds", "1"]),
    "referral": ("bench/bench_referrals.py", [], ["--orders", "200", "--rounds", "1"]),
    "grants": ("bench/bench_grants.py", [], ["--members", "10000", "--rounds", "1"]),
    "reconcile": ("bench/bench_reconcile.py", [], ["--accounts", "20000", "--rounds", "1"]),
    "auction": ("bench/bench_auctions.py", [], ["--quick"]),
    "lottery": ("bench/bench_lottery.py", [], ["--draws", "400"]),
    "reports": ("bench/bench_reports.py", [], ["--accounts", "20000", "--rounds", "1"]),
    # Stock-out days and average stock: the replenishment forecast against a fixed reorder point.
    "replenish": ("bench/bench_replenishment.py", [], ["--seed", "15"]),
    "rfm": ("bench/bench_rfm.py", [], ["--members", "20000", "--rounds", "1"]),
    # Our plain earn and spend against django-hordak's transfers (own process, database, settings).
    "peer": ("bench/bench_hordak.py", ["--part", "postings"], ["--part", "postings", "--quick"]),
    # One account's balance at 10,000 / 100,000 / 1,000,000 lots, ours and hordak's.
    "balance": ("bench/bench_hordak.py", ["--part", "balance"],
                ["--part", "balance", "--lots", "10000,100000", "--reads", "15"]),
    # Earn and spend on the partitioned ledger against the same on plain tables.
    "partitions": ("bench/bench_partitions.py", [], ["--postings", "800", "--rounds", "3"]),
    # Hit-rate@10 and coverage against a popularity baseline, then the nightly job at scale.
    "recommend": ("manage.py", ["evaluate_recommendations"],
                  ["evaluate_recommendations", "--members", "1000", "--sample", "500",
                   "--scale-members", "10000", "--scale-products", "300", "--redemptions",
                   "100000", "--orders", "20000"]),
}


def run_extra_benches(args, env) -> None:
    for name, (script, full, quick) in EXTRA_BENCHES.items():
        if args.only and name not in args.only:
            continue
        if not (ROOT / script).exists():
            say(f"{name:<7} skipped: {script} is missing")
            continue
        result = subprocess.run([sys.executable, script, *(quick if args.quick else full)],
                                cwd=ROOT, env=env)
        if result.returncode:
            raise SystemExit(f"{script} failed with exit status {result.returncode}")


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    os.environ.setdefault("DEBUG", "1")
    if args.expire_child:
        from bench.expiry import child_main

        child_main(args.expire_child)
        return 0

    from mall.embedded import ensure_database

    embedded = not os.environ.get("DATABASE_URL")
    ensure_database()
    from bench.dbs import Server, url_name

    dev_url = os.environ["DATABASE_URL"]
    child_env = dict(os.environ)
    base = f"{url_name(dev_url)}_bench"[:40]
    server = Server(dev_url)
    started = time.perf_counter()
    try:
        bench_url = server.create(base)
        os.environ["DATABASE_URL"] = bench_url
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection, connections

        call_command("migrate", verbosity=0)
        # DEBUG=1 only supplies development secrets; the query log it turns on is not part of
        # the service, so it is off while anything is timed.
        settings.DEBUG = False
        connection.close()
        only = args.only or ["earn", "spend", "expire", *EXTRA_BENCHES]
        empty = None
        if "expire" in only:
            empty = server.create(f"{base}_x_empty", template=base)
            empty = url_name(empty)

        cores = os.cpu_count()
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
        version = server.version
        say(f"bench: {cores} cores ({usable} usable), PostgreSQL {version // 10000}.{version % 10000}"
            f" ({'embedded' if embedded else 'DATABASE_URL'}), database {base}; "
            f"{args.threads} threads, {args.scale} postings x {args.rounds} rounds per side, "
            f"{args.lots:,} lots x {args.expire_rounds} rounds")
        for kind in ("earn", "spend"):
            if kind in only:
                bench_postings(args, kind, bench_url)
        if "expire" in only:
            connections.close_all()
            bench_expire(args, server, empty, base)
        run_extra_benches(args, child_env)
        say(f"done in {time.perf_counter() - started:.0f}s")
        return 0
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        if not args.keep:
            server.drop_all()
        server.close()


if __name__ == "__main__":
    sys.exit(main())
