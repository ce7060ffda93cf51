"""The ledger hash-partitioned by account: 16 partitions of each ledger table (issue 17).

``points_account`` is partitioned by ``id``, every other ledger table (entries, lots, allocations,
holds, refusals) by ``account_id``, with ``MODULUS 16``: a posting touches one account, so every
statement of it can be pruned to one partition of each table, and the same shape is what Citus
needs to distribute the tables by account (``docs/scaling.md``).

PostgreSQL requires the partition key in every primary key and unique constraint of a
partitioned table, so in the database:

* an account's ``id`` equals its member's id (``CHECK (id = member_id)``): the primary key then
  also keeps one account per member (a ``UNIQUE (member_id)`` alone is not allowed on a table
  partitioned by ``id``); existing accounts are renumbered to their member ids on the way;
* the other tables' primary key is ``(account_id, id)`` (Django still sees ``id``: it cannot point
  a ForeignKey at a composite key; a plain index on ``id`` serves lookups by id alone);
* the idempotency key is unique per account: ``UNIQUE (account_id, key)`` (entries, refusals);
* foreign keys between ledger tables carry the account: ``(account_id, entry_id) ->
  points_entry (account_id, id)``; from tables outside the ledger that carry the member (= the
  account id) they are ``(member_id, entry_id) -> points_entry (account_id, id)``; the two that
  do not (refunds, payments) keep no foreign key (``docs/scaling.md`` lists them).

The data moves by building the new tables beside the old, ``INSERT ... SELECT`` (mapping every
account id to its member id), dropping the old and renaming; the id sequences carry over, so ids
keep growing. CHECK constraints are copied onto the parent, from which every partition inherits
them; indexes are created on the parent (partial ones too), so every partition has them; the
append-only trigger of ``points_entry`` (0002) is created on the parent, which clones it onto
every partition.

``ledger_sql(partitioned=..., legacy=...)`` builds the statements: forward (partitioned, the new
keys), reverse (plain tables with 0011's keys; account ids stay the member ids) and, for
``bench/bench_partitions.py``, the same keys on plain tables (``partitioned=False``).
"""

from django.conf import settings
from django.db import migrations, models

MODULUS = 16
MEMBER_TABLE = "mall_member"  # settings.AUTH_USER_MODEL's table (a migration is frozen)

# Every column, in the tables' order (``CREATE TABLE ... (LIKE ...)`` keeps it).
COLUMNS = {
    "points_account": ["id", "available", "pending", "held", "debt", "lifetime_earned",
                       "lifetime_spent", "lifetime_expired", "member_id"],
    "points_hold": ["id", "amount", "captured", "status", "reference", "expires_at", "created_at",
                    "resolved_at", "account_id"],
    "points_entry": ["id", "key", "kind", "delta", "balance_after", "reason", "reference",
                     "fingerprint", "rule_version", "explanation", "created_at", "account_id",
                     "reverses_id", "staff_id", "hold_id", "reason_message"],
    "points_lot": ["id", "amount", "remaining", "pending", "available_at", "expires_at",
                   "created_at", "account_id", "entry_id"],
    "points_allocation": ["id", "amount", "account_id", "entry_id", "hold_id", "lot_id"],
    "points_refusal": ["id", "key", "fingerprint", "code", "message", "created_at", "account_id"],
}
TABLES = list(COLUMNS)  # referenced tables before the tables referencing them

DEFERRED = "DEFERRABLE INITIALLY DEFERRED"

# Indexes both shapes have (names as Django's state knows them). The keyed shape has no index on
# account_id alone (nor 0011's (account_id, id DESC)): its primary key (account_id, id) leads with
# it, and each index is 16 more relations to write and to truncate.
INDEXES = {
    "points_account": [],
    "points_hold": [
        ("points_hold_open_deadline", "(expires_at) WHERE status = 'held'"),
        ("points_hold_reference_9546dd06", "(reference)"),
        ("points_hold_reference_9546dd06_like", "(reference varchar_pattern_ops)"),
    ],
    "points_entry": [
        ("points_entry_created_brin", "USING brin (created_at)"),
        ("points_entry_hold_id_c096f401", "(hold_id)"),
        ("points_entry_reference_177fe889", "(reference)"),
        ("points_entry_reference_177fe889_like", "(reference varchar_pattern_ops)"),
        ("points_entry_reverses_id_65a56485", "(reverses_id)"),
        ("points_entry_staff_id_b1c3fcf9", "(staff_id)"),
    ],
    "points_lot": [
        ("points_lot_due_activation", "(account_id, available_at) WHERE pending"),
        ("points_lot_due_expiry",
         "(account_id, expires_at) WHERE expires_at IS NOT NULL AND remaining > 0"),
        ("points_lot_entry_id_aa926de7", "(entry_id)"),
        ("points_lot_spend_order", "(account_id, expires_at, id) WHERE remaining > 0"),
    ],
    "points_allocation": [
        ("points_allocation_entry_id_83ab602b", "(entry_id)"),
        ("points_allocation_hold_id_a330eb72", "(hold_id)"),
        ("points_allocation_lot_id_dfa44bf4", "(lot_id)"),
    ],
    "points_refusal": [
        ("points_refusal_created", "(created_at)"),
    ],
}

# The keyed shape (forward, and the bench's plain copy): keys and indexes that carry the account.
KEYED = {
    "points_account": {
        "keys": ["CONSTRAINT points_account_pkey PRIMARY KEY (id)",
                 "CONSTRAINT points_account_id_is_member CHECK (id = member_id)"],
        "indexes": [("points_account_member", "(member_id)")],
        # On ``id``, which equals ``member_id``: the foreign key then carries the distribution
        # column on both sides, as Citus needs with the members colocated (docs/scaling.md).
        "fks": [f"CONSTRAINT points_account_member_fk FOREIGN KEY (id) "
                f"REFERENCES {MEMBER_TABLE} (id) {DEFERRED}"],
    },
    "points_hold": {
        "keys": ["CONSTRAINT points_hold_pkey PRIMARY KEY (account_id, id)"],
        "indexes": [("points_hold_id", "(id)")],
        "fks": ["CONSTRAINT points_hold_account_id_76757c85_fk_points_account_id FOREIGN KEY "
                f"(account_id) REFERENCES points_account (id) {DEFERRED}"],
    },
    "points_entry": {
        "keys": ["CONSTRAINT points_entry_pkey PRIMARY KEY (account_id, id)",
                 "CONSTRAINT points_entry_account_key UNIQUE (account_id, key)"],
        "indexes": [("points_entry_id", "(id)")],
        "fks": [
            "CONSTRAINT points_entry_account_id_a1b6e3ff_fk_points_account_id FOREIGN KEY "
            f"(account_id) REFERENCES points_account (id) {DEFERRED}",
            "CONSTRAINT points_entry_hold_fk FOREIGN KEY (account_id, hold_id) "
            f"REFERENCES points_hold (account_id, id) {DEFERRED}",
            "CONSTRAINT points_entry_reverses_fk FOREIGN KEY (account_id, reverses_id) "
            f"REFERENCES points_entry (account_id, id) {DEFERRED}",
            "CONSTRAINT points_entry_staff_id_b1c3fcf9_fk_mall_member_id FOREIGN KEY (staff_id) "
            f"REFERENCES {MEMBER_TABLE} (id) {DEFERRED}",
        ],
    },
    "points_lot": {
        "keys": ["CONSTRAINT points_lot_pkey PRIMARY KEY (account_id, id)"],
        "indexes": [("points_lot_id", "(id)")],
        "fks": [
            "CONSTRAINT points_lot_account_id_3c365f2c_fk_points_account_id FOREIGN KEY "
            f"(account_id) REFERENCES points_account (id) {DEFERRED}",
            "CONSTRAINT points_lot_entry_fk FOREIGN KEY (account_id, entry_id) "
            f"REFERENCES points_entry (account_id, id) {DEFERRED}",
        ],
    },
    "points_allocation": {
        "keys": ["CONSTRAINT points_allocation_pkey PRIMARY KEY (account_id, id)"],
        "indexes": [],
        "fks": [
            "CONSTRAINT points_allocation_account_id_276d588b_fk_points_account_id FOREIGN KEY "
            f"(account_id) REFERENCES points_account (id) {DEFERRED}",
            "CONSTRAINT points_allocation_entry_fk FOREIGN KEY (account_id, entry_id) "
            f"REFERENCES points_entry (account_id, id) {DEFERRED}",
            "CONSTRAINT points_allocation_hold_fk FOREIGN KEY (account_id, hold_id) "
            f"REFERENCES points_hold (account_id, id) {DEFERRED}",
            "CONSTRAINT points_allocation_lot_fk FOREIGN KEY (account_id, lot_id) "
            f"REFERENCES points_lot (account_id, id) {DEFERRED}",
        ],
    },
    "points_refusal": {
        "keys": ["CONSTRAINT points_refusal_pkey PRIMARY KEY (account_id, id)",
                 "CONSTRAINT points_refusal_account_key UNIQUE (account_id, key)"],
        "indexes": [],
        "fks": ["CONSTRAINT points_refusal_account_id_1d2a06ef_fk_points_account_id FOREIGN KEY "
                f"(account_id) REFERENCES points_account (id) {DEFERRED}"],
    },
}

# 0011's shape, for the reverse migration.
LEGACY = {
    "points_account": {
        "keys": ["CONSTRAINT points_account_pkey PRIMARY KEY (id)",
                 "CONSTRAINT points_account_member_id_key UNIQUE (member_id)"],
        "indexes": [],
        "fks": [f"CONSTRAINT points_account_member_id_f756f038_fk_mall_member_id FOREIGN KEY "
                f"(member_id) REFERENCES {MEMBER_TABLE} (id) {DEFERRED}"],
    },
    "points_hold": {"keys": ["CONSTRAINT points_hold_pkey PRIMARY KEY (id)"],
                    "indexes": [("points_hold_account_id_76757c85", "(account_id)")],
                    "fks": KEYED["points_hold"]["fks"]},
    "points_entry": {
        "keys": ["CONSTRAINT points_entry_pkey PRIMARY KEY (id)",
                 "CONSTRAINT points_entry_key_key UNIQUE (key)"],
        "indexes": [("points_entry_key_dd08487a_like", "(key varchar_pattern_ops)"),
                    ("points_entry_account_id_a1b6e3ff", "(account_id)"),
                    ("points_entry_account_recent", "(account_id, id DESC)")],
        "fks": [
            KEYED["points_entry"]["fks"][0],
            "CONSTRAINT points_entry_hold_id_c096f401_fk_points_hold_id FOREIGN KEY (hold_id) "
            f"REFERENCES points_hold (id) {DEFERRED}",
            "CONSTRAINT points_entry_reverses_id_65a56485_fk_points_entry_id FOREIGN KEY "
            f"(reverses_id) REFERENCES points_entry (id) {DEFERRED}",
            KEYED["points_entry"]["fks"][3],
        ],
    },
    "points_lot": {
        "keys": ["CONSTRAINT points_lot_pkey PRIMARY KEY (id)"],
        "indexes": [("points_lot_account_id_3c365f2c", "(account_id)")],
        "fks": [
            KEYED["points_lot"]["fks"][0],
            "CONSTRAINT points_lot_entry_id_aa926de7_fk_points_entry_id FOREIGN KEY (entry_id) "
            f"REFERENCES points_entry (id) {DEFERRED}",
        ],
    },
    "points_allocation": {
        "keys": ["CONSTRAINT points_allocation_pkey PRIMARY KEY (id)"],
        "indexes": [("points_allocation_account_id_276d588b", "(account_id)")],
        "fks": [
            KEYED["points_allocation"]["fks"][0],
            "CONSTRAINT points_allocation_entry_id_83ab602b_fk_points_entry_id FOREIGN KEY "
            f"(entry_id) REFERENCES points_entry (id) {DEFERRED}",
            "CONSTRAINT points_allocation_hold_id_a330eb72_fk_points_hold_id FOREIGN KEY "
            f"(hold_id) REFERENCES points_hold (id) {DEFERRED}",
            "CONSTRAINT points_allocation_lot_id_dfa44bf4_fk_points_lot_id FOREIGN KEY (lot_id) "
            f"REFERENCES points_lot (id) {DEFERRED}",
        ],
    },
    "points_refusal": {
        "keys": ["CONSTRAINT points_refusal_pkey PRIMARY KEY (id)",
                 "CONSTRAINT points_refusal_key_key UNIQUE (key)"],
        "indexes": [("points_refusal_key_53291dfc_like", "(key varchar_pattern_ops)"),
                    ("points_refusal_account_id_1d2a06ef", "(account_id)")],
        "fks": KEYED["points_refusal"]["fks"],
    },
}

# Foreign keys into the ledger from tables outside it: (table, constraint, columns, target).
# Keyed: the referencing row's member is the entry's (or hold's) account.
OUTSIDE_KEYED = [
    ("points_order", "points_order_entry_fk", "(member_id, entry_id)", "points_entry"),
    ("points_behaviourrecord", "points_behaviourrecord_entry_fk", "(member_id, entry_id)",
     "points_entry"),
    ("points_checkin", "points_checkin_entry_fk", "(member_id, entry_id)", "points_entry"),
    ("catalog_redemption", "catalog_redemption_entry_fk", "(member_id, entry_id)", "points_entry"),
    ("catalog_redemption", "catalog_redemption_refund_entry_fk", "(member_id, refund_entry_id)",
     "points_entry"),
    ("catalog_checkouthold", "catalog_checkouthold_hold_fk", "(member_id, hold_id)", "points_hold"),
    ("catalog_bid", "catalog_bid_hold_fk", "(member_id, hold_id)", "points_hold"),
    ("catalog_draw", "catalog_draw_entry_fk", "(member_id, entry_id)", "points_entry"),
    ("catalog_draw", "catalog_draw_prize_entry_fk", "(member_id, prize_entry_id)", "points_entry"),
    ("mall_taskcompletion", "mall_taskcompletion_entry_fk", "(member_id, entry_id)", "points_entry"),
    ("referrals_rewardrecord", "referrals_rewardrecord_entry_fk", "(beneficiary_id, entry_id)",
     "points_entry"),
]
# Legacy (0011): single-column, named as Django named them.
OUTSIDE_LEGACY = [
    ("points_order", "points_order_entry_id_09ad2f6c_fk_points_entry_id", "(entry_id)", "points_entry"),
    ("points_behaviourrecord", "points_behaviourrecord_entry_id_429b4384_fk_points_entry_id",
     "(entry_id)", "points_entry"),
    ("points_checkin", "points_checkin_entry_id_ce454eb8_fk_points_entry_id", "(entry_id)",
     "points_entry"),
    ("points_refund", "points_refund_entry_id_85d401ca_fk_points_entry_id", "(entry_id)",
     "points_entry"),
    ("catalog_redemption", "catalog_redemption_entry_id_559a7556_fk_points_entry_id", "(entry_id)",
     "points_entry"),
    ("catalog_redemption", "catalog_redemption_refund_entry_id_0fe52bc8_fk_points_entry_id",
     "(refund_entry_id)", "points_entry"),
    ("catalog_checkouthold", "catalog_checkouthold_hold_id_61f6db63_fk_points_hold_id", "(hold_id)",
     "points_hold"),
    ("catalog_bid", "catalog_bid_hold_id_d38dfd9e_fk_points_hold_id", "(hold_id)", "points_hold"),
    ("catalog_draw", "catalog_draw_entry_id_d09def5b_fk_points_entry_id", "(entry_id)", "points_entry"),
    ("catalog_draw", "catalog_draw_prize_entry_id_b8dae50a_fk_points_entry_id", "(prize_entry_id)",
     "points_entry"),
    ("catalog_payment", "catalog_payment_hold_id_bc365958_fk_points_hold_id", "(hold_id)",
     "points_hold"),
    ("mall_taskcompletion", "mall_taskcompletion_entry_id_710b786d_fk_points_entry_id", "(entry_id)",
     "points_entry"),
    ("referrals_rewardrecord", "referrals_rewardrecord_entry_id_5f4d4ff5_fk_points_entry_id",
     "(entry_id)", "points_entry"),
]

APPEND_ONLY_TRIGGER = """
CREATE TRIGGER points_entry_append_only
    BEFORE UPDATE OR DELETE ON points_entry
    FOR EACH ROW EXECUTE FUNCTION points_entry_append_only();
"""


def _partition_key(table: str) -> str:
    return "id" if table == "points_account" else "account_id"


def ledger_sql(*, partitioned: bool, legacy: bool = False, renumber: bool = False) -> str:
    """The statements that rebuild the six ledger tables in place, data and all, as partitioned
    or plain tables with the keyed (or 0011's, ``legacy``) keys. ``renumber`` maps every account
    id to its member id on the way (forward from 0011)."""
    shape = LEGACY if legacy else KEYED
    sql = []
    # The foreign keys into the ledger from outside go first (dropping the old tables would drop
    # them anyway), whichever shape they have now.
    for table, name, _columns, _target in OUTSIDE_KEYED + OUTSIDE_LEGACY:
        sql.append(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name};")
    for table in TABLES:
        new = f"{table}_new"
        partition = f" PARTITION BY HASH ({_partition_key(table)})" if partitioned else ""
        # LIKE copies the columns, their NOT NULLs, defaults and CHECKs (not the identity).
        sql.append(f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                   f"{partition};")
        if table == "points_account":  # added back with the keys of the shape that has it
            sql.append(f"ALTER TABLE {new} DROP CONSTRAINT IF EXISTS points_account_id_is_member;")
        if partitioned:
            sql.extend(
                f"CREATE TABLE {table}_p{n:02d} PARTITION OF {new} "
                f"FOR VALUES WITH (MODULUS {MODULUS}, REMAINDER {n});"
                for n in range(MODULUS)
            )
        columns = COLUMNS[table]
        if renumber and table == "points_account":
            select = ", ".join("t.member_id" if c == "id" else f"t.{c}" for c in columns)
            source = f"{table} t"
        elif renumber:
            select = ", ".join("a.member_id" if c == "account_id" else f"t.{c}" for c in columns)
            source = f"{table} t JOIN points_account a ON a.id = t.account_id"
        else:
            select, source = ", ".join(f"t.{c}" for c in columns), f"{table} t"
        sql.append(f"INSERT INTO {new} ({', '.join(columns)}) SELECT {select} FROM {source};")
    # The ids keep growing: a plain sequence per table (an identity column cannot move to a new
    # table), starting where the old one stood. An account's id is its member's, no sequence
    # (except in 0011's shape, where an account without one is given the next id).
    for table in TABLES:
        if table == "points_account" and not legacy:
            continue
        seq = f"{table}_id_seq"
        sql.append(f"CREATE SEQUENCE {seq}_new;")
        sql.append(
            f"SELECT setval('{seq}_new', v) FROM (SELECT GREATEST(COALESCE(MAX(id), 0), "
            f"COALESCE((SELECT last_value FROM pg_sequences WHERE schemaname = current_schema() "
            f"AND sequencename = '{seq}'), 0)) AS v FROM {table}_new) s WHERE v > 0;"
        )
    sql.append("DROP TABLE " + ", ".join(reversed(TABLES)) + " CASCADE;")
    for table in TABLES:
        sql.append(f"ALTER TABLE {table}_new RENAME TO {table};")
        if table == "points_account" and not legacy:
            sql.append(f"DROP SEQUENCE IF EXISTS {table}_id_seq;")
            continue
        seq = f"{table}_id_seq"
        sql.append(f"DROP SEQUENCE IF EXISTS {seq};")
        sql.append(f"ALTER SEQUENCE {seq}_new RENAME TO {seq};")
        sql.append(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{seq}');")
        sql.append(f"ALTER SEQUENCE {seq} OWNED BY {table}.id;")
    for table in TABLES:
        sql.append(f"ALTER TABLE {table} " + ", ".join(f"ADD {key}" for key in shape[table]["keys"])
                   + ";")
        for name, definition in INDEXES[table] + shape[table]["indexes"]:
            sql.append(f"CREATE INDEX {name} ON {table} {definition};")
    for table in TABLES:
        for fk in shape[table]["fks"]:
            sql.append(f"ALTER TABLE {table} ADD {fk};")
    for table, name, columns, target in OUTSIDE_LEGACY if legacy else OUTSIDE_KEYED:
        target_columns = "(id)" if legacy else "(account_id, id)"
        sql.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY {columns} "
                   f"REFERENCES {target} {target_columns} {DEFERRED};")
    sql.append(APPEND_ONLY_TRIGGER)
    return "\n".join(sql)


FORWARD = ledger_sql(partitioned=True, renumber=True)
BACKWARD = ledger_sql(partitioned=False, legacy=True)


STATE = [
    migrations.AlterField(
        model_name="account", name="member",
        field=models.OneToOneField(db_constraint=False, on_delete=models.deletion.PROTECT,
                                   related_name="points_account", to=settings.AUTH_USER_MODEL,
                                   verbose_name="member"),
    ),
    migrations.AlterField(
        model_name="entry", name="key",
        field=models.CharField(max_length=200, verbose_name="idempotency key"),
    ),
    migrations.AddConstraint(
        model_name="entry",
        constraint=models.UniqueConstraint(fields=("account", "key"), name="points_entry_account_key"),
    ),
    migrations.AlterField(
        model_name="refusal", name="key", field=models.CharField(max_length=200),
    ),
    migrations.AddConstraint(
        model_name="refusal",
        constraint=models.UniqueConstraint(fields=("account", "key"),
                                           name="points_refusal_account_key"),
    ),
    migrations.AddConstraint(
        model_name="account",
        constraint=models.CheckConstraint(condition=models.Q(id=models.F("member")),
                                          name="points_account_id_is_member"),
    ),
    migrations.AddIndex(model_name="account",
                        index=models.Index(fields=["member"], name="points_account_member")),
    migrations.AddIndex(model_name="entry", index=models.Index(fields=["id"], name="points_entry_id")),
    migrations.RemoveIndex(model_name="entry", name="points_entry_account_recent"),
    migrations.AddIndex(model_name="lot", index=models.Index(fields=["id"], name="points_lot_id")),
    migrations.AddIndex(model_name="hold", index=models.Index(fields=["id"], name="points_hold_id")),
    # Led by the primary key (account_id, id): no index of their own.
    *[migrations.AlterField(
        model_name=model, name="account",
        field=models.ForeignKey(db_index=False, on_delete=models.deletion.PROTECT,
                                related_name=related, to="points.account"),
    ) for model, related in (("entry", "entries"), ("lot", "lots"), ("hold", "holds"),
                             ("allocation", "+"), ("refusal", "+"))],
    # Composite in the database (RunSQL above), not Django's single-column constraint.
    migrations.AlterField(
        model_name="entry", name="hold",
        field=models.ForeignKey(blank=True, db_constraint=False, null=True,
                                on_delete=models.deletion.PROTECT, related_name="entries",
                                to="points.hold"),
    ),
    migrations.AlterField(
        model_name="entry", name="reverses",
        field=models.ForeignKey(blank=True, db_constraint=False, null=True,
                                on_delete=models.deletion.PROTECT, related_name="reversals",
                                to="points.entry"),
    ),
    migrations.AlterField(
        model_name="lot", name="entry",
        field=models.ForeignKey(db_constraint=False, on_delete=models.deletion.PROTECT,
                                related_name="lots", to="points.entry"),
    ),
    migrations.AlterField(
        model_name="allocation", name="entry",
        field=models.ForeignKey(blank=True, db_constraint=False, null=True,
                                on_delete=models.deletion.PROTECT, related_name="allocations",
                                to="points.entry"),
    ),
    migrations.AlterField(
        model_name="allocation", name="hold",
        field=models.ForeignKey(blank=True, db_constraint=False, null=True,
                                on_delete=models.deletion.PROTECT, related_name="allocations",
                                to="points.hold"),
    ),
    migrations.AlterField(
        model_name="allocation", name="lot",
        field=models.ForeignKey(db_constraint=False, on_delete=models.deletion.PROTECT,
                                related_name="allocations", to="points.lot"),
    ),
    migrations.AlterField(
        model_name="order", name="entry",
        field=models.OneToOneField(blank=True, db_constraint=False, null=True,
                                   on_delete=models.deletion.PROTECT, related_name="order",
                                   to="points.entry", verbose_name="earn entry"),
    ),
    migrations.AlterField(
        model_name="refund", name="entry",
        field=models.OneToOneField(blank=True, db_constraint=False, null=True,
                                   on_delete=models.deletion.PROTECT, related_name="refund",
                                   to="points.entry", verbose_name="reverse entry"),
    ),
    migrations.AlterField(
        model_name="behaviourrecord", name="entry",
        field=models.OneToOneField(blank=True, db_constraint=False, null=True,
                                   on_delete=models.deletion.PROTECT, related_name="behaviour",
                                   to="points.entry", verbose_name="earn entry"),
    ),
    migrations.AlterField(
        model_name="checkin", name="entry",
        field=models.OneToOneField(blank=True, db_constraint=False, null=True,
                                   on_delete=models.deletion.PROTECT, related_name="check_in",
                                   to="points.entry", verbose_name="earn entry"),
    ),
]


class Migration(migrations.Migration):
    # One transaction: the old tables are dropped only once the new ones hold their rows.
    atomic = True

    dependencies = [
        ("points", "0012_reconciliation_chunks"),
        # Their tables hold foreign keys into the ledger that are rebuilt here.
        ("catalog", "0022_pii"),
        ("mall", "0019_pii"),
        ("referrals", "0004_help_texts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, BACKWARD)],
            state_operations=STATE,
        ),
    ]
