"""The scheduled jobs: ``activate_due``, ``expire_due`` and ``release_stale_holds``.

Set-based SQL over batches of accounts, each batch locked in id order; safe to re-run.

Each takes ``accounts=(lo, hi)`` (``points.services.chunks``) to do only that id range's share:
``points.tasks`` runs a job as one chunk per range in parallel workers, all with the same ``now``
and run id, and running every chunk does exactly what one run without ``accounts`` does. A chunk
delivered twice is a no-op: what it did is no longer due, and an account that already has this
run's entry is skipped (``_in_batches``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from points.errors import HoldNotOpen
from points.models import Hold, HoldStatus
from points.services._idempotency import _entry_by_id, _fingerprint, _posting
from points.services._journal import _in_default_language
from points.services.chunks import AccountRange, keyset
from points.services.holds import _resolve_hold
from points.services.lock_objects import lock_accounts

JOB_BATCH_ACCOUNTS = 5000


def _due_account_batches(condition: str, now, accounts: AccountRange | None = None):
    """Yield ids of accounts with due lots (of the range ``accounts``, default all), in id order,
    ``JOB_BATCH_ACCOUNTS`` at a time."""
    last, upto = keyset(accounts)
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT account_id FROM points_lot WHERE {condition} AND account_id > %s "
                "AND account_id <= %s ORDER BY account_id LIMIT %s",
                [now, last, upto, JOB_BATCH_ACCOUNTS],
            )
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return
        yield ids
        last = ids[-1]


def _in_batches(due: str, statement: str, *, now: datetime, reason: str, kind: str,
                accounts: AccountRange | None = None, run: str | None = None) -> int:
    """Run ``statement`` over the accounts (of the range ``accounts``, default all) with lots
    matching ``due`` (SQL taking ``now`` as its one ``%s``), ``JOB_BATCH_ACCOUNTS`` accounts at a
    time, each batch in its own transaction with its accounts locked in id order first; returns
    the sum of what the statement returns.

    ``statement`` gets ``%(ids)s`` (the batch), ``%(now)s``, ``%(run)s`` (for its entries' keys,
    ``{kind}:{run}:{account id}``) and ``%(reason)s`` (``reason`` a ``Text`` with a ``%s`` for the
    points; its message id is ``%(msgid)s``, stored with the points as the entry's
    ``reason_message``).

    ``run`` given (a chunk of a run, which may be a second delivery of it): once the batch is
    locked, its accounts that already have this run's entry are left out. What the first
    delivery did is no longer due anyway; this keeps a lot that fell due since (a late earning
    dated in the past) from colliding with the run's key: it waits for the next run.
    """
    given = run is not None
    run = run or _run_id(now)
    total = 0
    for ids in _due_account_batches(due, now, accounts):
        with transaction.atomic(), connection.cursor() as cursor:
            lock_accounts(cursor, ids)
            if given:
                ids = _without_entry_of_run(cursor, ids, kind, run)
                if not ids:
                    continue
            cursor.execute(statement, {"ids": ids, "now": now, "run": run, "reason": reason,
                                       "msgid": reason.parts[0][0]})
            total += cursor.fetchone()[0]
    return total


def _without_entry_of_run(cursor, ids: list[int], kind: str, run: str) -> list[int]:
    """``ids`` less the accounts that have this run's ``kind`` entry (called under their locks)."""
    cursor.execute(
        "SELECT account_id FROM points_entry WHERE account_id = ANY(%s) AND key = ANY(%s)",
        [ids, [f"{kind}:{run}:{account_id}" for account_id in ids]],
    )
    done = {row[0] for row in cursor.fetchall()}
    return [account_id for account_id in ids if account_id not in done]


def _run_id(now) -> str:
    """A job run's id in its entries' keys: the instant plus a random tag, so a second run at the
    same instant (a catch-up that finds newly due lots) never repeats a key."""
    return f"{now.isoformat()}/{uuid.uuid4().hex[:8]}"


def new_run_id(now: datetime) -> str:
    """The run id a dispatcher hands to every chunk of one run (``points.tasks``)."""
    return _run_id(now)


def activate_due(now: datetime | None = None, *, accounts: AccountRange | None = None,
                 run: str | None = None) -> int:
    """Make pending lots whose cooling-off has ended spendable; returns the points activated.

    Set-based, in batches of accounts; one ``activate`` entry per account per run; safe to re-run.
    ``accounts``: only that id range (a chunk); ``run``: the run id the chunk belongs to.
    """
    now = now or timezone.now()
    reason = _in_default_language(gettext_noop("%(points)s points became available"), points="%s")
    return _in_batches("pending AND available_at <= %s", _ACTIVATE, now=now, reason=reason,
                       kind="activate", accounts=accounts, run=run)


_ACTIVATE = """
    WITH due AS (
        UPDATE points_lot SET pending = FALSE
        WHERE account_id = ANY(%(ids)s) AND pending AND available_at <= %(now)s
        RETURNING account_id, remaining
    ), per_account AS (
        SELECT account_id, SUM(remaining) AS points FROM due GROUP BY account_id
    ), accounts AS (
        UPDATE points_account a
        SET pending = a.pending - p.points, available = a.available + p.points
        FROM per_account p WHERE a.id = p.account_id
        RETURNING a.id, a.available + a.pending + a.held - a.debt AS total, p.points
    ), entries AS (
        INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason,
            reason_message, reference, fingerprint, rule_version, created_at)
        SELECT id, 'activate:' || %(run)s || ':' || id,
               'activate', 0, total,
               format(%(reason)s, points),
               jsonb_build_array(jsonb_build_array(%(msgid)s::text,
                                                   jsonb_build_object('points', points))),
               '', '', '', %(now)s
        FROM accounts
        -- A pending lot emptied by a reversal or by debt recovery still turns
        -- available, but "0 points became available" is no news to the member.
        WHERE points > 0
    )
    SELECT COALESCE(SUM(points), 0) FROM accounts
"""


def expire_due(now: datetime | None = None, *, accounts: AccountRange | None = None,
               run: str | None = None) -> int:
    """Expire what is due at ``now``; returns the points expired.

    Set-based, in batches of accounts (memory does not grow with the number of lots); one
    ``expire`` entry per account per run; re-running finds nothing left to expire. Points held
    by an open hold are not in ``remaining`` and are honoured by its capture. ``accounts``: only
    that id range (a chunk); ``run``: the run id the chunk belongs to.
    """
    now = now or timezone.now()
    reason = _in_default_language(gettext_noop("%(points)s points expired"), points="%s")
    return _in_batches("remaining > 0 AND expires_at IS NOT NULL AND expires_at <= %s", _EXPIRE,
                       now=now, reason=reason, kind="expire", accounts=accounts, run=run)


_EXPIRE = """
    WITH due AS (
        SELECT id, account_id, remaining, pending FROM points_lot
        WHERE account_id = ANY(%(ids)s) AND remaining > 0
          AND expires_at IS NOT NULL AND expires_at <= %(now)s
    ), lots AS (
        UPDATE points_lot l SET remaining = 0 FROM due WHERE l.id = due.id
    ), per_account AS (
        SELECT account_id,
               COALESCE(SUM(remaining) FILTER (WHERE NOT pending), 0) AS from_available,
               COALESCE(SUM(remaining) FILTER (WHERE pending), 0) AS from_pending
        FROM due GROUP BY account_id
    ), accounts AS (
        UPDATE points_account a
        SET available = a.available - p.from_available,
            pending = a.pending - p.from_pending,
            lifetime_expired = a.lifetime_expired + p.from_available + p.from_pending
        FROM per_account p WHERE a.id = p.account_id
        RETURNING a.id, a.available + a.pending + a.held - a.debt AS total,
                  p.from_available + p.from_pending AS points
    ), entries AS (
        INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason,
            reason_message, reference, fingerprint, rule_version, created_at)
        SELECT id, 'expire:' || %(run)s || ':' || id,
               'expire', -points, total,
               format(%(reason)s, points),
               jsonb_build_array(jsonb_build_array(%(msgid)s::text,
                                                   jsonb_build_object('points', points))),
               '', '', '', %(now)s
        FROM accounts
    )
    SELECT COALESCE(SUM(points), 0) FROM accounts
"""


def release_stale_holds(now: datetime | None = None, *,
                        accounts: AccountRange | None = None) -> int:
    """Release every open hold past its deadline (status ``expired``); returns how many.

    Each hold resolves in its own transaction under its account lock; a hold captured or released
    meanwhile is skipped. Safe to re-run (each release's key names its hold). ``accounts``: only
    the holds of that id range's accounts (a chunk).
    """
    now = now or timezone.now()
    after, upto = keyset(accounts)
    stale = list(
        Hold.objects.filter(status=HoldStatus.HELD, expires_at__lte=now,
                            account_id__gt=after, account_id__lte=upto)
        .order_by("account_id", "id")
        .values_list("account_id", "id")
    )
    released = 0
    for account_id, hold_id in stale:
        key = f"hold-timeout:{hold_id}"
        fingerprint = _fingerprint("hold-timeout", hold_id)
        made = []

        def work(cursor, account_id=account_id, hold_id=hold_id, key=key, fingerprint=fingerprint,
                 made=made):
            made.append(_resolve_hold(cursor, account_id, hold_id, key, fingerprint,
                                      HoldStatus.EXPIRED, now))
            return made[-1]

        try:
            outcome = _posting(account_id, key, fingerprint, work, _entry_by_id)
        except HoldNotOpen:
            continue
        # Counted only when this call's posting committed; a replay (a concurrent run or a
        # second delivery of the chunk released it first) returns the first release's entry.
        if made and outcome is made[-1]:
            released += 1
    return released


PRUNE_BATCH = 5000


def prune_refusals(*, before: datetime) -> int:
    """Delete the refusals recorded before ``before``; returns how many.

    A refusal is how a retry under the same key is refused the same way; past the key retention
    (``points.policy.KEY_RETENTION``) no sender retries, so the key may be used afresh. Entries
    (and their keys) are never deleted. In batches of ``PRUNE_BATCH`` rows, each its own short
    transaction; a concurrent prune skips the rows this one is deleting (``SKIP LOCKED``), so two
    at once delete each row once between them.
    """
    return delete_in_batches("points_refusal", before=before)


def delete_in_batches(table: str, *, before: datetime, batch: int | None = None) -> int:
    """Delete the rows of ``table`` (a trusted name with ``id`` and an indexed ``created_at``)
    created before ``before``, ``batch`` (default ``PRUNE_BATCH``) at a time; returns how many."""
    batch = batch or PRUNE_BATCH
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE created_at < %s "
                "ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)",
                [before, batch],
            )
            count = cursor.rowcount
        deleted += count
        if count < batch:  # done, or what is left is being deleted by a concurrent prune
            return deleted
