"""The ledger is hash-partitioned by account (points migration 0013): 16 partitions per table,
the account in every key, the CHECKs and the append-only trigger on every partition, and a
migration that moves existing rows (renumbering accounts to their members' ids)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from points import services
from points.distribution import DISTRIBUTED
from points.models import Entry
from tests.factories import MemberFactory
from tests.points.ledger import T0, clock, entries, totals

pytestmark = pytest.mark.django_db

LEDGER = DISTRIBUTED  # table -> partition key (the distribution column)


def _rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _partition_of(table: str, key_column: str, value: int) -> str:
    return _rows(f"SELECT tableoid::regclass::text FROM {table} WHERE {key_column} = %s LIMIT 1",
                 [value])[0][0]


def _refused(sql, params=()):
    with pytest.raises(IntegrityError) as caught, transaction.atomic(), connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")  # foreign keys checked now, not at commit
        c.execute(sql, params)
    return caught.value


def test_every_ledger_table_has_16_hash_partitions_by_account():
    for table, column in LEDGER.items():
        strategy, key = _rows(
            "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
            "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "WHERE p.partrelid = %s::regclass AND p.partnatts = 1", [table])[0]
        assert (strategy, key) == ("h", column), table
        bounds = sorted(row[0] for row in _rows(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass", [table]))
        assert bounds == sorted(f"FOR VALUES WITH (modulus 16, remainder {n})" for n in range(16))


def test_every_primary_and_unique_key_includes_the_account_on_parents_and_partitions():
    tables = list(LEDGER) + [f"{table}_p{n:02d}" for table in LEDGER for n in range(16)]
    checked = 0
    for relation, columns in _rows(
        "SELECT c.relname, ARRAY(SELECT a.attname FROM unnest(i.indkey) k "
        "                      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "WHERE (i.indisunique OR i.indisprimary) AND c.relname = ANY(%s)", [tables]):
        parent = relation.rsplit("_p", 1)[0] if relation not in LEDGER else relation
        assert LEDGER[parent] in columns, (relation, columns)
        checked += 1
    # Accounts: the primary key; entries and refusals: the primary key and the per-account key;
    # the other three: the primary key. On the parent and on each of the 16 partitions.
    assert checked == (1 + 2 + 1 + 1 + 1 + 2) * 17


def test_an_account_id_is_its_member_id():
    member = MemberFactory()
    with clock(T0):
        services.earn(member, 10, key="e1", reason="r")
    assert member.points_account.pk == member.pk
    other = MemberFactory()
    _refused("INSERT INTO points_account (id, member_id, available, pending, held, debt, "
             "lifetime_earned, lifetime_spent, lifetime_expired) VALUES (%s, %s, 0, 0, 0, 0, 0, 0, 0)",
             [other.pk + 100000, other.pk])
    # One account per member: the primary key on id = member_id refuses a second one.
    _refused("INSERT INTO points_account (id, member_id, available, pending, held, debt, "
             "lifetime_earned, lifetime_spent, lifetime_expired) VALUES (%s, %s, 0, 0, 0, 0, 0, 0, 0)",
             [member.pk, member.pk])


def test_the_append_only_trigger_fires_on_every_partition_and_through_the_parent():
    assert _rows(
        "SELECT count(*) FROM pg_trigger t JOIN pg_inherits i ON i.inhrelid = t.tgrelid "
        "WHERE i.inhparent = 'points_entry'::regclass AND t.tgname = 'points_entry_append_only'"
    ) == [(16,)]
    member = MemberFactory()
    with clock(T0):
        entry = services.earn(member, 10, key="e1", reason="r")
    partition = _partition_of("points_entry", "account_id", member.pk)
    assert partition.startswith("points_entry_p")

    for sql in (f"UPDATE {partition} SET delta = 11 WHERE id = %s",
                f"DELETE FROM {partition} WHERE id = %s",
                "UPDATE points_entry SET reason = 'x' WHERE id = %s",
                "DELETE FROM points_entry WHERE id = %s"):
        error = _refused(sql, [entry.pk])
        assert "append-only" in str(error), sql
    assert entries(member) == [("earn", 10, 10)]


def test_checks_hold_on_a_partition():
    member = MemberFactory()
    with clock(T0):
        entry = services.earn(member, 10, key="e1", reason="r")
    lots = _partition_of("points_lot", "account_id", member.pk)
    error = _refused(
        f"INSERT INTO {lots} (account_id, entry_id, amount, remaining, pending, available_at, "
        "created_at) VALUES (%s, %s, 5, 6, false, now(), now())", [member.pk, entry.pk])
    assert "points_lot_remaining_within_amount" in str(error)
    accounts = _partition_of("points_account", "id", member.pk)
    error = _refused(f"UPDATE {accounts} SET available = -1 WHERE id = %s", [member.pk])
    assert "points_account_totals_non_negative" in str(error)
    # A row for another account's partition is refused by the partition's bound.
    other = MemberFactory()
    while _rows("SELECT satisfies_hash_partition('points_lot'::regclass, 16, %s, %s::bigint)",
                [int(lots.rsplit("_p", 1)[1]), other.pk])[0][0]:
        other = MemberFactory()
    services.earn(other, 5, key="o1", reason="r")
    other_entry = Entry.objects.get(account_id=other.pk)
    _refused(f"INSERT INTO {lots} (account_id, entry_id, amount, remaining, pending, available_at, "
             "created_at) VALUES (%s, %s, 5, 5, false, now(), now())", [other.pk, other_entry.pk])
    assert totals(member)["available"] == 10


def test_ledger_foreign_keys_carry_the_account():
    a, b = MemberFactory(), MemberFactory()
    with clock(T0):
        earned = services.earn(a, 10, key="e1", reason="r")
        services.earn(b, 10, key="e1", reason="r")
    # A lot of b's account pointing at a's entry: the composite foreign key refuses it.
    error = _refused(
        "INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at, "
        "created_at) VALUES (%s, %s, 5, 5, false, now(), now())",
        [b.pk, earned.pk])
    assert "points_lot_entry_fk" in str(error)


def _migrate(executor, targets):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks under DDL
    executor.loader.build_graph()
    executor.migrate(targets)


def test_the_migration_moves_the_rows_back_and_forth(ledger_invariants):
    """Back to 0012 (plain tables) with rows present, a pre-partition account numbered apart from
    its member, then forward again: every row moves, accounts are renumbered to their members'
    ids everywhere, entry ids are kept and new ones keep growing, and the ledger still adds up."""
    member, other = MemberFactory(), MemberFactory()
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=T0 + timedelta(days=30))
        services.spend(member, 30, key="s1", reason="r")
        hold = services.hold(member, 20, key="h1")
        services.capture(hold, key="c1", points=5)
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()

    _migrate(executor, [("points", "0012_reconciliation_chunks")])
    assert _rows("SELECT relkind FROM pg_class WHERE relname = 'points_entry'") == [("r",)]
    assert _rows("SELECT count(*) FROM pg_inherits WHERE inhparent = 'points_entry'::regclass") \
        == [(0,)]
    assert _rows("SELECT count(*) FROM pg_constraint WHERE conname = 'points_entry_key_key'") \
        == [(1,)]
    # 0011's shape: an account numbered by its own sequence, with an entry and a lot.
    now = timezone.now()
    [(account_id,)] = _rows(
        "INSERT INTO points_account (id, member_id, available, pending, held, debt, "
        "lifetime_earned, lifetime_spent, lifetime_expired) "
        "VALUES (%s, %s, 7, 0, 0, 0, 7, 0, 0) RETURNING id", [other.pk + 5000, other.pk])
    [(old_entry,)] = _rows(
        "INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason, reference, "
        "fingerprint, rule_version, created_at) VALUES (%s, 'old', 'earn', 7, 7, 'r', '', '', '', "
        "%s) RETURNING id", [account_id, now])
    _rows("INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at, "
          "created_at) VALUES (%s, %s, 7, 7, false, %s, %s) RETURNING id",
          [account_id, old_entry, now, now])
    counts = _rows("SELECT (SELECT count(*) FROM points_entry), (SELECT count(*) FROM points_lot), "
                   "(SELECT count(*) FROM points_allocation), (SELECT count(*) FROM points_hold)")

    _migrate(executor, latest)
    assert _rows("SELECT relkind FROM pg_class WHERE relname = 'points_entry'") == [("p",)]
    assert _rows("SELECT (SELECT count(*) FROM points_entry), (SELECT count(*) FROM points_lot), "
                 "(SELECT count(*) FROM points_allocation), (SELECT count(*) FROM points_hold)") \
        == counts
    assert _rows("SELECT id FROM points_account WHERE member_id = %s", [other.pk]) == [(other.pk,)]
    assert _rows("SELECT account_id FROM points_entry WHERE id = %s", [old_entry]) == [(other.pk,)]
    assert _rows("SELECT account_id FROM points_lot WHERE entry_id = %s", [old_entry]) \
        == [(other.pk,)]
    assert _rows("SELECT count(*) FROM points_account WHERE id <> member_id") == [(0,)]
    assert entries(member) == [("earn", 100, 100), ("spend", -30, 70), ("hold", 0, 70),
                               ("capture", -5, 65), ("release", 0, 65)]
    highest = _rows("SELECT max(id) FROM points_entry")[0][0]
    with clock(T0):
        assert services.earn(other, 3, key="new", reason="r").pk > highest
        assert services.spend(other, 10, key="s1", reason="r").account_id == other.pk
    assert totals(other)["available"] == 0
    assert ledger_invariants() == []
