"""``earn_many`` granting points to many members against a batched plain-SQL insert of the same
rows (issue 10: the win-back job's posting path; goal ratio >= 0.5).

    DEBUG=1 .venv/bin/python bench/bench_grants.py                 # 50,000 members, 3 rounds
    DEBUG=1 .venv/bin/python bench/bench_grants.py --members 10000 --rounds 1

Like bench/run.py it uses DATABASE_URL's server (or the embedded PostgreSQL when it is unset) but
never its database: everything happens in ``<name>_bench_grants``, dropped and recreated on each
run and dropped at the end unless ``--keep``. ``--members`` members with accounts (set-based, not
timed). Each round grants every member 50 points twice, once per side, in chunks of
``points.services.batch.CHUNK`` members, each chunk its own transaction:

* ``service``: ``points.services.earn_many([(member_id, 50), ...], key_prefix=..., reason=...)``
  — what ``mall.jobs.win_back`` calls (validation, fingerprints, locks in id order, one statement);
* ``sql``: the same rows by hand — lock the accounts in id order, then one statement that credits
  the accounts and inserts the entries (with their balance after) and the lots.

Sides alternate which goes first; the ratio is sql time / service time (1.0 = as fast as plain
SQL), the median of the rounds'. Afterwards every account's totals are checked against its lots
and entries, so neither side can pass by writing less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL = 0.5
POINTS = 50


def say(text: str) -> None:
    print(text, flush=True)


SQL_GRANT = """
WITH v AS (SELECT * FROM unnest(%(members)s::bigint[]) AS v(member_id)),
account AS (
    UPDATE points_account a
       SET available = a.available + %(points)s, lifetime_earned = a.lifetime_earned + %(points)s
      FROM v WHERE a.member_id = v.member_id
    RETURNING a.id, a.member_id, a.available + a.pending + a.held - a.debt AS total
), entry AS (
    INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason, reference,
                              fingerprint, rule_version, created_at)
    SELECT id, %(prefix)s || ':' || member_id, 'earn', %(points)s, total, %(reason)s, 'win-back',
           '', '', now()
      FROM account ORDER BY member_id
    RETURNING id, account_id
)
INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at, expires_at,
                        created_at)
SELECT account_id, id, %(points)s, %(points)s, false, now(), %(expires)s, now() FROM entry
"""


def sql_side(member_ids, prefix, chunk, expires_at):
    from django.db import connection, transaction

    for offset in range(0, len(member_ids), chunk):
        members = member_ids[offset:offset + chunk]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT id FROM points_account WHERE member_id = ANY(%s) ORDER BY id "
                           "FOR UPDATE", [members])
            cursor.fetchall()
            cursor.execute(SQL_GRANT, {"members": members, "points": POINTS, "prefix": prefix,
                                       "reason": "唤醒礼", "expires": expires_at})


def service_side(member_ids, prefix, chunk):
    from django.db import transaction

    from points import services

    for offset in range(0, len(member_ids), chunk):
        with transaction.atomic():
            services.earn_many([(pk, POINTS) for pk in member_ids[offset:offset + chunk]],
                               key_prefix=prefix, reason="唤醒礼", reference="win-back")


def check(cursor, members: int, rounds: int) -> None:
    from tests.conftest import INVARIANT_SQL

    cursor.execute(INVARIANT_SQL)
    bad = cursor.fetchall()
    if bad:
        raise AssertionError(f"ledger invariants broken for {len(bad)} accounts, e.g. {bad[:3]}")
    cursor.execute("SELECT count(*), sum(available) FROM points_account")
    count, available = cursor.fetchone()
    expected = members * rounds * 2 * POINTS
    if count != members or available != expected:
        raise AssertionError(f"{count} accounts holding {available} points, expected {expected}")


def run(*, members: int = 50_000, rounds: int = 3, keep: bool = False, verbose: bool = False) -> dict:
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("grants", keep=keep) as server:
        from django.conf import settings
        from django.db import connection

        from bench.postings import create_accounts
        from points.policy import default_expires_at
        from points.services import batch

        settings.DEBUG = False  # DEBUG=1 supplies development secrets; its query log is not work
        with connection.cursor() as cursor:
            member_ids = [member for member, _account in create_accounts(cursor, "grant", members)]
            cursor.execute("ANALYZE mall_member, points_account")
        server.checkpoint()
        from django.utils import timezone

        expires_at = default_expires_at(timezone.now())
        ratios, service_times, sql_times = [], [], []
        for number in range(rounds):
            sides = [("service", lambda p: service_side(member_ids, p, batch.CHUNK)),
                     ("sql", lambda p: sql_side(member_ids, p, batch.CHUNK, expires_at))]
            if number % 2:
                sides.reverse()
            timings = {}
            for name, side in sides:
                started = time.perf_counter()
                side(f"{name}:{number}")
                timings[name] = time.perf_counter() - started
            service_times.append(timings["service"])
            sql_times.append(timings["sql"])
            ratios.append(timings["sql"] / timings["service"])
            if verbose:
                say(f"        round {number}: service {timings['service']:.2f}s, "
                    f"sql {timings['sql']:.2f}s, ratio {ratios[-1]:.2f}")
        with connection.cursor() as cursor:
            check(cursor, members, rounds)
        ratio = statistics.median(ratios)
        service_rate = members / statistics.median(service_times)
        sql_rate = members / statistics.median(sql_times)
        verdict = "" if ratio >= GOAL else "   MISSED"
        say(f"grants  earn_many {service_rate:>9,.0f}/s   sql {sql_rate:>9,.0f}/s   ratio {ratio:4.2f}   "
            f"(goal >= {GOAL}){verdict}   [{members:,} members per side per round, chunks of "
            f"{batch.CHUNK:,}; rounds {', '.join(f'{r:.2f}' for r in ratios)}]")
        return {"ratio": ratio, "ratios": ratios, "service_rate": service_rate, "sql_rate": sql_rate}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50_000, help="members (default 50,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.members < 1 or args.rounds < 1:
        parser.error("--members and --rounds must be at least 1")
    run(members=args.members, rounds=args.rounds, keep=args.keep, verbose=args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
