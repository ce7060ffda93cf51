"""Time ``rules.simulation.simulate`` over 100,000 paid orders (issue 3, section 4: goal < 10 s).

    DEBUG=1 .venv/bin/python bench/bench_simulation.py               # 100,000 orders
    DEBUG=1 .venv/bin/python bench/bench_simulation.py --scale 20000 --rounds 1

Like bench/run.py it uses DATABASE_URL's server (or the embedded PostgreSQL when it is unset) but
never its database: everything happens in ``<name>_bench_sim``, dropped and recreated on each run
and dropped at the end unless ``--keep``. The orders (1-3 lines each, all paid within the last 30
days, tiers 60% normal / 30% silver / 10% gold, a mix of imported and seasonal lines) are inserted
set-based with ``INSERT ... SELECT generate_series`` and are not timed. The candidate is a clone
of the default rule set with other multipliers and bonuses. ``run(scale)`` is importable, but
sets Django up on the bench database, so call it in a process where Django is not set up yet.
"""

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL_SECONDS = 10.0
MEMBERS_PER_ORDER = 5  # one member per 5 orders: 20,000 members for 100,000 orders


def say(text: str) -> None:
    print(text, flush=True)


def _fill(cursor, scale: int) -> None:
    """``scale`` paid orders with 1-3 lines each, paid within the last 30 days (minus a minute)."""
    from django.contrib.auth.hashers import make_password

    from mall.models import Member

    members = max(1, scale // MEMBERS_PER_ORDER)
    password = make_password(None)
    batch = 5000
    for start in range(0, members, batch):
        Member.objects.bulk_create(
            Member(username=f"bench{n}", nickname=f"Bench {n}", password=password,
                   tier=("gold" if n % 10 == 0 else "silver" if n % 10 < 4 else "normal"))
            for n in range(start, min(start + batch, members))
        )
    cursor.execute("SELECT min(id) FROM mall_member WHERE username LIKE 'bench%'")
    first_member = cursor.fetchone()[0]
    cursor.execute(
        """
        INSERT INTO points_order (external_id, member_id, tier, amount, refunded_amount, paid_at,
                                  created_at, entry_id)
        SELECT 'bench-' || g, %(first)s + g %% %(members)s,
               CASE WHEN g %% 10 = 0 THEN 'gold' WHEN g %% 10 < 4 THEN 'silver' ELSE 'normal' END,
               0, 0,
               now() - interval '1 minute' - (g %% 2590000) * interval '1 second',
               now(), NULL
        FROM generate_series(1, %(scale)s) AS g
        """,
        {"first": first_member, "members": members, "scale": scale},
    )
    cursor.execute(
        """
        INSERT INTO points_orderline (order_id, sku, categories, amount, quantity)
        SELECT o.id, 'sku-' || ((o.id * 7 + k) % 500),
               CASE (o.id + k) % 5 WHEN 0 THEN ARRAY['imported']::varchar[]
                                    WHEN 1 THEN ARRAY['seasonal']::varchar[]
                                    WHEN 2 THEN ARRAY['imported', 'seasonal']::varchar[]
                                    WHEN 3 THEN ARRAY['vegetables']::varchar[]
                                    ELSE ARRAY[]::varchar[] END,
               ((o.id * 37 + k * 101) % 25000 + 100) / 100.0,
               1 + (o.id + k) % 3
        FROM points_order o CROSS JOIN LATERAL generate_series(1, 1 + o.id % 3) AS k
        """
    )
    cursor.execute(
        """
        UPDATE points_order o SET amount = l.total
        FROM (SELECT order_id, sum(amount) AS total FROM points_orderline GROUP BY order_id) l
        WHERE l.order_id = o.id
        """
    )
    cursor.execute("ANALYZE mall_member, points_order, points_orderline")


def _candidate():
    """A draft cloned from the published default with other multipliers and bonuses."""
    from rules import services
    from rules.models import CategoryBonus, RuleSet, RuleSetStatus, SpendTier, TierRule

    published = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    draft = services.clone_as_draft(published, actor=None)
    # What a staff member does in the draft's admin page (the admin saves the table rows, then
    # records the edit).
    TierRule.objects.filter(rule_set=draft, code="silver").update(multiplier=Decimal("1.3"))
    TierRule.objects.filter(rule_set=draft, code="gold").update(multiplier=Decimal("2"))
    CategoryBonus.objects.filter(rule_set=draft, category="imported").update(bonus_percent=Decimal("60"))
    SpendTier.objects.filter(rule_set=draft, threshold=Decimal("300")).update(bonus_points=50)
    services.record_edit(draft, actor=None, detail="bench candidate")
    return RuleSet.objects.get(pk=draft.pk)


def run(scale: int = 100_000, *, rounds: int = 3, keep: bool = False, verbose: bool = False) -> dict:
    """Build the bench database, time ``simulate(candidate, days=30)`` ``rounds`` times, print
    one line and return the figures."""
    from bench.dbs import django_on_bench_database

    with django_on_bench_database("sim", keep=keep) as server:
        from django.conf import settings
        from django.db import connection

        from rules.simulation import simulate_recent

        started = time.perf_counter()
        with connection.cursor() as cursor:
            _fill(cursor, scale)
        candidate = _candidate()
        if verbose:
            say(f"        filled {scale:,} orders in {time.perf_counter() - started:.1f}s")
        # DEBUG=1 only supplies development secrets; its query log is not part of the work.
        settings.DEBUG = False
        server.checkpoint()
        times, result = [], None
        for round_number in range(rounds):
            started = time.perf_counter()
            result = simulate_recent(candidate, days=30)
            times.append(time.perf_counter() - started)
            if verbose:
                say(f"        round {round_number}: {times[-1]:.2f}s, {result.orders:,} orders, "
                    f"{result.active_points:,} -> {result.candidate_points:,} points "
                    f"({result.difference:+,}), {result.members_affected:,} of {result.members:,} "
                    f"members affected, cost {result.cost_yuan} yuan")
        if result.orders != scale:
            raise AssertionError(f"simulated {result.orders} orders, expected {scale}")
        worst = max(times)
        verdict = "" if worst < GOAL_SECONDS else "   MISSED"
        runs = ", ".join(f"{t:.2f}" for t in times)
        say(f"simulate {scale} orders   {worst:.1f} s   (goal < {GOAL_SECONDS:.0f} s){verdict}"
            f"   [slowest of {rounds}: {runs} s; median {statistics.median(times):.2f} s; "
            f"{os.cpu_count()} cores]")
        return {"scale": scale, "seconds": times, "worst": worst, "orders": result.orders,
                "active_points": result.active_points, "candidate_points": result.candidate_points,
                "members_affected": result.members_affected, "cost_yuan": result.cost_yuan}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000, help="paid orders (default 100,000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.scale < 1 or args.rounds < 1:
        parser.error("--scale and --rounds must be at least 1")
    run(args.scale, rounds=args.rounds, keep=args.keep, verbose=args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
