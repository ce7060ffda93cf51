"""The ledger stays distributable by account (Citus's rules, checked on the test database's
catalog): the distribution column in every primary key and unique index, of the parents and of
every partition, and every foreign key of a ledger table either between colocated tables with
the distribution column on both sides or into a reference table (``points.distribution``, which
``docs/scaling.md`` quotes). A unique index or a foreign key that breaks it fails here."""

from pathlib import Path

import pytest
from django.db import connection

from points import distribution

pytestmark = pytest.mark.django_db

COLOCATED = {**distribution.DISTRIBUTED, **distribution.COLOCATED_OUTSIDE}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"


def _rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _ledger_relations() -> dict[str, str]:
    """Every ledger table and each of its partitions -> the ledger table it belongs to."""
    relations = {table: table for table in distribution.DISTRIBUTED}
    for child, parent in _rows(
        "SELECT i.inhrelid::regclass::text, i.inhparent::regclass::text FROM pg_inherits i "
        "WHERE i.inhparent::regclass::text = ANY(%s)", [list(distribution.DISTRIBUTED)]):
        relations[child] = parent
    return relations


def violations() -> list[str]:
    """What would stop ``create_distributed_table`` (or lose a constraint) today."""
    found = []
    relations = _ledger_relations()
    for relation, index, columns in _rows(
        "SELECT c.relname, ic.relname, ARRAY(SELECT a.attname FROM unnest(i.indkey) k "
        "       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid "
        "WHERE (i.indisunique OR i.indisprimary) AND c.relname = ANY(%s)", [list(relations)]):
        column = distribution.DISTRIBUTED[relations[relation]]
        if column not in columns:
            found.append(f"unique index {index} on {relation} {columns} lacks {column}")
    for name, source, target, pairs in _rows(
        "SELECT con.conname, con.conrelid::regclass::text, con.confrelid::regclass::text, "
        "       ARRAY(SELECT ARRAY[sa.attname::text, ta.attname::text] "
        "             FROM unnest(con.conkey, con.confkey) AS k(s, t) "
        "             JOIN pg_attribute sa ON sa.attrelid = con.conrelid AND sa.attnum = k.s "
        "             JOIN pg_attribute ta ON ta.attrelid = con.confrelid AND ta.attnum = k.t) "
        "FROM pg_constraint con WHERE con.contype = 'f' "
        "  AND (con.conrelid::regclass::text = ANY(%s) OR con.confrelid::regclass::text = ANY(%s)) "
        "  AND con.conparentid = 0",  # a partition's clone of its parent's key is the parent's
        [list(relations), list(relations)]):
        source, target = relations.get(source, source), relations.get(target, target)
        if source in distribution.DISTRIBUTED:
            if target in distribution.REFERENCE or name in distribution.DROPPED_ON_DISTRIBUTION:
                continue
            if target not in COLOCATED:
                found.append(f"foreign key {name} from {source} to {target}: neither colocated "
                             "nor a reference table")
            elif [COLOCATED[source], COLOCATED[target]] not in pairs:
                found.append(f"foreign key {name} from {source} to {target} does not pair "
                             f"{COLOCATED[source]} with {COLOCATED[target]}: {pairs}")
        # Into the ledger from outside: the referencing table must carry the account (its member)
        # to be colocated with it; a key on the target's id alone cannot be checked on one node.
        elif distribution.DISTRIBUTED[target] not in [t for _s, t in pairs]:
            found.append(f"foreign key {name} from {source} into {target} lacks "
                         f"{distribution.DISTRIBUTED[target]}: {pairs}")
    return found


def test_the_ledger_satisfies_the_distribution_rules():
    assert violations() == []


def test_a_unique_index_without_the_account_is_caught():
    # PostgreSQL itself refuses it on the partitioned parent; on one partition it would not.
    with connection.cursor() as cursor:
        cursor.execute("CREATE UNIQUE INDEX test_entry_reference ON points_entry_p03 (reference)")
    assert violations() == [
        "unique index test_entry_reference on points_entry_p03 ['reference'] lacks account_id"]


def test_a_foreign_key_by_id_alone_is_caught():
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE points_allocation ADD CONSTRAINT test_by_entry FOREIGN KEY "
                       "(entry_id, account_id) REFERENCES points_entry (id, account_id)")
        cursor.execute("ALTER TABLE points_allocation ADD CONSTRAINT test_to_product FOREIGN KEY "
                       "(amount) REFERENCES catalog_product (id)")
        cursor.execute("ALTER TABLE points_hold ADD CONSTRAINT test_to_order FOREIGN KEY "
                       "(account_id) REFERENCES points_order (id)")
    found = violations()
    assert not any("test_by_entry" in line for line in found)  # column order does not matter
    assert not any("test_to_product" in line for line in found)  # a reference table
    assert [line for line in found if "test_to_order" in line] == [
        "foreign key test_to_order from points_hold to points_order: neither colocated nor a "
        "reference table"]


def test_the_outside_keys_into_the_ledger_carry_the_member():
    """The foreign keys from tables outside the ledger into entries and holds are composite
    (their member is the account), except the two rows that carry no member."""
    names = {name for (name,) in _rows(
        "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 "
        "AND confrelid::regclass::text IN ('points_entry', 'points_hold') "
        "AND conrelid::regclass::text NOT LIKE 'points\\_%%\\_p__' "
        "AND conrelid::regclass::text NOT IN ('points_entry', 'points_lot', 'points_allocation')")}
    assert names == {
        "points_order_entry_fk", "points_behaviourrecord_entry_fk", "points_checkin_entry_fk",
        "catalog_redemption_entry_fk", "catalog_redemption_refund_entry_fk",
        "catalog_checkouthold_hold_fk", "catalog_bid_hold_fk", "catalog_draw_entry_fk",
        "catalog_draw_prize_entry_fk", "mall_taskcompletion_entry_fk",
        "referrals_rewardrecord_entry_fk",
    }
    # No foreign key at all on the two (docs/scaling.md lists them as checked by the tests instead).
    assert _rows(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND ("
        "(conrelid = 'points_refund'::regclass AND confrelid = 'points_entry'::regclass) OR "
        "(conrelid = 'catalog_payment'::regclass AND confrelid = 'points_hold'::regclass))") == [(0,)]
    docs = DOCS.read_text()
    assert "points_refund.entry_id" in docs and "catalog_payment.hold_id" in docs


def test_the_docs_give_every_statement_and_the_tables_exist():
    docs = DOCS.read_text()
    for statement in distribution.statements():
        assert statement in docs, statement
    for name in distribution.DROPPED_ON_DISTRIBUTION:
        assert name in docs, name
    tables = [*distribution.REFERENCE, *COLOCATED]
    assert sorted(t for (t,) in _rows("SELECT relname FROM pg_class WHERE relname = ANY(%s) "
                                      "AND relkind IN ('r', 'p')", [tables])) == sorted(tables)
