"""How the ledger would be distributed with Citus: one source for ``docs/scaling.md`` and the test
that keeps the schema distributable (``tests/points/test_citus_rules.py``).

Citus distributes a table by one column and enforces a unique key or primary key only when it
contains that column, and a foreign key only between tables of one colocation group that
includes the column on both sides, or into a reference table (copied to every node). The ledger
is shaped for it already: hash-partitioned by the same column (migration 0013).
"""

# Ledger table -> distribution column, all in the colocation group of ``points_account``: an
# account's lots, entries, allocations, holds and refusals live on the node of its account.
DISTRIBUTED = {
    "points_account": "id",
    "points_entry": "account_id",
    "points_lot": "account_id",
    "points_allocation": "account_id",
    "points_hold": "account_id",
    "points_refusal": "account_id",
}
COLOCATE_WITH = "points_account"

# The members table is distributed too, by id, in the same colocation group: an account's id is
# its member's (``CHECK (id = member_id)``), so a member lives with its ledger. It is not a
# reference table: it is large and written often (logins, tiers), and a reference table is a
# copy on every node written in a two-phase commit.
COLOCATED_OUTSIDE = {"mall_member": "id"}

# Reference tables: small, read on every node, written rarely (published rule sets, the catalog,
# tiers). No ledger table has a foreign key into them today; listed for the statements in the docs.
REFERENCE = [
    "rules_ruleset",
    "rules_rulesetevent",
    "rules_tierrule",
    "rules_spendtier",
    "rules_categorybonus",
    "rules_behaviourrule",
    "rules_checkinstep",
    "catalog_category",
    "catalog_channel",
    "catalog_supplier",
    "catalog_product",
    "catalog_productimage",
]

# Foreign keys of ledger tables that hold in PostgreSQL today but would be dropped on
# distribution, since they do not carry the distribution column (constraint name -> why).
DROPPED_ON_DISTRIBUTION = {
    "points_entry_staff_id_b1c3fcf9_fk_mall_member_id":
        "the staff user of an adjustment lives on another node than the member's account; "
        "the audit log (common.audit) records who adjusted",
}


def statements() -> list[str]:
    """The Citus statements, in the order they would run (``docs/scaling.md`` quotes them): the
    reference tables, the members (the colocation group's first table: ``points_account``
    references it), then the ledger."""
    sql = [f"SELECT create_reference_table('{table}');" for table in REFERENCE]
    (anchor, anchor_column), = COLOCATED_OUTSIDE.items()
    sql.append(f"SELECT create_distributed_table('{anchor}', '{anchor_column}', shard_count => 32);")
    sql.append(f"SELECT create_distributed_table('{COLOCATE_WITH}', '{DISTRIBUTED[COLOCATE_WITH]}', "
               f"colocate_with => '{anchor}');")
    for table, column in DISTRIBUTED.items():
        if table != COLOCATE_WITH:
            sql.append(f"SELECT create_distributed_table('{table}', '{column}', "
                       f"colocate_with => '{COLOCATE_WITH}');")
    return sql
