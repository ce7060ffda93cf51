"""Reconciliation: every DESIGN.md 3.1 invariant checked in SQL over all accounts, stored as a run.

``reconcile(now=None, *, then=None)`` walks the accounts in id order, ``RECONCILE_BATCH_ACCOUNTS``
at a time (keyset: the next batch starts after the last id of this one), and checks each batch
with **one** ``SELECT`` that reads the batch's accounts, lots, holds, entries, allocations and
refusals and returns the batch's exact mismatch count and its first mismatches. Memory and
statement time stay bounded by the batch, whatever the number of lots; nothing is locked or
written while checking.

In chunks: ``start_run`` creates a run with one ``ReconciliationChunk`` per account-id range
(``points.services.chunks``), ``check_chunk`` checks one range (parallel workers, one chunk
each), records its exact result once, and the last chunk to finish sums the chunks into the run
and finishes it: the same counts and kept mismatches as one ``reconcile``.

Concurrent postings cannot cause a false mismatch. Every posting changes one account's row,
lots, holds, entries and allocations in one transaction, and a single statement reads all its
tables in one snapshot (READ COMMITTED takes the snapshot per statement, for all of it), so each
account is seen entirely before or entirely after any posting. Two batches may see different
moments, but no check compares two accounts. (One REPEATABLE READ transaction over the whole run
would give one moment for everything, at the price of holding back vacuum on the ledger tables
for the whole run; nothing here needs it.)

The checks, per account (``expected`` is what the rows underneath say, ``actual`` the figure
that must agree with it):

========================  ===========================================  ==============================
check                     expected                                     actual
========================  ===========================================  ==============================
``available``             sum of remaining of available lots           ``account.available``
``pending``               sum of remaining of pending lots             ``account.pending``
``held``                  sum of the amounts of open holds             ``account.held``
``total``                 sum of entry deltas                          available + pending + held - debt
``lifetime_earned``       earn, credit adjust, reversed-credit deltas  ``account.lifetime_earned``
``lifetime_spent``        spend, capture, debit adjust, returned       ``account.lifetime_spent``
``lifetime_expired``      expire deltas                                ``account.lifetime_expired``
``non_negative``          0                                            the most negative total (or 0)
``lot_bounds``            0                                            lots outside 0 <= remaining <= amount
``balance_after``         previous balance_after + delta               balance_after of the first entry
                                                                       that breaks the chain (``entry_id``)
``hold_reserved``         sum of hold amounts                          allocations reserving them
``hold_resolved``         sum of amounts of resolved holds             allocations of their capture/release
``hold_captured``         points of capture entries                    sum of ``hold.captured``
``allocations``           points of spend/capture/debit-adjust and     their allocation rows
                          returning-reverse entries
``refused_and_posted``    0                                            keys with both a refusal and an entry
========================  ===========================================  ==============================

and once per run, on the schema (``account_id`` null): every CHECK constraint of the ledger
models is present and validated (``constraint``), the keys of entries and refusals have their
unique index per account (``unique_key``, ``(account_id, key)``), and the entries' append-only
trigger is enabled on every partition (``append_only``). Those keep "no total is ever negative"
and "a key never posts twice" true for every row, so checking that they are in force is the
cheap way to check those invariants.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import CheckConstraint
from django.utils import timezone

from points.models import Account, Allocation, Hold, Lot, ReconciliationChunk, ReconciliationRun
from points.services.chunks import AccountRange, account_ranges, keyset

RECONCILE_BATCH_ACCOUNTS = 10_000
MISMATCHES_KEPT = 1_000
# The staff group told of a mismatch (created by points/migrations/0008_auditor_group).
AUDITOR_GROUP = "审计 / Auditor"

CHECKS = (
    "available", "pending", "held", "total", "lifetime_earned", "lifetime_spent",
    "lifetime_expired", "non_negative", "lot_bounds", "balance_after", "hold_reserved",
    "hold_resolved", "hold_captured", "allocations", "refused_and_posted",
)
SCHEMA_CHECKS = ("constraint", "unique_key", "append_only")

# Which entries count where. Reversing a credit has a negative delta and lowers lifetime_earned;
# reversing a debit has a positive one and lowers lifetime_spent (``points.services.reversal``).
_EARNED = "(kind = 'earn' OR (kind = 'adjust' AND delta > 0) OR (kind = 'reverse' AND delta < 0))"
_SPENT = ("(kind IN ('spend', 'capture') OR (kind = 'adjust' AND delta < 0) "
          "OR (kind = 'reverse' AND delta > 0))")

# SUM of a bigint is a numeric in PostgreSQL: the sums are cast back, so that the comparisons
# below are of integers (several times faster than of numerics).
_CHECK_BATCH = f"""
WITH acc AS (
    SELECT id, member_id, available, pending, held, debt,
           lifetime_earned, lifetime_spent, lifetime_expired
    FROM points_account WHERE id > %(after)s AND id <= %(last)s
), lots AS (
    SELECT account_id,
           (SUM(remaining) FILTER (WHERE NOT pending))::bigint AS available,
           (SUM(remaining) FILTER (WHERE pending))::bigint AS pending,
           COUNT(*) FILTER (WHERE remaining < 0 OR remaining > amount) AS out_of_bounds
    FROM points_lot WHERE account_id > %(after)s AND account_id <= %(last)s
    GROUP BY account_id
), holds AS (
    SELECT account_id,
           (SUM(amount) FILTER (WHERE status = 'held'))::bigint AS held,
           (SUM(amount))::bigint AS amount,
           (SUM(amount) FILTER (WHERE status <> 'held'))::bigint AS resolved,
           (SUM(captured))::bigint AS captured
    FROM points_hold WHERE account_id > %(after)s AND account_id <= %(last)s
    GROUP BY account_id
), journal AS (
    SELECT id, account_id, kind, delta, balance_after,
           delta + COALESCE(LAG(balance_after) OVER (PARTITION BY account_id ORDER BY id), 0)
               AS chained,
           {_SPENT} AS debit
    FROM points_entry WHERE account_id > %(after)s AND account_id <= %(last)s
), entries AS (
    SELECT account_id,
           (SUM(delta))::bigint AS total,
           (SUM(delta) FILTER (WHERE {_EARNED}))::bigint AS earned,
           (-SUM(delta) FILTER (WHERE debit))::bigint AS spent,
           (-SUM(delta) FILTER (WHERE kind = 'expire'))::bigint AS expired,
           (-SUM(delta) FILTER (WHERE kind = 'capture'))::bigint AS captured,
           (SUM(ABS(delta)) FILTER (WHERE debit))::bigint AS debits,
           -- the first entry (lowest id) whose balance_after breaks the chain: [id, chained, actual]
           MIN(ARRAY[id, chained, balance_after]) FILTER (WHERE balance_after <> chained) AS broken
    FROM journal GROUP BY account_id
), allocations AS (
    SELECT a.account_id,
           (SUM(a.amount) FILTER (WHERE a.hold_id IS NOT NULL AND a.entry_id IS NULL))::bigint
               AS reserved,
           (SUM(a.amount) FILTER (WHERE a.hold_id IS NOT NULL AND a.entry_id IS NOT NULL))::bigint
               AS resolved,
           (SUM(a.amount) FILTER (WHERE j.debit))::bigint AS debits
    FROM points_allocation a LEFT JOIN journal j ON j.id = a.entry_id
    WHERE a.account_id > %(after)s AND a.account_id <= %(last)s
    GROUP BY a.account_id
), refused AS (
    SELECT r.account_id, COUNT(*) AS posted
    FROM points_refusal r JOIN points_entry e ON e.account_id = r.account_id AND e.key = r.key
    WHERE r.account_id > %(after)s AND r.account_id <= %(last)s
    GROUP BY r.account_id
), compared AS (
    -- One array of expected and one of actual figures per account, in the order of CHECKS:
    -- comparing the arrays first leaves only the accounts that do not add up to unfold.
    SELECT acc.id AS account_id, acc.member_id, e.broken[1] AS broken_id,
           ARRAY[COALESCE(l.available, 0), COALESCE(l.pending, 0), COALESCE(h.held, 0),
                 COALESCE(e.total, 0), COALESCE(e.earned, 0), COALESCE(e.spent, 0),
                 COALESCE(e.expired, 0), 0, 0, e.broken[2], COALESCE(h.amount, 0),
                 COALESCE(h.resolved, 0), COALESCE(e.captured, 0), COALESCE(e.debits, 0),
                 0] AS expected,
           ARRAY[acc.available, acc.pending, acc.held,
                 acc.available + acc.pending + acc.held - acc.debt,
                 acc.lifetime_earned, acc.lifetime_spent, acc.lifetime_expired,
                 LEAST(acc.available, acc.pending, acc.held, acc.debt, acc.lifetime_earned,
                       acc.lifetime_spent, acc.lifetime_expired, 0),
                 COALESCE(l.out_of_bounds, 0), e.broken[3], COALESCE(al.reserved, 0),
                 COALESCE(al.resolved, 0), COALESCE(h.captured, 0), COALESCE(al.debits, 0),
                 COALESCE(r.posted, 0)] AS actual
    FROM acc
    LEFT JOIN lots l ON l.account_id = acc.id
    LEFT JOIN holds h ON h.account_id = acc.id
    LEFT JOIN entries e ON e.account_id = acc.id
    LEFT JOIN allocations al ON al.account_id = acc.id
    LEFT JOIN refused r ON r.account_id = acc.id
), mismatch AS (
    SELECT compared.account_id, compared.member_id, c.ord, c.name, c.expected, c.actual,
           CASE WHEN c.name = 'balance_after' THEN compared.broken_id END AS entry_id
    FROM compared
    CROSS JOIN LATERAL unnest(%(checks)s::text[], compared.expected, compared.actual)
        WITH ORDINALITY AS c(name, expected, actual, ord)
    -- array equality treats NULLs as equal (no entries: no broken entry on either side)
    WHERE compared.expected <> compared.actual AND c.expected IS DISTINCT FROM c.actual
)
SELECT (SELECT COUNT(*) FROM acc),
       (SELECT COUNT(*) FROM mismatch),
       (SELECT COALESCE(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   'account_id', account_id, 'member_id', member_id, 'check', name,
                   'expected', expected, 'actual', actual, 'entry_id', entry_id))
                   ORDER BY account_id, ord), '[]'::jsonb)
        FROM (SELECT * FROM mismatch ORDER BY account_id, ord LIMIT %(keep)s) kept)
"""

_NEXT_BATCH = ("SELECT MAX(id) FROM (SELECT id FROM points_account WHERE id > %s AND id <= %s "
               "ORDER BY id LIMIT %s) batch")


def reconcile(now: datetime | None = None, *, batch: int = RECONCILE_BATCH_ACCOUNTS,
              then: Callable[[ReconciliationRun], object] | None = None) -> ReconciliationRun:
    """Check every account against the invariants (see the module) and return the stored run.

    The run row is committed first (a run that dies stays visible as unfinished); its result is
    stored in one transaction at the end, in which ``then(run)`` is called: what it writes (the
    alerts) commits with the result or not at all. ``finished_at`` is ``started_at`` plus the
    time the checks took. Reads only; safe to run at any time, concurrently with postings and
    with another run (each run is its own row).
    """
    started_at = now or timezone.now()
    clock = time.monotonic()
    run = ReconciliationRun.objects.create(started_at=started_at)
    mismatches = _schema_mismatches()
    accounts, found, rows = _check_accounts(None, batch=batch,
                                            keep=max(0, MISMATCHES_KEPT - len(mismatches)))
    count = len(mismatches) + found
    mismatches.extend(rows)
    run.accounts_checked = accounts
    run.mismatch_count = count
    run.mismatches = mismatches[:MISMATCHES_KEPT]
    run.finished_at = started_at + timedelta(seconds=time.monotonic() - clock)
    with transaction.atomic():
        run.save(update_fields=["accounts_checked", "mismatch_count", "mismatches", "finished_at"])
        if then is not None:
            then(run)
    return run


def _check_accounts(accounts: AccountRange | None, *, batch: int, keep: int
                    ) -> tuple[int, int, list[dict]]:
    """Check the accounts of the id range ``accounts`` (``None``: all), ``batch`` at a time in id
    order; returns how many were checked, the exact number of mismatches and the first ``keep``
    of them in account order."""
    after, upto = keyset(accounts)
    checked_total = found_total = 0
    kept: list[dict] = []
    with connection.cursor() as cursor:
        while True:
            cursor.execute(_NEXT_BATCH, [after, upto, batch])
            last = cursor.fetchone()[0]
            if last is None:
                break
            with transaction.atomic():
                # The planner overestimates the per-check rows (15 per account) enough to JIT
                # compile the statement: seconds of compiling for a fraction of a second's work.
                cursor.execute("SET LOCAL jit = off")
                cursor.execute(_CHECK_BATCH, {
                    "after": after, "last": last, "checks": list(CHECKS),
                    "keep": max(0, keep - len(kept)),
                })
                checked, found, rows = cursor.fetchone()
            checked_total += checked
            found_total += found
            kept.extend(json.loads(rows) if isinstance(rows, str) else rows)
            after = last
    return checked_total, found_total, kept


# --------------------------------------------------------------------------- in chunks


def start_run(now: datetime | None = None, *, chunks: int | None = None) -> ReconciliationRun:
    """Create a run to be checked in chunks: the run row and one chunk row per account-id range
    (``points.services.chunks.account_ranges``), committed together. Each chunk is then checked
    by ``check_chunk``, in any order, in parallel workers; the last one finishes the run."""
    started_at = now or timezone.now()
    with transaction.atomic():
        run = ReconciliationRun.objects.create(started_at=started_at)
        ReconciliationChunk.objects.bulk_create(
            ReconciliationChunk(run=run, number=number, lo=lo, hi=hi)
            for number, (lo, hi) in enumerate(account_ranges(chunks))
        )
    return run


def check_chunk(chunk_id: int, *, batch: int = RECONCILE_BATCH_ACCOUNTS,
                then: Callable[[ReconciliationRun], object] | None = None) -> ReconciliationRun | None:
    """Check one chunk of a run started by ``start_run`` and record its result; if it was the
    run's last unfinished chunk, finish the run: ``accounts_checked`` and ``mismatch_count`` the
    sums over the chunks plus the schema checks (``_schema_mismatches``, done here, once), the
    kept mismatches those of the schema then of each chunk in account order (the first
    ``MISMATCHES_KEPT``: exactly what one ``reconcile`` would store), ``finished_at`` once, and
    ``then(run)`` in the same transaction as in ``reconcile``.

    Returns the run (finished or not yet), or ``None`` when this chunk had already been recorded:
    a second delivery is counted once. The chunk's row is locked before the run's, by every
    chunk: recording is ``UPDATE ... WHERE finished_at IS NULL``, and the "was I the last?"
    question is asked under the run's row lock, after the other chunks' commits, so exactly one
    chunk finishes the run however they interleave.
    """
    chunk = ReconciliationChunk.objects.filter(pk=chunk_id).first()
    if chunk is None or chunk.finished_at is not None:
        return None
    checked, found, kept = _check_accounts((chunk.lo, chunk.hi), batch=batch, keep=MISMATCHES_KEPT)
    with transaction.atomic():
        recorded = ReconciliationChunk.objects.filter(pk=chunk_id, finished_at__isnull=True).update(
            accounts_checked=checked, mismatch_count=found, mismatches=kept,
            finished_at=timezone.now())
        if not recorded:  # a concurrent delivery of this chunk recorded it first
            return None
        run = ReconciliationRun.objects.select_for_update().get(pk=chunk.run_id)
        if run.finished_at is not None or run.chunks.filter(finished_at__isnull=True).exists():
            return run
        chunks = list(run.chunks.order_by("number"))
        mismatches = _schema_mismatches()
        run.accounts_checked = sum(c.accounts_checked for c in chunks)
        run.mismatch_count = len(mismatches) + sum(c.mismatch_count for c in chunks)
        for c in chunks:
            mismatches.extend(c.mismatches[:max(0, MISMATCHES_KEPT - len(mismatches))])
        run.mismatches = mismatches[:MISMATCHES_KEPT]
        # started_at plus the time the run took: from its chunks' creation to now (the chunks
        # ran on other machines' clocks, so no one monotonic clock spans the run).
        took = max(timedelta(0), timezone.now() - min(c.created_at for c in chunks))
        run.finished_at = run.started_at + took
        run.save(update_fields=["accounts_checked", "mismatch_count", "mismatches", "finished_at"])
        if then is not None:
            then(run)
    return run


def _schema_mismatches() -> list[dict]:
    """The constraints, unique keys and trigger that keep the row-level invariants, where one
    is missing, not validated or disabled."""
    expected = sorted(
        constraint.name
        for model in (Account, Lot, Hold, Allocation)
        for constraint in model._meta.constraints
        if isinstance(constraint, CheckConstraint)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'c' AND convalidated "
            "AND conname = ANY(%s)",
            [expected],
        )
        present = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            """
            SELECT t.relname FROM pg_index i
            JOIN pg_class t ON t.oid = i.indrelid
            WHERE t.relname IN ('points_entry', 'points_refusal') AND t.relkind IN ('r', 'p')
              AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
              AND ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(n, o)
                        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n
                        ORDER BY k.o) = ARRAY['account_id', 'key']
            """
        )
        # The key is unique per account (the tables are partitioned by it, migration 0013); a
        # valid index on the parent means every partition has its part.
        unique = {row[0] for row in cursor.fetchall()}
        # The trigger of the parent, and its clone on every partition: one disabled is enough.
        cursor.execute(
            "SELECT min(CASE WHEN tgenabled IN ('O', 'A') THEN 1 ELSE 0 END) FROM pg_trigger "
            "WHERE tgname = 'points_entry_append_only' AND (tgrelid = 'points_entry'::regclass "
            "OR tgrelid IN (SELECT inhrelid FROM pg_inherits "
            "               WHERE inhparent = 'points_entry'::regclass)) "
            "HAVING bool_or(tgrelid = 'points_entry'::regclass)"
        )
        trigger = cursor.fetchone()
    found = [_schema_row("constraint", name, "missing") for name in expected if name not in present]
    found += [_schema_row("unique_key", f"{table}.(account_id, key)", "missing")
              for table in ("points_entry", "points_refusal") if table not in unique]
    # 'O' fires in the normal session role, 'A' always; 'D' is disabled, 'R' only on replicas.
    if trigger is None or trigger[0] != 1:
        found.append(_schema_row("append_only", "enabled", "missing" if trigger is None else "disabled"))
    return found


def _schema_row(check: str, expected: str, actual: str) -> dict:
    return {"account_id": None, "member_id": None, "check": check, "expected": expected,
            "actual": actual}
