"""The shop's order hook end to end: signed HTTP through gunicorn, against the same postings made
in-process through the service (issue 17).

    DEBUG=1 .venv/bin/python bench/bench_hook.py                      # 16 clients, 1000 orders x 3 rounds
    DEBUG=1 .venv/bin/python bench/bench_hook.py --orders 400 --rounds 1 -v

Like bench/run.py it uses DATABASE_URL's server (or the embedded PostgreSQL when it is unset) but
never its database: everything happens in ``<name>_bench_hook``, dropped and recreated on each run
and dropped at the end unless ``--keep``. Redis is REDIS_URL's, as for the app (none: local memory).

The app runs under gunicorn (``--workers`` processes x ``--threads`` threads, on a free port) with
production settings: DEBUG off, a SECRET_KEY, HOOKS_SECRET, FIELD_ENCRYPTION_KEYS and blind-index
key of the bench's own, ALLOWED_HOSTS 127.0.0.1 and one proxy of ours in front
(``API_NUM_PROXIES=1``: the clients send ``X-Forwarded-Proto: https`` as the TLS-terminating proxy
would, so the https redirect lets them through). ``DB_CONN_MAX_AGE`` is the app's default unless
``--conn-max-age`` (or the environment) sets it.

Every order is a distinct ``order.paid`` of a distinct member (made set-based beforehand, each with
an ``external_id`` and an empty account; 100.00 yuan in two lines, paid a minute ago): the
published rules are evaluated and the points credited as a pending lot, with the referral step
(these members have no inviter). Two sides per round, the order of the sides alternating:

* ``hook``: ``--clients`` threads, each with its own keep-alive ``httpx`` connection, POST the
  orders to ``/api/v1/hooks/orders/`` one after the other, each body signed with
  ``mall.signing.sign`` (the HMAC the shop sends, with the server's HOOKS_SECRET) at the current
  timestamp. The server verifies the signature, parses and validates the body, stores the event
  (``mall.services.hook_events.apply_once``), calls the service and answers with the points.
* ``in-process``: as many threads calling ``referrals.services.orders.record_paid_order`` (what
  the hook's view calls) with the same kind of orders, each on its own Django connection.

Each thread warms up on orders of its own first, then all start together; the time is from the
start to the last thread's finish (``bench.postings.timed_threads``). Latency is per request as
the client sees it. Printed: the median of the rounds' rates, the percentiles over every timed
request, and the median of the rounds' ratios (hook ÷ in-process). Every hook must answer 2xx,
and at the end every order is checked to be stored with its points once: one stored order, one
earn entry per member, one stored event per hook, and every account's totals matching its lots
and entries.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PATH = "/api/v1/hooks/orders/"
WARMUP_PER_THREAD = 5
AMOUNT = Decimal("100.00")
LINES = (
    {"sku": "hook-bench-1", "categories": ["vegetables"], "amount": Decimal("60.00"), "quantity": 1},
    {"sku": "hook-bench-2", "categories": [], "amount": Decimal("40.00"), "quantity": 2},
)
PAID_BEFORE = timedelta(minutes=1)
SIDES = ("hook", "in-process")
# The server's secrets: the bench's own, never a deployment's.
SERVER_SECRETS = {
    "SECRET_KEY": "bench-hook-secret-key-not-for-production-0123456789-abcdefghijklmn",
    "HOOKS_SECRET": "bench-hook-shop-secret",
    "FIELD_ENCRYPTION_KEYS": "bench:MDEyMzQ1Njc4OWFiY2RlZg==",
    "FIELD_BLIND_INDEX_KEY": "bench-hook-blind-index-key-0123456789abcdef",
}


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Run:
    """One timed run of one side (what ``bench.postings.run_threads`` needs: threads, tag)."""

    side: str
    round: int
    threads: int
    timed: list[list[tuple[int, str]]]  # per thread [(member id, external id)]
    warm: list[list[tuple[int, str]]]
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, timed requests (hook side)

    @property
    def tag(self) -> str:
        return f"{'h' if self.side == 'hook' else 'p'}{self.round}"

    @property
    def orders(self) -> int:
        return sum(len(part) for part in self.timed)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds

    def order_id(self, thread: int, phase: str, i: int) -> str:
        return f"hb-{self.tag}-{thread}-{phase}{i}"


# --------------------------------------------------------------------------- set-up


def plan_runs(cursor, *, orders: int, threads: int, rounds: int) -> list[Run]:
    """Members for every order of every run (one order each), in the order the runs happen."""
    from bench.postings import create_accounts

    runs = []
    shares = [orders // threads + (1 if t < orders % threads else 0) for t in range(threads)]
    for rnd in range(rounds):
        for side in (SIDES if rnd % 2 == 0 else SIDES[::-1]):
            run = Run(side, rnd, threads, [], [])
            pairs = create_accounts(cursor, f"hb-{run.tag}-", orders + threads * WARMUP_PER_THREAD)
            ids = [member for member, _account in pairs]
            cursor.execute("UPDATE mall_member SET external_id = 'shop-' || id, "
                           "date_joined = now() - interval '1 year' WHERE id = ANY(%s)", [ids])
            members = [(pk, f"shop-{pk}") for pk in ids]
            start = 0
            for t in range(threads):
                run.warm.append(members[start:start + WARMUP_PER_THREAD])
                start += WARMUP_PER_THREAD
                run.timed.append(members[start:start + shares[t]])
                start += shares[t]
            runs.append(run)
    cursor.execute("ANALYZE")
    return runs


# --------------------------------------------------------------------------- the server


class Gunicorn:
    """The app under gunicorn with production settings, on a free port of its own."""

    def __init__(self, database_url: str, *, workers: int, threads: int, conn_max_age: str | None,
                 log: Path):
        from tests.faults.harness import free_port

        self.port = free_port()
        self.workers, self.threads, self.log = workers, threads, log
        env = {key: value for key, value in os.environ.items()
               if key not in {"DEBUG", "DJANGO_SETTINGS_MODULE", "DATABASE_URL",
                              "REPLICA_DATABASE_URL", "SECURE_SSL_REDIRECT"}}
        env.update(SERVER_SECRETS, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="mall.settings",
                   ALLOWED_HOSTS="127.0.0.1", API_NUM_PROXIES="1", LOG_LEVEL="WARNING",
                   MALL_VAR_DIR=str(log.parent), PYTHONPATH=str(ROOT))
        if conn_max_age is not None:
            env["DB_CONN_MAX_AGE"] = conn_max_age
        self.conn_max_age = env.get("DB_CONN_MAX_AGE", "app default")
        self.env = env
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        import httpx

        from tests.faults.harness import wait_for

        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mall.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--threads", str(self.threads), "--timeout", "60",
             "--graceful-timeout", "5"],
            cwd=ROOT, env=self.env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            wait_for(lambda: httpx.get(f"{self.url}/healthz/", timeout=2,
                                       headers={"X-Forwarded-Proto": "https"}).status_code == 200,
                     timeout=90, what="gunicorn up")
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"gunicorn did not come up; its log:\n{self.log.read_text()[-3000:]}") from None
        return self

    def stop(self) -> None:
        from tests.faults.harness import stop_process

        stop_process(self.process)
        self.process = None


# --------------------------------------------------------------------------- the two sides


def payload(order_id: str, external_id: str, paid_at) -> dict:
    return {"event_id": f"evt-{order_id}", "type": "order.paid", "order": {
        "id": order_id, "member": external_id, "amount": str(AMOUNT), "paid_at": paid_at.isoformat(),
        "lines": [{**line, "amount": str(line["amount"])} for line in LINES]}}


def hook_worker_factory(base_url: str):
    import logging

    import httpx
    from django.utils import timezone

    from mall.signing import sign

    secret = SERVER_SECRETS["HOOKS_SECRET"]
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request

    def worker(run: Run, thread: int, barrier, ends) -> None:
        # The proxy of ours in front: TLS ends there, the app sees plain HTTP marked https.
        with httpx.Client(base_url=base_url, timeout=60, headers={
                "X-Forwarded-Proto": "https", "X-Forwarded-For": f"10.0.0.{thread + 1}"}) as client:

            def post(external_id: str, order_id: str) -> float:
                body = json.dumps(payload(order_id, external_id, timezone.now() - PAID_BEFORE),
                                  separators=(",", ":")).encode()
                timestamp = str(int(time.time()))
                started = time.perf_counter()
                response = client.post(PATH, content=body, headers={
                    "Content-Type": "application/json", "X-Timestamp": timestamp,
                    "X-Signature": sign(body, timestamp, secret)})
                took = time.perf_counter() - started
                if not 200 <= response.status_code < 300:
                    raise AssertionError(f"hook for {order_id} answered {response.status_code}: "
                                         f"{response.text[:500]}")
                if response.json().get("points", 0) <= 0:
                    raise AssertionError(f"hook for {order_id} earned nothing: {response.text[:500]}")
                return took

            for i, (_pk, external_id) in enumerate(run.warm[thread]):
                post(external_id, run.order_id(thread, "w", i))
            barrier.wait()
            latencies = [post(external_id, run.order_id(thread, "t", i))
                         for i, (_pk, external_id) in enumerate(run.timed[thread])]
            ends[thread] = time.perf_counter()
            run.latencies.extend(latencies)  # list.extend is atomic under the GIL

    return worker


def in_process_worker(run: Run, thread: int, barrier, ends) -> None:
    from django.db import connection
    from django.utils import timezone

    from mall.models import Member
    from referrals.services.orders import record_paid_order

    try:
        found = Member.objects.in_bulk([pk for pk, _ in run.warm[thread] + run.timed[thread]])

        def post(pk: int, order_id: str) -> None:
            paid = record_paid_order(found[pk], order_id=order_id, amount=AMOUNT, lines=LINES,
                                     paid_at=timezone.now() - PAID_BEFORE)
            if paid.earning.points <= 0:
                raise AssertionError(f"order {order_id} earned nothing")

        for i, (pk, _external) in enumerate(run.warm[thread]):
            post(pk, run.order_id(thread, "w", i))
        barrier.wait()
        for i, (pk, _external) in enumerate(run.timed[thread]):
            post(pk, run.order_id(thread, "t", i))
        ends[thread] = time.perf_counter()
    finally:
        connection.close()


# --------------------------------------------------------------------------- checks

ORDER_CHECK = """
SELECT count(*), count(DISTINCT o.member_id), count(*) FILTER (WHERE o.entry_id IS NOT NULL),
       (SELECT count(*) FROM points_entry e JOIN points_account a ON a.id = e.account_id
        JOIN mall_member m ON m.id = a.member_id WHERE m.username LIKE %(members)s AND e.kind = 'earn'),
       (SELECT count(*) FROM mall_hookevent WHERE event_id LIKE %(events)s AND status = 200)
FROM points_order o WHERE o.external_id LIKE %(orders)s
"""

LEDGER_CHECK = """
SELECT count(*) FILTER (WHERE a.available <> COALESCE(l.available, 0)
                          OR a.pending <> COALESCE(l.pending, 0)
                          OR a.available + a.pending + a.held - a.debt <> COALESCE(e.total, 0))
FROM points_account a
LEFT JOIN (SELECT account_id, SUM(remaining) FILTER (WHERE NOT pending) AS available,
                  SUM(remaining) FILTER (WHERE pending) AS pending
           FROM points_lot GROUP BY account_id) l ON l.account_id = a.id
LEFT JOIN (SELECT account_id, SUM(delta) AS total FROM points_entry GROUP BY account_id) e
    ON e.account_id = a.id
"""


def check(cursor, runs: list[Run]) -> None:
    """Each order stored once with its points, one earn entry per member (every member ordered
    once), one applied event per hook, and the ledger's invariants on every account."""
    for run in runs:
        expected = run.orders + sum(len(part) for part in run.warm)
        cursor.execute(ORDER_CHECK, {"orders": f"hb-{run.tag}-%", "members": f"hb-{run.tag}-%",
                                     "events": f"evt-hb-{run.tag}-%"})
        stored, members, earned, entries, events = cursor.fetchone()
        want_events = expected if run.side == "hook" else 0
        if (stored, members, earned, entries, events) != (expected,) * 4 + (want_events,):
            raise AssertionError(
                f"{run.side} round {run.round}: {stored} orders stored for {members} members, "
                f"{earned} with points, {entries} earn entries, {events} hook events; expected "
                f"{expected} of each and {want_events} events")
    cursor.execute(LEDGER_CHECK)
    broken = cursor.fetchone()[0]
    if broken:
        raise AssertionError(f"{broken} accounts break the ledger invariants")


# --------------------------------------------------------------------------- run


def percentile(sorted_values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``sorted_values``."""
    index = max(0, min(len(sorted_values) - 1, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


def run(*, orders: int = 1000, rounds: int = 3, clients: int = 16, workers: int = 2,
        threads: int = 8, conn_max_age: str | None = None, keep: bool = False,
        verbose: bool = False) -> dict:
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("hook", keep=keep) as server:
        from django.conf import settings
        from django.db import connection

        from bench.postings import run_threads

        with connection.cursor() as cursor:
            runs = plan_runs(cursor, orders=orders, threads=clients, rounds=rounds)
        # DEBUG=1 only supplies development secrets here; its query log is not part of the work.
        settings.DEBUG = False
        connection.close()
        server.checkpoint()
        with tempfile.TemporaryDirectory(prefix="bench-hook-") as scratch:
            app = Gunicorn(os.environ["DATABASE_URL"], workers=workers, threads=threads,
                           conn_max_age=conn_max_age, log=Path(scratch) / "gunicorn.log")
            app.start()
            try:
                workers_of = {"hook": hook_worker_factory(app.url), "in-process": in_process_worker}
                for r in runs:
                    r.seconds = run_threads(r, workers_of[r.side])
                    if verbose:
                        say(f"        round {r.round} {r.side:<10} {r.orders} orders in "
                            f"{r.seconds:.2f}s = {r.rate:.0f}/s")
            finally:
                app.stop()
        with connection.cursor() as cursor:
            check(cursor, runs)
        rate = {side: statistics.median(r.rate for r in runs if r.side == side) for side in SIDES}
        per_round = [next(r for r in runs if r.round == n and r.side == "hook").rate
                     / next(r for r in runs if r.round == n and r.side == "in-process").rate
                     for n in range(rounds)]
        ratio = statistics.median(per_round)
        latencies = sorted(x for r in runs if r.side == "hook" for x in r.latencies)
        p50, p95, p99 = (percentile(latencies, share) * 1000 for share in (0.50, 0.95, 0.99))
        if verbose and rounds > 1:
            say(f"        ratio per round {', '.join(f'{x:.2f}' for x in per_round)}")
        say(f"hook    {clients} clients  {rate['hook']:5.0f} orders/s   p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
            f"p99 {p99:.1f} ms   in-process {rate['in-process']:5.0f}/s   ratio {ratio:4.2f}   "
            f"[signed order.paid via gunicorn {workers} workers x {threads} threads, DEBUG off, "
            f"DB_CONN_MAX_AGE {app.conn_max_age}; {orders} orders x {rounds} rounds, median; "
            f"every hook 2xx, every order posted once]")
        return {"hook": rate["hook"], "in_process": rate["in-process"], "ratio": ratio,
                "per_round": per_round, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000,
                        help="timed orders per side per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, sides alternating first (default 3)")
    parser.add_argument("--clients", type=int, default=16,
                        help="concurrent clients, and threads of the in-process side (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (default 8)")
    parser.add_argument("--conn-max-age", help="DB_CONN_MAX_AGE for the server (default: the app's)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round")
    args = parser.parse_args(argv)
    if args.orders < args.clients or args.clients < 1 or args.rounds < 1 or args.workers < 1:
        parser.error("--orders must be >= --clients >= 1; --rounds and --workers >= 1")
    run(orders=args.orders, rounds=args.rounds, clients=args.clients, workers=args.workers,
        threads=args.threads, conn_max_age=args.conn_max_age, keep=args.keep, verbose=args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
