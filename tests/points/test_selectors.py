from datetime import date, timedelta

from points import services
from points.selectors import Balance, balance, recent_entries
from tests.points.ledger import T0, at, clock


def test_balance_without_an_account_is_zero(member):
    assert balance(member) == Balance()


def test_balance_reports_every_total_and_points_expiring_per_month(member, staff, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 2, 1))   # Jan 31
        services.earn(member, 30, key="e2", reason="r", expires_at=at(2026, 1, 20))   # Jan 19
        services.earn(member, 40, key="e3", reason="r", expires_at=at(2026, 3, 15))   # Mar 14
        services.earn(member, 25, key="e4", reason="r", expires_at=services.NEVER)
        services.earn(member, 60, key="e5", reason="r", expires_at=at(2026, 4, 1),
                      available_at=T0 + timedelta(days=3))
        services.earn(member, 70, key="e6", reason="r", expires_at=at(2028, 1, 1))    # past the horizon
        services.spend(member, 50, key="s1", reason="r")  # 30 of e2, 20 of e1
        services.hold(member, 10, key="h1")  # 10 of e1, not counted as expiring

    result = balance(member, now=T0)

    assert result == Balance(
        available=205, pending=60, held=10, debt=0,
        lifetime_earned=325, lifetime_spent=50, lifetime_expired=0,
        expiring=[(date(2026, 1, 31), 70), (date(2026, 3, 31), 100)],
    )
    assert ledger_invariants() == []


def test_balance_counts_a_month_end_expiry_in_the_month_before(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 10, key="e1", reason="r")  # expires 2027-02-01: last valid 2027-01-31
        services.earn(member, 5, key="e2", reason="r", expires_at=at(2026, 12, 31, 23, 59))

    assert balance(member, now=T0).expiring == [(date(2026, 12, 31), 5), (date(2027, 1, 31), 10)]
    assert balance(member, now=T0, months=3).expiring == []
    assert balance(member, now=at(2027, 1, 31, 23)).expiring == [(date(2027, 1, 31), 10)]
    assert ledger_invariants() == []


def test_balance_reports_debt(member, ledger_invariants):
    with clock(T0):
        earned = services.earn(member, 50, key="e1", reason="r")
        services.spend(member, 40, key="s1", reason="r")
        services.reverse(earned, key="r1", reason="r")

    result = balance(member, now=T0)
    assert (result.available, result.debt, result.expiring) == (0, 40, [])
    assert ledger_invariants() == []


def test_recent_entries_newest_first(member, ledger_invariants):
    with clock(T0):
        for i in range(5):
            services.earn(member, i + 1, key=f"e{i}", reason="r")

    assert [e.key for e in recent_entries(member, limit=3)] == ["e4", "e3", "e2"]
    assert [e.delta for e in recent_entries(member)] == [5, 4, 3, 2, 1]
    assert ledger_invariants() == []


def _add_spent_history(member, lots: int) -> None:
    """``lots`` old earnings of 100, each fully spent (remaining 0) by a spending of 100, written
    set-based: a long-lived account whose lots are almost all spent. The totals stay as they were
    (the history nets to 0), so the ledger invariants hold."""
    from django.db import connection

    from points.models import Account

    account = Account.objects.get(member=member)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH e AS (
                INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason,
                    reference, fingerprint, rule_version, created_at)
                SELECT %(a)s, 'old:' || k || ':' || kind, kind, CASE kind WHEN 'earn' THEN 100
                       ELSE -100 END, 0, 'r', '', '', '', %(t)s::timestamptz - interval '2 years'
                FROM generate_series(1, %(n)s) k CROSS JOIN (VALUES ('earn'), ('spend')) v(kind)
                RETURNING id, kind, split_part(key, ':', 2)::int AS k
            )
            INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at,
                expires_at, created_at)
            SELECT %(a)s, id, 100, 0, false, %(t)s::timestamptz - interval '2 years',
                   %(t)s::timestamptz + CASE WHEN k %% 50 = 0 THEN interval '3 months'
                                              ELSE -interval '1 year' END,
                   %(t)s::timestamptz - interval '2 years'
            FROM e WHERE kind = 'earn'
            """,
            {"a": account.id, "n": lots, "t": T0},
        )
        cursor.execute(
            "UPDATE points_account SET lifetime_earned = lifetime_earned + %s, "
            "lifetime_spent = lifetime_spent + %s WHERE id = %s",
            [100 * lots, 100 * lots, account.id])
        # As autovacuum would after such a load: the planner sees the account's skew.
        cursor.execute("ANALYZE points_lot")


def test_balance_of_a_long_lived_account_reads_only_its_unspent_lots(
        member, ledger_invariants, django_assert_num_queries):
    # Issue 17: the expiry breakdown must not scan every lot of an account whose history is
    # mostly spent; it is answered from the partial index of lots that still hold points.
    from django.db import connection

    from points.selectors import BALANCE_SQL

    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 2, 1))   # Jan 31
        services.earn(member, 40, key="e2", reason="r", expires_at=at(2026, 3, 15))   # Mar 14
        services.earn(member, 25, key="e3", reason="r", expires_at=services.NEVER)
        services.spend(member, 30, key="s1", reason="r")  # 30 of e1
    _add_spent_history(member, 20_000)

    with django_assert_num_queries(1):
        result = balance(member, now=T0)
    assert result == Balance(
        available=135, pending=0, held=0, debt=0, lifetime_earned=165 + 2_000_000,
        lifetime_spent=30 + 2_000_000, lifetime_expired=0,
        expiring=[(date(2026, 1, 31), 70), (date(2026, 3, 31), 40)],
    )
    assert ledger_invariants() == []

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + BALANCE_SQL,
                       {"account": member.pk, "now": T0, "horizon": at(2027, 2, 1)})
        plan = cursor.fetchone()[0]
        # The lots table is partitioned: each partition has its own copy of the partial index.
        cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "WHERE i.inhparent = 'points_lot_due_expiry'::regclass")
        due_expiry = {"points_lot_due_expiry"} | {name for (name,) in cursor.fetchall()}

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    # Whatever the node types (an index scan, or a bitmap scan of the index), every read of
    # points_lot goes through the partial index, of the one partition holding the account, and
    # none scans the table.
    on_lots = [node for node in nodes(plan[0]["Plan"])
               if node.get("Relation Name", "").startswith("points_lot")
               or node.get("Index Name", "").startswith("points_lot")]
    assert on_lots, plan
    used = {node.get("Index Name") for node in on_lots} - {None}
    assert used and used <= due_expiry, on_lots
    assert len({node["Relation Name"] for node in on_lots if "Relation Name" in node}) == 1, on_lots
    assert not [node for node in on_lots if node["Node Type"] == "Seq Scan"], on_lots
