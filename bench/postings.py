"""Single postings (earn, spend): the service layer against plain psycopg, N threads each.

Each side of each round gets its own accounts, created set-based before anything is timed, and
each thread its own slice of them (no two threads touch one account, so nothing waits on a lock).
Every thread opens its connection and runs a few warm-up postings on separate accounts, then all
threads start together at a barrier; the time is from the barrier to the last thread's finish.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field

EARN_POINTS = 128
SPEND_POINTS = 23
LOTS_PER_ACCOUNT = 5
LOT_AMOUNT = 100
# Spends per account stay below LOTS_PER_ACCOUNT * LOT_AMOUNT / SPEND_POINTS, so none is refused;
# at 23 points a spend crosses into the next lot about every fourth time.
MAX_SPENDS_PER_ACCOUNT = 20
EXPLANATION = {"lines": ["base 1/yuan x 128.00 = 128"], "points": EARN_POINTS}
RULE_VERSION = "bench-v1"


@dataclass
class Run:
    """One timed run of one side: which accounts each thread uses, and how many postings."""

    kind: str  # "earn" | "spend"
    side: str  # "service" | "sql"
    round: int
    postings: int
    warmup: int  # per thread
    threads: int
    timed: list[list[tuple[int, int]]] = field(default_factory=list)  # per thread [(member, account)]
    warm: list[list[tuple[int, int]]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def tag(self) -> str:
        return f"{self.kind}:{self.side}:{self.round}"

    def share(self, thread: int) -> int:
        base, extra = divmod(self.postings, self.threads)
        return base + (1 if thread < extra else 0)

    def all_accounts(self) -> list[int]:
        return [acc for part in (*self.timed, *self.warm) for _member, acc in part]

    @property
    def rate(self) -> float:
        return self.postings / self.seconds


# --------------------------------------------------------------------------- set-based setup


def create_accounts(cursor, prefix: str, count: int) -> list[tuple[int, int]]:
    """``count`` members with empty accounts; returns ``[(member_id, account_id)]`` in id order."""
    cursor.execute(
        "INSERT INTO mall_member (password, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined, nickname, tier) "
        "SELECT '!', false, %s || g, '', '', '', false, true, now(), '', 'normal' "
        "FROM generate_series(1, %s) g RETURNING id",
        [prefix, count],
    )
    member_ids = sorted(row[0] for row in cursor.fetchall())
    cursor.execute(
        # An account's id is its member's (points migration 0013).
        "INSERT INTO points_account (id, member_id, available, pending, held, debt, "
        "lifetime_earned, lifetime_spent, lifetime_expired) SELECT m, m, 0, 0, 0, 0, 0, 0, 0 "
        "FROM unnest(%s::bigint[]) m ORDER BY m RETURNING id, member_id",
        [member_ids],
    )
    by_member = {member: account for account, member in cursor.fetchall()}
    return [(member, by_member[member]) for member in member_ids]


def add_spend_lots(cursor, account_ids: list[int]) -> None:
    """Give every account LOTS_PER_ACCOUNT lots of LOT_AMOUNT, each from its own earn entry.

    The expiries are not in id order (and one never expires), so the spending order matters.
    """
    cursor.execute(
        """
        WITH e AS (
            INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason, reference,
                fingerprint, rule_version, created_at)
            SELECT a, 'setup:' || a || ':' || k, 'earn', %(amount)s, %(amount)s * k, 'bench setup',
                   '', '', '', now()
            FROM unnest(%(ids)s::bigint[]) a CROSS JOIN generate_series(1, %(lots)s) k
            ORDER BY a, k
            RETURNING id, account_id, split_part(key, ':', 3)::int AS k
        )
        INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at,
            expires_at, created_at)
        SELECT account_id, id, %(amount)s, %(amount)s, false, now() - interval '1 day',
               CASE k %% 5 WHEN 1 THEN now() + interval '90 days' WHEN 2 THEN now() + interval '30 days'
                          WHEN 3 THEN NULL WHEN 4 THEN now() + interval '60 days'
                          ELSE now() + interval '120 days' END,
               now() - interval '1 day'
        FROM e ORDER BY id
        """,
        {"ids": account_ids, "amount": LOT_AMOUNT, "lots": LOTS_PER_ACCOUNT},
    )
    cursor.execute(
        "UPDATE points_account SET available = %s, lifetime_earned = %s WHERE id = ANY(%s)",
        [LOT_AMOUNT * LOTS_PER_ACCOUNT, LOT_AMOUNT * LOTS_PER_ACCOUNT, account_ids],
    )


def plan_runs(cursor, kind: str, *, postings: int, threads: int, rounds: int) -> list[Run]:
    """Accounts for every run of ``kind``, in the order the runs happen (the order alternates)."""
    warmup = max(5, postings // threads // 10)
    per_thread = math.ceil(postings / threads)
    if kind == "spend":
        timed_members = math.ceil(per_thread / MAX_SPENDS_PER_ACCOUNT)
        warm_members = math.ceil(warmup / MAX_SPENDS_PER_ACCOUNT)
    else:
        timed_members, warm_members = 50, 5
    runs = []
    for rnd in range(rounds):
        order = ("service", "sql") if rnd % 2 == 0 else ("sql", "service")
        for side in order:
            run = Run(kind, side, rnd, postings, warmup, threads)
            pairs = create_accounts(cursor, f"bench-{kind}-{side}-{rnd}-",
                                    threads * (timed_members + warm_members))
            for t in range(threads):
                chunk = pairs[t * (timed_members + warm_members):(t + 1) * (timed_members + warm_members)]
                run.timed.append(chunk[:timed_members])
                run.warm.append(chunk[timed_members:])
            if kind == "spend":
                add_spend_lots(cursor, run.all_accounts())
            runs.append(run)
    return runs


# --------------------------------------------------------------------------- thread runner


def timed_threads(count: int, worker, *, name: str = "bench") -> float:
    """Start ``count`` threads of ``worker(thread, barrier, ends)``; return seconds.

    Each worker connects and warms up, waits at ``barrier``, does its timed share and stores
    ``time.perf_counter()`` in ``ends[thread]``. The clock starts when every thread has reached the
    barrier and stops at the last thread's end. A worker's exception aborts the barrier and is
    raised here. The thread runner of every multi-threaded bench (postings, referral orders,
    redemptions, lottery draws, auction bids).
    """
    barrier = threading.Barrier(count + 1)
    ends = [0.0] * count
    failures: list[BaseException] = []

    def target(thread):
        try:
            worker(thread, barrier, ends)
        except BaseException as exc:  # noqa: B036 - reported by the main thread
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=target, args=(t,), name=f"{name}:{t}") for t in range(count)]
    for thread in threads:
        thread.start()
    start = None
    try:
        barrier.wait()
        start = time.perf_counter()
    except threading.BrokenBarrierError:
        pass
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return max(ends) - start


def run_threads(run: Run, worker) -> float:
    """``timed_threads`` for a ``Run``: ``run.threads`` threads of ``worker(run, thread, barrier,
    ends)``."""
    return timed_threads(run.threads, lambda thread, barrier, ends: worker(run, thread, barrier, ends),
                         name=run.tag)


def _key(run: Run, thread: int, phase: str, i: int) -> str:
    return f"bench:{run.tag}:{thread}:{phase}:{i}"


# --------------------------------------------------------------------------- service side


def service_worker(run: Run, thread: int, barrier, ends) -> None:
    from django.db import connection

    from mall.models import Member
    from points import services

    try:
        ids = [member for member, _ in run.timed[thread] + run.warm[thread]]
        members = Member.objects.in_bulk(ids)
        timed = [members[m] for m, _ in run.timed[thread]]
        warm = [members[m] for m, _ in run.warm[thread]]

        if run.kind == "earn":
            def post(member, key, i):
                services.earn(member, EARN_POINTS, key=key, reason="bench earn",
                              reference=f"order-{i}", rule_version=RULE_VERSION,
                              explanation=EXPLANATION, expires_at=bench_expiry())
        else:
            def post(member, key, i):
                services.spend(member, SPEND_POINTS, key=key, reason="bench spend",
                               reference=f"redemption-{i}")

        for i in range(run.warmup):
            post(warm[i % len(warm)], _key(run, thread, "w", i), i)
        barrier.wait()
        for i in range(run.share(thread)):
            post(timed[i % len(timed)], _key(run, thread, "t", i), i)
        ends[thread] = time.perf_counter()
    finally:
        connection.close()


# --------------------------------------------------------------------------- plain SQL side

ENTRY_INSERT = (
    "INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason, reference, "
    "fingerprint, reverses_id, hold_id, rule_version, explanation, staff_id, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL, %s, %s::jsonb, NULL, %s) RETURNING id"
)

# Lock and change the account in one statement: the row lock comes with the UPDATE.
EARN_ACCOUNT = (
    "UPDATE points_account SET available = available + %s, lifetime_earned = lifetime_earned + %s "
    "WHERE id = %s RETURNING available + pending + held - debt"
)
EARN_LOT = (
    "INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at, "
    "expires_at, created_at) VALUES (%s, %s, %s, %s, false, %s, %s, %s)"
)
SPEND_ACCOUNT = (
    "UPDATE points_account SET available = available - %s, lifetime_spent = lifetime_spent + %s "
    "WHERE id = %s AND available >= %s RETURNING available + pending + held - debt"
)
# The statement points.services._take_from_lots runs (soonest expiry first, then oldest).
SPEND_LOTS = """
    WITH candidates AS (
        SELECT id, remaining, pending,
               SUM(remaining) OVER (ORDER BY expires_at ASC NULLS LAST, id ASC) AS running
        FROM points_lot
        WHERE account_id = %s AND remaining > 0 AND NOT pending
    ), taken AS (
        SELECT id, pending, LEAST(remaining, %s - (running - remaining)) AS amount
        FROM candidates WHERE running - remaining < %s
    ), updated AS (
        UPDATE points_lot l SET remaining = l.remaining - taken.amount
        FROM taken WHERE l.account_id = %s AND l.id = taken.id  -- one partition, as the service
        RETURNING l.id, taken.amount, taken.pending
    ), allocated AS (
        INSERT INTO points_allocation (account_id, lot_id, entry_id, hold_id, amount)
        SELECT %s, id, %s, NULL, amount FROM updated
    )
    SELECT id, amount, pending FROM updated
"""


def _fingerprint(*args) -> str:
    # The same kind of value the service stores (sha256 of the caller's arguments).
    return hashlib.sha256(json.dumps(args, default=str, separators=(",", ":")).encode()).hexdigest()


def sql_worker_factory(url: str):
    from django.utils import timezone

    from bench.dbs import connect
    def worker(run: Run, thread: int, barrier, ends) -> None:
        conn = connect(url)  # autocommit off: psycopg opens a transaction, we commit it
        try:
            cur = conn.cursor()
            explanation = json.dumps(EXPLANATION, ensure_ascii=False)

            def earn(member_id, account_id, key, i):
                now = timezone.now()
                expires = bench_expiry()
                reference = f"order-{i}"
                cur.execute(EARN_ACCOUNT, [EARN_POINTS, EARN_POINTS, account_id])
                total = cur.fetchone()[0]
                cur.execute(ENTRY_INSERT, [
                    account_id, key, "earn", EARN_POINTS, total, "bench earn", reference,
                    _fingerprint("earn", member_id, EARN_POINTS, reference, None, expires),
                    RULE_VERSION, explanation, now])
                entry_id = cur.fetchone()[0]
                cur.execute(EARN_LOT, [account_id, entry_id, EARN_POINTS, EARN_POINTS, now,
                                       expires, now])
                conn.commit()

            def spend(member_id, account_id, key, i):
                now = timezone.now()
                reference = f"redemption-{i}"
                cur.execute(SPEND_ACCOUNT, [SPEND_POINTS, SPEND_POINTS, account_id, SPEND_POINTS])
                row = cur.fetchone()
                if row is None:
                    raise RuntimeError(f"account {account_id} ran out of points in the benchmark")
                cur.execute(ENTRY_INSERT, [
                    account_id, key, "spend", -SPEND_POINTS, row[0], "bench spend", reference,
                    _fingerprint("spend", member_id, -SPEND_POINTS, reference),
                    "", None, now])
                entry_id = cur.fetchone()[0]
                cur.execute(SPEND_LOTS, [account_id, SPEND_POINTS, SPEND_POINTS, account_id, account_id,
                                        entry_id])
                cur.fetchall()
                conn.commit()

            post = earn if run.kind == "earn" else spend
            warm, timed = run.warm[thread], run.timed[thread]
            for i in range(run.warmup):
                member_id, account_id = warm[i % len(warm)]
                post(member_id, account_id, _key(run, thread, "w", i), i)
            barrier.wait()
            for i in range(run.share(thread)):
                member_id, account_id = timed[i % len(timed)]
                post(member_id, account_id, _key(run, thread, "t", i), i)
            ends[thread] = time.perf_counter()
        finally:
            conn.close()

    return worker


# --------------------------------------------------------------------------- diagnostics


def service_statements(kind: str) -> list[str]:
    """The statements one warm service posting sends (first word of each, BEGIN/COMMIT included)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mall.models import Member
    from points import services
    from points.services import _cursor

    with connection.cursor() as cursor:
        [(member_id, account_id)] = create_accounts(cursor, f"bench-{kind}-count-", 1)
        if kind == "spend":
            add_spend_lots(cursor, [account_id])
    member = Member.objects.get(pk=member_id)

    def post(key):
        if kind == "earn":
            services.earn(member, EARN_POINTS, key=key, reason="bench earn", reference="order",
                          rule_version=RULE_VERSION, explanation=EXPLANATION, expires_at=bench_expiry())
        else:
            services.spend(member, SPEND_POINTS, key=key, reason="bench spend", reference="r")

    # The postings' own statements go through ``_PreparedCursor`` (a psycopg cursor of its own),
    # which Django's query capture does not see: count those by wrapping its ``execute``.
    sent = []
    original = _cursor._PreparedCursor.execute

    def counting(self, sql, params=()):
        sent.append(("posting", sql))
        return original(self, sql, params)

    post(f"bench:{kind}:count:0")
    _cursor._PreparedCursor.execute = counting
    try:
        with CaptureQueriesContext(connection) as captured:
            post(f"bench:{kind}:count:1")
    finally:
        _cursor._PreparedCursor.execute = original
    # Django logs its BEGIN/COMMIT (and any ORM statement) at the end of each; the posting's
    # statements come between the first and the rest.
    django_sql = [query["sql"] for query in captured.captured_queries]
    ordered = django_sql[:1] + [sql for _, sql in sent] + django_sql[1:]
    return [sql.split()[0].upper() for sql in ordered]


SQL_STATEMENTS = {
    "earn": ["BEGIN", "UPDATE", "INSERT", "INSERT", "COMMIT"],
    "spend": ["BEGIN", "UPDATE", "INSERT", "WITH", "COMMIT"],
}


# --------------------------------------------------------------------------- checks

CHECK_SQL = """
SELECT count(*) FILTER (WHERE a.available <> COALESCE(l.available, 0)
                          OR a.available + a.pending + a.held - a.debt <> COALESCE(e.total, 0)),
       COALESCE(SUM(a.available), 0), COALESCE(SUM(e.n), 0)
FROM points_account a
LEFT JOIN (SELECT account_id, SUM(remaining) FILTER (WHERE NOT pending) AS available
           FROM points_lot WHERE account_id = ANY(%(ids)s) GROUP BY account_id) l
    ON l.account_id = a.id
LEFT JOIN (SELECT account_id, SUM(delta) AS total, count(*) AS n
           FROM points_entry WHERE account_id = ANY(%(ids)s) GROUP BY account_id) e
    ON e.account_id = a.id
WHERE a.id = ANY(%(ids)s)
"""


def check_run(cursor, run: Run) -> tuple[int, int]:
    """Verify the run's accounts (totals match lots and entries); return (Σ available, entries)."""
    cursor.execute(CHECK_SQL, {"ids": run.all_accounts()})
    broken, available, entries = cursor.fetchone()
    if broken:
        raise AssertionError(f"{run.tag}: {broken} accounts break the ledger invariants")
    return int(available), int(entries)


def bench_expiry():
    """The expiry both sides give an earning: as the earning flows do, the caller passes the
    rule set's validity (12 months to the end of the month) rather than asking for the default."""
    from django.utils import timezone

    from points.policy import month_end_expiry

    return month_end_expiry(timezone.now(), months=12)
