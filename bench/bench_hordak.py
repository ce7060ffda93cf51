"""Our ledger side by side with django-hordak 2.0.0, the Django ledger a user would pick instead
(issue 17, "peers side by side").

    DEBUG=1 .venv/bin/python bench/bench_hordak.py                  # postings and balance reads
    DEBUG=1 .venv/bin/python bench/bench_hordak.py --part balance --lots 10000,100000

hordak is a bench-only dependency (requirements-bench.txt) and never enters the project's
INSTALLED_APPS: each side runs in a child process of its own, on a database of its own, with
its own settings module (ours ``mall.settings`` on ``<name>_bench_peer_ours``, hordak's
``bench.hordak_settings`` on ``<name>_bench_peer_hordak``). This process only creates the
databases, tells the children what to do (one JSON line each way) and prints the ratios.

Postings: 1,000 accounts (``--accounts``) a round and side, fresh ones, split over 8 threads
(``--threads``), each thread posting round-robin to its own 125 (no two threads share an account),
``--postings`` a round; rounds (``--rounds``) alternate which side goes first; the ratio printed
is the median of the rounds' ratios ours ÷ hordak.

- earn: ours ``points.services.earn(member, 128, key=..., reason=..., reference=...)`` called
  the plain way (no ``expires_at``: the default expiry of the published rule set);
  hordak ``member_account.transfer_to(points_issued, Money(128))``: a transaction and its two
  legs, credit on the member's liability account, debit on an expense account.
- spend: ours ``points.services.spend(member, 23, key=..., reason=..., reference=...)`` on
  accounts holding 5 lots; hordak has no overdraft check, so we wrote the one a user would:
  ``select_for_update()`` of the member's account row, its balance with hordak's
  ``get_simple_balance()`` (a SUM of the account's legs), then ``income.transfer_to(member_account,
  Money(23))`` — inside ``transaction.atomic()``, so hordak's own atomic becomes a savepoint.
  Each hordak account starts with 5 credit legs of 100, as ours with 5 lots of 100.

Ours does more per posting: the account lock, the overdraft check, lots (soonest expiry first,
with allocation rows), the idempotency key and its fingerprint, and the append-only journal.
After every round both children check their accounts (ours: the ledger invariants; hordak: the
legs' sum) and both sides must end with the same Σ balance and the same number of postings.

Balance reads: one account with 10,000 / 100,000 / 1,000,000 lots (``--lots``), grown in place,
ANALYZEd after each load (as autovacuum would). The mix is a long-lived account's: 120 lots
unspent (a year of earnings, expiring over the next 12 months, every tenth partly spent), the
rest fully spent (remaining 0; one in a hundred spent before its expiry, which is still ahead,
the others past it). Ours is ``points.selectors.balance(member)`` (the totals and the 12-month expiry
breakdown); hordak's is ``account.get_balance()`` on an account with as many legs (every other
half credits of 100, half debits of 60, each with its counter-leg on a second account).
The median of ``--reads`` reads is printed; goal: ours <= 2 ms at 1,000,000 lots.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EARN_POINTS = 128
SPEND_POINTS = 23
START_LOTS = 5
LOT_AMOUNT = 100
WARMUP_PER_THREAD = 20
LIVE_LOTS = 120
BALANCE_GOAL_MS = 2.0
RATIO_GOAL, RATIO_TARGET = 1.0, 1.5


def say(text: str) -> None:
    print(text, flush=True)


# =========================================================================== children
# A child runs one side. It reads a JSON command a line from stdin and answers with one JSON line
# on the stdout it started with; anything else printed goes to stderr.


class OursSide:
    def __init__(self):
        from django.conf import settings

        # DEBUG=1 only supplies the development secrets; its query log is not part of the service.
        settings.DEBUG = False
        self.rounds = {}
        self.balance_member = None

    # ---------------------------------------------------------------- postings
    def prepare(self, kind, rnd, accounts, threads):
        from django.db import connection

        from bench.postings import add_spend_lots, create_accounts

        with connection.cursor() as cursor:
            pairs = create_accounts(cursor, f"peer-{kind}-{rnd}-", accounts + 2 * threads)
            if kind == "spend":
                add_spend_lots(cursor, [account for _member, account in pairs])
            cursor.execute("ANALYZE mall_member, points_account, points_entry, points_lot")
        connection.close()
        self.rounds[(kind, rnd)] = pairs
        return {}

    def run(self, kind, rnd, postings, threads):
        from django.db import connection

        from bench.postings import timed_threads
        from mall.models import Member
        from points import services

        pairs = self.rounds[(kind, rnd)]
        timed, warm = _split(pairs, threads)

        def worker(t, barrier, ends):
            try:
                members = Member.objects.in_bulk([m for m, _a in timed[t] + warm[t]])
                mine = [members[m] for m, _a in timed[t]]
                spare = [members[m] for m, _a in warm[t]]
                if kind == "earn":
                    def post(member, key, i):
                        services.earn(member, EARN_POINTS, key=key, reason="bench earn",
                                      reference=f"order-{i}")
                else:
                    def post(member, key, i):
                        services.spend(member, SPEND_POINTS, key=key, reason="bench spend",
                                       reference=f"redemption-{i}")
                for i in range(WARMUP_PER_THREAD):
                    post(spare[i % len(spare)], f"peer:{kind}:{rnd}:{t}:w:{i}", i)
                barrier.wait()
                for i in range(_share(postings, threads, t)):
                    post(mine[i % len(mine)], f"peer:{kind}:{rnd}:{t}:t:{i}", i)
                ends[t] = time.perf_counter()
            finally:
                connection.close()

        seconds = timed_threads(threads, worker, name=f"ours-{kind}")
        from bench.postings import CHECK_SQL

        with connection.cursor() as cursor:
            ids = [account for _member, account in pairs]
            cursor.execute(CHECK_SQL, {"ids": ids})
            broken, available, entries = cursor.fetchone()
        connection.close()
        if broken:
            raise AssertionError(f"ours {kind} round {rnd}: {broken} accounts break the invariants")
        setup = START_LOTS * len(ids) if kind == "spend" else 0
        return {"seconds": seconds, "balance": int(available), "postings": int(entries) - setup}

    # ---------------------------------------------------------------- balance reads
    def load_lots(self, total):
        """Grow the one balance account to ``total`` lots (see the module docstring for the mix)."""
        from django.db import connection

        from bench.postings import create_accounts

        with connection.cursor() as cursor:
            if self.balance_member is None:
                [(member, account)] = create_accounts(cursor, "peer-balance-", 1)
                self.balance_member, self.balance_account, self.lots = member, account, 0
                # The live lots first: a year of earnings, expiring over the next 12 months.
                self._insert_lots(cursor, 1, LIVE_LOTS, live=True)
            start = self.lots + 1 if self.lots else LIVE_LOTS + 1
            step = 100_000
            for low in range(start, total + 1, step):
                self._insert_lots(cursor, low, min(total, low + step - 1), live=False)
            self.lots = total
            cursor.execute(
                "UPDATE points_account a SET available = l.available, lifetime_earned = l.amount, "
                "lifetime_spent = l.amount - l.available "
                "FROM (SELECT SUM(remaining) AS available, SUM(amount) AS amount FROM points_lot "
                "      WHERE account_id = %s) l WHERE a.id = %s",
                [self.balance_account, self.balance_account])
            # What autovacuum would do after such a load (PostgreSQL 13+ vacuums after inserts too):
            # statistics, hint bits and the visibility map, so no worker wakes up mid-reading.
            cursor.execute("VACUUM ANALYZE points_account, points_entry, points_lot")
        connection.close()
        return {}

    def _insert_lots(self, cursor, low, high, *, live):
        # Lot k's entry is its earning; spent lots keep remaining 0 (their spendings' entries and
        # allocations are not written: the balance read never looks at them).
        # (``%%``: the statement has parameters.)
        remaining = ("CASE WHEN k %% 10 = 0 THEN 40 ELSE 100 END" if live else "0")
        expires = ("now() + ((k %% 12) + 1) * interval '1 month' - interval '1 day'" if live else
                   "CASE WHEN k %% 100 = 0 THEN now() + interval '6 months' "
                   "ELSE now() - interval '1 day' * (1 + k %% 3650) END")
        cursor.execute(
            f"""
            WITH e AS (
                INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason,
                    reference, fingerprint, rule_version, created_at)
                SELECT %(account)s, 'peer-balance:' || k, 'earn', {LOT_AMOUNT}, {LOT_AMOUNT},
                       'bench balance', '', '', '', now()
                FROM generate_series(%(low)s::bigint, %(high)s::bigint) k
                RETURNING id, split_part(key, ':', 2)::bigint AS k
            )
            INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at,
                expires_at, created_at)
            SELECT %(account)s, id, {LOT_AMOUNT}, {remaining}, false, now() - interval '400 days',
                   {expires}, now() - interval '400 days'
            FROM e ORDER BY id
            """,
            {"account": self.balance_account, "low": low, "high": high},
        )

    def read_balance(self, reads):
        from django.db import connection

        from mall.models import Member
        from points import selectors

        member = Member.objects.get(pk=self.balance_member)
        for _ in range(3):
            selectors.balance(member)
        times = []
        for _ in range(reads):
            started = time.perf_counter()
            result = selectors.balance(member)
            times.append(time.perf_counter() - started)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(remaining), 0) FROM points_lot WHERE account_id = %s "
                "AND remaining > 0 AND expires_at > now()", [self.balance_account])
            expiring = cursor.fetchone()[0]
        connection.close()
        # Every live lot expires within the 12 months the breakdown covers.
        if sum(points for _day, points in result.expiring) != expiring or \
                result.available != expiring:
            raise AssertionError(f"ours balance at {self.lots} lots: {result} vs {expiring} expiring")
        return {"ms": statistics.median(times) * 1000, "balance": result.available}


class HordakSide:
    def __init__(self):
        from djmoney.money import Money
        from hordak.models import Account

        self.Money = Money
        self.expense, _ = Account.objects.get_or_create(name="Points issued", type="EX")
        self.income, _ = Account.objects.get_or_create(name="Points redeemed", type="IN")
        self.rounds = {}
        self.balance_account = None

    def _create_accounts(self, cursor, prefix, count):
        # Set-based, like ours: root accounts (an MPTT root is lft 1, rght 2, level 0 in a tree of
        # its own), liability type (points owed to the member), in the one currency.
        cursor.execute(
            "INSERT INTO hordak_account (uuid, name, code, type, is_bank_account, lft, rght, "
            "tree_id, level, parent_id, full_code, currencies) "
            "SELECT gen_random_uuid(), %s || g, NULL, 'LI', false, 1, 2, "
            "(SELECT COALESCE(MAX(tree_id), 0) FROM hordak_account) + g, 0, NULL, NULL, "
            "'[\"CNY\"]'::jsonb FROM generate_series(1, %s) g ORDER BY g RETURNING id",
            [prefix, count],
        )
        return sorted(row[0] for row in cursor.fetchall())

    def _credit_legs(self, cursor, accounts, per_account, amount, debit_account, *, spends=0,
                     spend_amount=0):
        """``per_account`` transactions per account crediting it ``amount`` (counter-leg a debit on
        ``debit_account``), then ``spends`` debiting it ``spend_amount``; set-based."""
        cursor.execute(
            """
            WITH t AS (
                INSERT INTO hordak_transaction (uuid, timestamp, date, description)
                SELECT gen_random_uuid(), now(), current_date, a || ':' || k
                FROM unnest(%(accounts)s::bigint[]) a CROSS JOIN generate_series(1, %(n)s) k
                ORDER BY a, k
                RETURNING id, split_part(description, ':', 1)::bigint AS account,
                          split_part(description, ':', 2)::int AS k
            ), credit AS (
                SELECT id, account, k, k > %(n)s - %(spends)s AS spend FROM t
            )
            INSERT INTO hordak_leg (uuid, transaction_id, account_id, credit, debit, currency,
                description)
            SELECT gen_random_uuid(), id, account,
                   CASE WHEN spend THEN NULL ELSE %(amount)s END,
                   CASE WHEN spend THEN %(spend_amount)s END, 'CNY', ''
            FROM credit
            UNION ALL
            SELECT gen_random_uuid(), id, CASE WHEN spend THEN %(income)s ELSE %(other)s END,
                   CASE WHEN spend THEN %(spend_amount)s END,
                   CASE WHEN spend THEN NULL ELSE %(amount)s END, 'CNY', ''
            FROM credit
            """,
            {"accounts": accounts, "n": per_account, "amount": amount, "other": debit_account,
             "spends": spends, "spend_amount": spend_amount, "income": self.income.pk},
        )

    # ---------------------------------------------------------------- postings
    def prepare(self, kind, rnd, accounts, threads):
        from django.db import connection

        with connection.cursor() as cursor:
            ids = self._create_accounts(cursor, f"peer-{kind}-{rnd}-", accounts + 2 * threads)
            if kind == "spend":
                self._credit_legs(cursor, ids, START_LOTS, LOT_AMOUNT, self.expense.pk)
            cursor.execute("ANALYZE hordak_account, hordak_transaction, hordak_leg")
        connection.close()
        self.rounds[(kind, rnd)] = [(account, account) for account in ids]
        return {}

    def run(self, kind, rnd, postings, threads):
        from django.db import connection, transaction
        from hordak.models import Account

        from bench.postings import timed_threads

        pairs = self.rounds[(kind, rnd)]
        timed, warm = _split(pairs, threads)
        Money, expense, income = self.Money, self.expense, self.income

        def worker(t, barrier, ends):
            try:
                accounts = Account.objects.in_bulk([a for a, _ in timed[t] + warm[t]])
                mine = [accounts[a] for a, _ in timed[t]]
                spare = [accounts[a] for a, _ in warm[t]]
                if kind == "earn":
                    def post(account, i):
                        account.transfer_to(expense, Money(EARN_POINTS, "CNY"),
                                            description=f"bench earn order-{i}")
                else:
                    amount = Money(SPEND_POINTS, "CNY")

                    def post(account, i):
                        # What hordak leaves to its user: lock, check the balance, then transfer.
                        with transaction.atomic():
                            locked = Account.objects.select_for_update().get(pk=account.pk)
                            if locked.get_simple_balance()["CNY"] < amount:
                                raise RuntimeError(f"hordak account {account.pk} ran out")
                            income.transfer_to(locked, amount,
                                               description=f"bench spend redemption-{i}")
                for i in range(WARMUP_PER_THREAD):
                    post(spare[i % len(spare)], i)
                barrier.wait()
                for i in range(_share(postings, threads, t)):
                    post(mine[i % len(mine)], i)
                ends[t] = time.perf_counter()
            finally:
                connection.close()

        seconds = timed_threads(threads, worker, name=f"hordak-{kind}")
        ids = [account for account, _ in pairs]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(COALESCE(credit, 0) - COALESCE(debit, 0)), 0), count(*) "
                "FROM hordak_leg WHERE account_id = ANY(%s)", [ids])
            balance, legs = cursor.fetchone()
            # hordak's own invariant: every transaction's legs sum to zero (its deferred trigger
            # checked it at each commit; checked again here for the round's transactions).
            cursor.execute(
                "SELECT count(*) FROM (SELECT transaction_id FROM hordak_leg WHERE transaction_id IN "
                "(SELECT transaction_id FROM hordak_leg WHERE account_id = ANY(%s)) "
                "GROUP BY transaction_id HAVING SUM(COALESCE(credit, 0) - COALESCE(debit, 0)) <> 0) x",
                [ids])
            unbalanced = cursor.fetchone()[0]
        connection.close()
        if unbalanced:
            raise AssertionError(f"hordak {kind} round {rnd}: {unbalanced} unbalanced transactions")
        setup = START_LOTS * len(ids) if kind == "spend" else 0
        return {"seconds": seconds, "balance": int(balance), "postings": int(legs) - setup}

    # ---------------------------------------------------------------- balance reads
    def load_lots(self, total):
        from django.db import connection

        with connection.cursor() as cursor:
            # The generated legs are balanced by construction; hordak's deferred per-leg triggers
            # (and the FK checks) would cost a query per leg at commit, so they are skipped while
            # loading, as bench/expiry.py skips FK triggers.
            cursor.execute("SET session_replication_role = replica")
            try:
                if self.balance_account is None:
                    [self.balance_account] = self._create_accounts(cursor, "peer-balance-", 1)
                    self.legs = self.expected = 0
                # Legs alternate: a credit of 100 (earning), a debit of 60 (spending).
                step = 100_000
                while self.legs < total:
                    n = min(step, total - self.legs)
                    earns, spends = (n + 1) // 2, n // 2
                    self._credit_legs(cursor, [self.balance_account], earns + spends, LOT_AMOUNT,
                                      self.expense.pk, spends=spends, spend_amount=60)
                    self.legs += n
                    self.expected += earns * LOT_AMOUNT - spends * 60
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
            cursor.execute("VACUUM ANALYZE hordak_account, hordak_transaction, hordak_leg")
        connection.close()
        return {}

    def read_balance(self, reads):
        from django.db import connection
        from hordak.models import Account

        account = Account.objects.get(pk=self.balance_account)
        for _ in range(3):
            account.get_balance()
        times = []
        for _ in range(reads):
            started = time.perf_counter()
            result = account.get_balance()
            times.append(time.perf_counter() - started)
        connection.close()
        if result["CNY"].amount != self.expected:
            raise AssertionError(f"hordak balance at {self.legs} legs: {result} vs {self.expected}")
        return {"ms": statistics.median(times) * 1000, "balance": int(result["CNY"].amount)}


def _split(pairs, threads):
    """The first ``2 * threads`` accounts are the warm-up ones (two a thread), the rest timed,
    round-robin over the threads."""
    warm = [pairs[2 * t:2 * t + 2] for t in range(threads)]
    rest = pairs[2 * threads:]
    timed = [rest[t::threads] for t in range(threads)]
    return timed, warm


def _share(postings, threads, t):
    base, extra = divmod(postings, threads)
    return base + (1 if t < extra else 0)


def child_main(side: str) -> None:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    connection.close()
    handler = OursSide() if side == "ours" else HordakSide()
    connection.close()
    out.write(json.dumps({"ready": side}) + "\n")
    for raw in sys.stdin:
        command = json.loads(raw)
        op = command.pop("op")
        if op == "quit":
            break
        try:
            reply = getattr(handler, op)(**command)
        except Exception:  # noqa: BLE001 - sent to the parent, which stops the run
            reply = {"error": traceback.format_exc()}
        out.write(json.dumps(reply) + "\n")


# =========================================================================== parent


class Child:
    def __init__(self, side: str, url: str, settings: str):
        env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE=settings)
        env.pop("REPLICA_DATABASE_URL", None)
        self.side = side
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", side], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.side} child exited with {self.proc.wait()}")
        reply = json.loads(line)
        if "error" in reply:
            raise SystemExit(f"the {self.side} child failed:\n{reply['error']}")
        return reply

    def call(self, op: str, **kwargs):
        self.proc.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def bench_postings(args, children) -> None:
    for kind in ("earn", "spend"):
        for rnd in range(args.rounds):
            for child in children.values():
                child.call("prepare", kind=kind, rnd=rnd, accounts=args.accounts, threads=args.threads)
        rates = {"ours": [], "hordak": []}
        for rnd in range(args.rounds):
            order = ("ours", "hordak") if rnd % 2 == 0 else ("hordak", "ours")
            results = {}
            for side in order:
                results[side] = children[side].call("run", kind=kind, rnd=rnd,
                                                    postings=args.postings, threads=args.threads)
            ours, hordak = results["ours"], results["hordak"]
            if (ours["balance"], ours["postings"]) != (hordak["balance"], hordak["postings"]):
                raise SystemExit(f"{kind} round {rnd}: the sides disagree: ours {ours}, hordak {hordak}")
            for side in order:
                rates[side].append(args.postings / results[side]["seconds"])
            if args.verbose:
                say(f"        round {rnd} ({order[0]} first): ours {rates['ours'][-1]:.0f}/s, "
                    f"hordak {rates['hordak'][-1]:.0f}/s")
        ratios = [o / h for o, h in zip(rates["ours"], rates["hordak"], strict=True)]
        ratio = statistics.median(ratios)
        verdict = "" if ratio >= RATIO_GOAL else "   MISSED"
        say(f"peer {kind:<5}  ours {statistics.median(rates['ours']):6.0f}/s   hordak "
            f"{statistics.median(rates['hordak']):6.0f}/s   ratio {ratio:4.2f}   "
            f"(goal >= {RATIO_GOAL:.1f}, target {RATIO_TARGET:.1f}){verdict}   [median of {args.rounds} "
            f"rounds, ratios {min(ratios):.2f}-{max(ratios):.2f}; {args.accounts:,} accounts, "
            f"{args.threads} threads, {args.postings} postings a round]")


def bench_balance(args, children, server) -> None:
    for total in args.lots:
        started = time.perf_counter()
        for child in children.values():
            child.call("load_lots", total=total)
        server.checkpoint()
        if args.verbose:
            say(f"        loaded {total:,} lots / legs in {time.perf_counter() - started:.0f}s")
        # Three batches a side, alternating, so a burst of load from elsewhere hits both.
        times = {"ours": [], "hordak": []}
        batch = max(1, args.reads // 3)
        for n in range(3):
            for side in (("ours", "hordak") if n % 2 == 0 else ("hordak", "ours")):
                times[side].append(children[side].call("read_balance", reads=batch)["ms"])
        ours, hordak = statistics.median(times["ours"]), statistics.median(times["hordak"])
        flat = ours <= BALANCE_GOAL_MS
        verdict = "" if flat else "   MISSED"
        say(f"balance {total:>9,} lots   ours {ours:7.2f} ms   hordak {hordak:7.2f} ms   "
            f"hordak/ours {hordak / ours:6.1f}   (goal: ours <= {BALANCE_GOAL_MS:.0f} ms, "
            f"flat){verdict}   [median of 3 x {batch} reads a side; {LIVE_LOTS} lots unspent]")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["postings", "balance"], action="append",
                        help="run only this part (repeatable; default both)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of each posting kind (7)")
    parser.add_argument("--postings", type=int, default=4000, help="postings a side and round (4000)")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts a side and round (1000)")
    parser.add_argument("--threads", type=int, default=8, help="threads a side (8)")
    parser.add_argument("--lots", default="10000,100000,1000000",
                        help="lots (legs) of the balance account, comma-separated, ascending")
    parser.add_argument("--reads", type=int, default=30, help="balance reads timed per size (30)")
    parser.add_argument("--quick", action="store_true",
                        help="--rounds 3 --postings 1000 --lots 10000,100000 --reads 10")
    parser.add_argument("--keep", action="store_true", help="keep the two databases")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--child", choices=["ours", "hordak"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.postings, args.lots, args.reads = 3, 1000, "10000,100000", 10
    args.lots = sorted(int(n) for n in str(args.lots).split(","))
    if args.accounts < args.threads or args.postings < args.threads or args.lots[0] <= LIVE_LOTS:
        parser.error(f"--accounts and --postings must be >= --threads, --lots > {LIVE_LOTS}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(args.child)
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    os.environ.setdefault("DEBUG", "1")
    try:
        import hordak  # noqa: F401 - only to say what is missing
    except ImportError:
        say("peer    skipped: django-hordak is not installed (pip install -r requirements-bench.txt)")
        return 0
    from mall.embedded import ensure_database

    ensure_database()
    from bench.dbs import Server, url_name

    dev_url = os.environ["DATABASE_URL"]
    base = f"{url_name(dev_url)}_bench_peer"[:50]
    server = Server(dev_url)
    children = {}
    started = time.perf_counter()
    try:
        urls = {side: server.create(f"{base}_{side}") for side in ("ours", "hordak")}
        children["ours"] = Child("ours", urls["ours"], "mall.settings")
        children["hordak"] = Child("hordak", urls["hordak"], "bench.hordak_settings")
        parts = args.part or ["postings", "balance"]
        if "postings" in parts:
            bench_postings(args, children)
        if "balance" in parts:
            bench_balance(args, children, server)
        if args.verbose:
            say(f"        peer bench done in {time.perf_counter() - started:.0f}s")
        return 0
    finally:
        for child in children.values():
            child.close()
        if not args.keep:
            server.drop_all()
        server.close()


if __name__ == "__main__":
    sys.exit(main())
