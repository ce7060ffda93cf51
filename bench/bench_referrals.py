"""Paid orders with referral rewards against paid orders without them (issue 9: ratio >= 0.6).

    DEBUG=1 .venv/bin/python bench/bench_referrals.py                    # 100,000 members, depth 50
    DEBUG=1 .venv/bin/python bench/bench_referrals.py --orders 400 --rounds 1 -v

Like bench/run.py it uses DATABASE_URL's server (or the embedded PostgreSQL when it is unset) but
never its database: everything happens in ``<name>_bench_ref``, dropped and recreated on each run
and dropped at the end unless ``--keep``.

The tree (built set-based, not timed, not through the services): ``--members`` members with
empty points accounts and one invite tree of depth ``--depth``. A spine 0 -> 1 -> ... -> depth
guarantees the full depth; every other member gets a depth (1..depth, the first levels thinner)
and an inviter on the level above, chosen with preferential attachment (a member who has
invited more is likelier to invite again), so a few members invite hundreds and most invite none
or one. Every member counts as qualified (has bought before: the orders timed are repeat
orders, which neither qualify anyone nor upgrade anyone), every member with at least the
plan's ``upgrade_threshold`` (3) direct invitees leads a team, and each other member's leader
is what binding gives: the inviter if the inviter leads, else the inviter's leader. The plan is
the published default of the data migration (链动3+1: 5% of an own order; direct 30%, team
20%, same level 10%).

The orders: ``--orders`` per side per round, ``--threads`` threads each on its own Django
connection, 100.00 yuan in two lines, paid a minute ago. The buyers are drawn once per round
(9 in 10 at depth 3 or more, so the direct, team and same-level rewards happen; 1 in 10 from
anywhere) and both sides of a round get the same buyers in the same threads:

* ``with``: ``referrals.services.orders.record_paid_order`` (the order hook with referrals:
  locks the chain's nodes and accounts, stores the order and its points, pays the rewards);
* ``without``: ``points.services.earning.record_paid_order`` (what the hook did before).

Rounds alternate which side goes first; each thread warms up on a few orders of its own first,
then all threads start together (``bench.postings.run_threads``). Before each ``with`` round the
repurchase counters (``rewards_since_purchase``) are reset, untimed, so every round pays what
the first one did rather than less and less as the busiest inviters reach the repurchase gate.
The printed rates are the medians of the rounds' rates, the ratio the median of the rounds'
ratios. Afterwards the rewards are checked (see ``check``), so the bench cannot pass by paying
nothing. ``run()`` sets Django up on the bench database: call it where Django is not set up yet.
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL = 0.60
SEED = 9
RAMP = 10  # levels 1..RAMP hold 1/RAMP .. RAMP/RAMP of the members of a deeper level
DEEP = 3  # buyers "deep in the tree": all three inviter levels exist
DEEP_SHARE = 0.9
WARMUP_PER_THREAD = 5
AMOUNT = Decimal("100.00")
LINES = (
    {"sku": "ref-bench-1", "amount": Decimal("60.00"), "categories": ["vegetables"]},
    {"sku": "ref-bench-2", "amount": Decimal("40.00"), "categories": []},
)
PAID_BEFORE = timedelta(minutes=1)
TIERS = ("normal",) * 6 + ("silver",) * 3 + ("gold",)


def say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- the tree


@dataclass
class Tree:
    """Members by index (0 = the root of the spine); inviters have smaller indexes."""

    inviter: list[int | None]
    depth: list[int]
    leader: list[int | None]
    is_leader: list[bool]
    direct: list[int]

    def __len__(self) -> int:
        return len(self.inviter)

    def up(self, index: int, levels: int) -> int | None:
        for _ in range(levels):
            index = self.inviter[index]
            if index is None:
                return None
        return index


def build_tree(members: int, max_depth: int, *, leader_at: int, seed: int = SEED) -> Tree:
    """The shape described in the module docstring, deterministic for ``seed``; members with
    ``leader_at`` direct invitees or more lead a team."""
    rng = random.Random(seed)
    inviter: list[int | None] = [None]
    depth = [0]
    # Preferential attachment per level: a member appears once, plus once per invitee.
    pool: dict[int, list[int]] = collections.defaultdict(list)
    pool[0].append(0)
    for index in range(1, max_depth + 1):  # the spine
        inviter.append(index - 1)
        depth.append(index)
        pool[index].append(index)
        pool[index - 1].append(index - 1)
    levels = list(range(1, max_depth + 1))
    weights = [min(level, RAMP) for level in levels]
    for index, level in enumerate(rng.choices(levels, weights=weights, k=members - max_depth - 1),
                                  start=max_depth + 1):
        parent = rng.choice(pool[level - 1])
        inviter.append(parent)
        depth.append(level)
        pool[level].append(index)
        pool[level - 1].append(parent)
    direct = [0] * members
    for parent in inviter:
        if parent is not None:
            direct[parent] += 1
    is_leader = [count >= leader_at for count in direct]
    leader: list[int | None] = [None] * members
    for index in range(members):  # inviters come first
        parent = inviter[index]
        if parent is not None:
            leader[index] = parent if is_leader[parent] else leader[parent]
    for index in range(members):
        if is_leader[index]:
            leader[index] = None  # a leader belongs to no other team
    return Tree(inviter, depth, leader, is_leader, direct)


def fill(cursor, tree: Tree) -> list[int]:
    """Insert the members, their accounts and their nodes; returns member ids by tree index."""
    n = len(tree)
    cursor.execute(
        "INSERT INTO mall_member (password, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined, nickname, tier) "
        "SELECT '!', false, 'ref-' || g, '', '', '', false, true, now(), 'Ref ' || g, "
        "(%s::varchar[])[1 + g %% %s] FROM generate_series(0, %s - 1) g ORDER BY g RETURNING id",
        [list(TIERS), len(TIERS), n],
    )
    ids = sorted(row[0] for row in cursor.fetchall())
    cursor.execute(
        "INSERT INTO points_account (id, member_id, available, pending, held, debt, "
        "lifetime_earned, lifetime_spent, lifetime_expired) SELECT m, m, 0, 0, 0, 0, 0, 0, 0 "
        "FROM unnest(%s::bigint[]) m ORDER BY m",
        [ids],
    )

    def member(index):
        return None if index is None else ids[index]

    inviter_1 = [member(tree.inviter[i]) for i in range(n)]
    inviter_2 = [member(tree.up(i, 2)) for i in range(n)]
    inviter_3 = [member(tree.up(i, 3)) for i in range(n)]
    leader = [member(tree.leader[i]) for i in range(n)]
    cursor.execute(
        """
        INSERT INTO referrals_node (member_id, invite_code, inviter_id, inviter_2_id, inviter_3_id,
            depth, invited_at, leader_id, is_leader, leader_since, qualified, direct_count,
            qualified_direct_count, rewards_since_purchase, created_at)
        SELECT t.member, 'R' || lpad(t.ord::text, 7, '0'), t.inv1, t.inv2, t.inv3, t.depth,
               CASE WHEN t.inv1 IS NULL THEN NULL ELSE now() - interval '30 days' END,
               t.leader, t.is_leader,
               CASE WHEN t.is_leader THEN now() - interval '10 days' END,
               true, t.direct, t.direct, 0, now() - interval '60 days'
        FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::int[], %s::bigint[],
                    %s::boolean[], %s::int[]) WITH ORDINALITY
             AS t(member, inv1, inv2, inv3, depth, leader, is_leader, direct, ord)
        ORDER BY t.ord
        """,
        [ids, inviter_1, inviter_2, inviter_3, tree.depth, leader, tree.is_leader, tree.direct],
    )
    cursor.execute("ANALYZE mall_member, points_account, referrals_node")
    return ids


def check_tree(cursor, max_depth: int, members: int, leader_at: int) -> dict:
    """The stored tree is what the services would have built: chains, depths, counters, teams."""
    cursor.execute(
        """
        SELECT count(*),
               max(n.depth),
               count(*) FILTER (WHERE n.inviter_id IS NOT NULL AND (
                   n.depth <> i.depth + 1
                   OR n.inviter_2_id IS DISTINCT FROM i.inviter_id
                   OR n.inviter_3_id IS DISTINCT FROM i.inviter_2_id
                   OR (NOT n.is_leader AND n.leader_id IS DISTINCT FROM
                       CASE WHEN i.is_leader THEN i.member_id ELSE i.leader_id END))),
               count(*) FILTER (WHERE n.direct_count <> COALESCE(c.invitees, 0)),
               count(*) FILTER (WHERE n.is_leader <> (n.qualified_direct_count >= %s)),
               count(*) FILTER (WHERE n.is_leader)
        FROM referrals_node n LEFT JOIN referrals_node i ON i.member_id = n.inviter_id
        LEFT JOIN (SELECT inviter_id, count(*) AS invitees FROM referrals_node
                   WHERE inviter_id IS NOT NULL GROUP BY inviter_id) c ON c.inviter_id = n.member_id
        """,
        [leader_at],
    )
    count, depth, broken_chain, broken_count, broken_leader, leaders = cursor.fetchone()
    if count != members or depth != max_depth or broken_chain or broken_count or broken_leader:
        raise AssertionError(f"the bench tree is inconsistent: {count} nodes, depth {depth}, "
                             f"{broken_chain} chains, {broken_count} counters, {broken_leader} "
                             f"leader flags wrong")
    return {"nodes": count, "depth": depth, "leaders": leaders}


def draw_buyers(tree: Tree, ids: list[int], count: int, rng: random.Random) -> list[int]:
    deep = [i for i in range(len(tree)) if tree.depth[i] >= DEEP]
    anyone = range(1, len(tree))
    return [ids[rng.choice(deep) if rng.random() < DEEP_SHARE else rng.choice(anyone)]
            for _ in range(count)]


# --------------------------------------------------------------------------- the orders


def post_with(member, order_id: str):
    from django.utils import timezone

    from referrals.services.orders import record_paid_order

    return record_paid_order(member, order_id=order_id, amount=AMOUNT, lines=LINES,
                             paid_at=timezone.now() - PAID_BEFORE)


def post_without(member, order_id: str):
    from django.utils import timezone

    from points.services.earning import record_paid_order

    return record_paid_order(member, order_id=order_id, amount=AMOUNT, lines=LINES,
                             paid_at=timezone.now() - PAID_BEFORE)


POST = {"with": post_with, "without": post_without}


@dataclass
class Run:
    """One timed run of one side (what ``bench.postings.run_threads`` needs: threads, tag)."""

    side: str  # "with" | "without"
    round: int
    threads: int
    timed: list[list[int]]  # member ids per thread
    warm: list[list[int]]
    seconds: float = 0.0
    orders: int = field(init=False)

    def __post_init__(self):
        self.orders = sum(len(part) for part in self.timed)

    @property
    def tag(self) -> str:
        return f"{self.side}-{self.round}"

    @property
    def rate(self) -> float:
        return self.orders / self.seconds


def order_id(run: Run, thread: int, phase: str, i: int) -> str:
    return f"ref-{run.tag}-{thread}-{phase}{i}"


def worker(run: Run, thread: int, barrier, ends) -> None:
    from django.db import connection

    from mall.models import Member

    post = POST[run.side]
    try:
        members = Member.objects.in_bulk(set(run.timed[thread]) | set(run.warm[thread]))
        for i, pk in enumerate(run.warm[thread]):
            post(members[pk], order_id(run, thread, "w", i))
        barrier.wait()
        for i, pk in enumerate(run.timed[thread]):
            post(members[pk], order_id(run, thread, "t", i))
        ends[thread] = time.perf_counter()
    finally:
        connection.close()


def plan_runs(tree: Tree, ids: list[int], *, orders: int, threads: int, rounds: int) -> list[Run]:
    rng = random.Random(SEED + 1)
    runs = []
    for rnd in range(rounds):
        buyers = draw_buyers(tree, ids, orders, rng)
        warm = draw_buyers(tree, ids, WARMUP_PER_THREAD * threads, rng)
        timed_parts = [buyers[t::threads] for t in range(threads)]
        warm_parts = [warm[t::threads] for t in range(threads)]
        for side in (("with", "without") if rnd % 2 == 0 else ("without", "with")):
            runs.append(Run(side, rnd, threads, timed_parts, warm_parts))
    return runs


# --------------------------------------------------------------------------- statements


_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', re.IGNORECASE)


def describe(sql: str) -> str:
    """A statement in a few words: its verb, the table it works on, and whether it locks."""
    words = sql.split()
    verb = words[0].upper()
    if verb in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"):
        return verb
    body = sql
    if verb == "WITH":  # name the CTE's writes
        writes = re.findall(r'\b(INSERT INTO|UPDATE)\s+"?([a-z_]+)"?', sql, re.IGNORECASE)
        return "WITH " + " + ".join(f"{kind.split()[0].upper()} {table}" for kind, table in writes)
    if verb == "UPDATE":
        match = re.match(r'UPDATE\s+"?([a-z_]+)"?', body, re.IGNORECASE)
        table = match.group(1) if match else "?"
        return f"UPDATE {table}"
    match = _TABLE.search(body)
    table = match.group(1) if match else "?"
    lock = " FOR UPDATE" if "FOR UPDATE" in sql.upper() else (
        " FOR NO KEY UPDATE" if "FOR NO KEY UPDATE" in sql.upper() else "")
    return f"{verb} {table}{lock}"


def statements(side: str, members, prefix: str) -> tuple[list[list[str]], list[int]]:
    """The statements each order of ``members`` sends on ``side`` (untimed), and how many paid
    rewards each paid."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from points.services import _cursor

    # The postings run on a psycopg cursor of their own (prepared statements), which Django's
    # query log does not see: note its statements in the same list while counting.
    real_execute = _cursor._PreparedCursor.execute

    def noted_execute(self, sql, params=()):
        connection.queries_log.append({"sql": sql, "time": "0"})
        return real_execute(self, sql, params)

    lists, paid = [], []
    _cursor._PreparedCursor.execute = noted_execute
    try:
        for i, member in enumerate(members):
            with CaptureQueriesContext(connection) as captured:
                result = POST[side](member, f"{prefix}-{side}-{i}")
            lists.append([describe(q["sql"]) for q in captured.captured_queries])
            paid.append(sum(1 for r in getattr(result, "rewards", []) if r.entry_id))
    finally:
        _cursor._PreparedCursor.execute = real_execute
    return lists, paid


# --------------------------------------------------------------------------- checks

LEDGER_CHECK = """
SELECT count(*) FILTER (WHERE a.available <> COALESCE(l.available, 0)
                          OR a.pending <> COALESCE(l.pending, 0)
                          OR a.available + a.pending + a.held - a.debt <> COALESCE(e.total, 0)
                          OR a.lifetime_earned <> COALESCE(e.earned, 0)),
       count(*) FILTER (WHERE e.n > 0)
FROM points_account a
LEFT JOIN (SELECT account_id, SUM(remaining) FILTER (WHERE NOT pending) AS available,
                  SUM(remaining) FILTER (WHERE pending) AS pending
           FROM points_lot GROUP BY account_id) l ON l.account_id = a.id
LEFT JOIN (SELECT account_id, SUM(delta) AS total, SUM(delta) FILTER (WHERE kind = 'earn') AS earned,
                  count(*) AS n
           FROM points_entry GROUP BY account_id) e ON e.account_id = a.id
"""

REWARD_CHECK = """
SELECT count(*),
       count(*) FILTER (WHERE r.entry_id IS NOT NULL),
       COALESCE(SUM(r.points) FILTER (WHERE r.entry_id IS NOT NULL), 0),
       count(*) FILTER (WHERE r.entry_id IS NOT NULL
                          AND (e.delta <> r.points OR a.member_id <> r.beneficiary_id)),
       count(*) FILTER (WHERE r.entry_id IS NOT NULL AND r.kind = 'direct'),
       count(*) FILTER (WHERE r.entry_id IS NOT NULL AND r.kind = 'team'),
       count(*) FILTER (WHERE r.entry_id IS NOT NULL AND r.kind = 'same_level'),
       count(*) FILTER (WHERE r.outcome = 'lapsed'),
       count(*) FILTER (WHERE r.outcome = 'passed_up')
FROM referrals_rewardrecord r JOIN points_order o ON o.id = r.order_id
LEFT JOIN points_entry e ON e.id = r.entry_id LEFT JOIN points_account a ON a.id = e.account_id
WHERE o.external_id LIKE %s
"""


def check(cursor, runs: list[Run]) -> dict:
    """Every order was stored and earned its points; every ``with`` order was rewarded, its paid
    rewards are ledger entries of the right size on the beneficiary's account, none of the
    ``without`` orders was; all accounts hold their invariants (totals = lots = Σ entries)."""
    warm = sum(len(part) for part in runs[0].warm)
    for side in ("with", "without"):
        expected = sum(r.orders + warm for r in runs if r.side == side)
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE entry_id IS NOT NULL), "
            "count(*) FILTER (WHERE EXISTS (SELECT 1 FROM referrals_rewardedorder ro "
            "WHERE ro.order_id = o.id)) FROM points_order o WHERE external_id LIKE %s",
            [f"ref-{side}-%"],
        )
        stored, earned, rewarded = cursor.fetchone()
        want_rewarded = stored if side == "with" else 0
        if stored != expected or earned != stored or rewarded != want_rewarded:
            raise AssertionError(f"{side}: {stored} orders stored ({expected} sent), {earned} with "
                                 f"points, {rewarded} rewarded (expected {want_rewarded})")
    cursor.execute(REWARD_CHECK, ["ref-without-%"])
    if cursor.fetchone()[0]:
        raise AssertionError("orders without referrals have reward records")
    cursor.execute(REWARD_CHECK, ["ref-with-%"])
    records, paid, points, wrong, direct, team, same, lapsed, passed = cursor.fetchone()
    if not paid or not points or wrong:
        raise AssertionError(f"rewards: {records} records, {paid} paid ({points} points), "
                             f"{wrong} not matching their ledger entry")
    cursor.execute(LEDGER_CHECK)
    broken, accounts = cursor.fetchone()
    if broken:
        raise AssertionError(f"{broken} accounts break the ledger invariants")
    return {"records": records, "paid": paid, "points": points, "direct": direct, "team": team,
            "same_level": same, "lapsed": lapsed, "passed_up": passed, "accounts": accounts}


# --------------------------------------------------------------------------- run


def run(*, members: int = 100_000, depth: int = 50, orders: int = 1000, rounds: int = 3,
        threads: int = 8, keep: bool = False, verbose: bool = False,
        statements_sample: int = 0) -> dict:
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("ref", keep=keep) as server:
        from django.conf import settings
        from django.db import connection

        from bench.postings import run_threads
        from mall.models import Member
        from referrals.services.plans import published_plan

        started = time.perf_counter()
        leader_at = published_plan().upgrade_threshold
        tree = build_tree(members, depth, leader_at=leader_at)
        with connection.cursor() as cursor:
            ids = fill(cursor, tree)
            shape = check_tree(cursor, depth, members, leader_at)
        if verbose:
            say(f"        tree: {shape['nodes']:,} members, depth {shape['depth']}, "
                f"{shape['leaders']:,} leaders, most invitees {max(tree.direct)}; "
                f"built in {time.perf_counter() - started:.1f}s")
        runs = plan_runs(tree, ids, orders=orders, threads=threads, rounds=rounds)
        # DEBUG=1 only supplies development secrets; its query log is not part of the work.
        settings.DEBUG = False
        connection.close()
        server.checkpoint()
        for r in runs:
            if r.side == "with":
                with connection.cursor() as cursor:
                    cursor.execute("UPDATE referrals_node SET rewards_since_purchase = 0 "
                                   "WHERE rewards_since_purchase <> 0")
                connection.close()
            r.seconds = run_threads(r, worker)
            if verbose:
                say(f"        round {r.round} {r.side:<7} {r.orders} orders in {r.seconds:.2f}s "
                    f"= {r.rate:.0f}/s")
        rate = {side: statistics.median(r.rate for r in runs if r.side == side)
                for side in ("with", "without")}
        per_round = [next(r for r in runs if r.round == n and r.side == "with").rate
                     / next(r for r in runs if r.round == n and r.side == "without").rate
                     for n in range(rounds)]
        ratio = statistics.median(per_round)
        with connection.cursor() as cursor:
            checked = check(cursor, runs)
        with_orders = sum(r.orders + sum(len(part) for part in r.warm)
                          for r in runs if r.side == "with")
        per_order = checked["paid"] / with_orders
        if verbose and rounds > 1:
            say(f"        ratio per round {', '.join(f'{x:.2f}' for x in per_round)}")
        if verbose:
            say(f"        rewards: {checked['paid']:,} paid ({checked['direct']:,} direct, "
                f"{checked['team']:,} team, {checked['same_level']:,} same level; "
                f"{checked['passed_up']:,} of them passed up), {checked['lapsed']:,} lapsed, "
                f"{checked['points']:,} points; ledger invariants hold on all "
                f"{members:,} accounts ({checked['accounts']:,} with entries)")
        sample = {}
        if statements_sample:
            rng = random.Random(SEED + 2)
            buyers = draw_buyers(tree, ids, statements_sample, rng)
            objects = Member.objects.in_bulk(set(buyers))
            chosen = [objects[pk] for pk in buyers]
            for side in ("with", "without"):
                sample[side] = statements(side, chosen, "ref-count")
            connection.close()
        verdict = "" if ratio >= GOAL else "   MISSED"
        say(f"order with referral rewards {rate['with']:6.0f}/s  order without {rate['without']:6.0f}/s  "
            f"ratio {ratio:4.2f}  (goal >= {GOAL:.2f})  [{members:,} members, depth {depth}, "
            f"{threads} threads, rewards per order avg {per_order:.2f}]{verdict}")
        if sample:
            for side in ("with", "without"):
                lists, paid = sample[side]
                counts = [len(x) for x in lists]
                say(f"        statements per order, {side}: mean {statistics.mean(counts):.1f}, "
                    f"min {min(counts)}, max {max(counts)} (over {len(lists)} orders)")
            lists, paid = sample["with"]
            # The statements of a typical full order: three paid rewards, if the sample has one.
            pick = next((n for n, count in enumerate(paid) if count == 3), 0)
            full = lists[pick]
            say(f"        a 'with' order paying {paid[pick]} rewards, {len(full)} statements:")
            for n, text in enumerate(full, 1):
                say(f"          {n:>2}. {text}")
            say(f"        a 'without' order, {len(sample['without'][0][0])} statements:")
            for n, text in enumerate(sample["without"][0][0], 1):
                say(f"          {n:>2}. {text}")
        return {"with": rate["with"], "without": rate["without"], "ratio": ratio,
                "per_round": per_round, "per_order": per_order, **checked}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="members in the tree (100,000)")
    parser.add_argument("--depth", type=int, default=50, help="depth of the invite tree (50)")
    parser.add_argument("--orders", type=int, default=1000, help="orders per side per round (1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, sides alternating first (3)")
    parser.add_argument("--threads", type=int, default=8, help="threads per side (8)")
    parser.add_argument("--statements", type=int, default=0, metavar="N",
                        help="after the rounds, count the statements of N more orders per side "
                             "and list those of one (untimed)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round")
    args = parser.parse_args(argv)
    if args.depth < 1 or args.members <= args.depth or args.orders < args.threads or args.rounds < 1:
        parser.error("--members must exceed --depth >= 1, --orders >= --threads, --rounds >= 1")
    run(members=args.members, depth=args.depth, orders=args.orders, rounds=args.rounds,
        threads=args.threads, keep=args.keep, verbose=args.verbose,
        statements_sample=args.statements)
    return 0


if __name__ == "__main__":
    sys.exit(main())
