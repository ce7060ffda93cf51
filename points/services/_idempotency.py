"""The idempotency protocol: one outcome per key of an account (see the package docstring).

A key is unique per account (``UNIQUE (account_id, key)``: the ledger is partitioned by account,
and PostgreSQL, like Citus, enforces only unique keys that contain the partition key). The same
key on another member's posting is therefore another posting, not a conflict.

``_posting`` runs a posting optimistically; when its guarded insert finds the key used
(``_KeyTaken``) or the unique index catches a duplicate, the attempt is rolled back and the first
outcome, an entry or a recorded refusal, is replayed (or ``IdempotencyConflict`` raised).
"""

from __future__ import annotations

import hashlib
import json
import re

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from points.errors import REFUSALS, IdempotencyConflict, LedgerError
from points.models import Entry, Hold
from points.services._cursor import _posting_cursor
from points.services.lock_objects import _Account


def _fingerprint(operation: str, *args) -> str:
    """What makes two calls 'the same': the operation and the caller's own arguments.

    Human text (reason, explanation) is left out, so a retry that words its reason differently is
    still a retry; defaults computed at call time (expiry) are left out because they depend on
    when the retry arrives.
    """
    raw = json.dumps([operation, *args], default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


class _KeyTaken(Exception):
    """The key already has an outcome: roll this attempt back and replay that outcome."""


def _posting(account_id: int, key: str, fingerprint: str, work, replay):
    """Run ``work(cursor)`` as one idempotent posting to account ``account_id`` (the member's id).

    ``work`` returns the result, or returns (not raises) a refusal error after recording it, so
    the refusal commits; it raises ``_KeyTaken`` when its guarded insert finds the key used.
    """
    try:
        with transaction.atomic(), _posting_cursor() as cursor:
            outcome = work(cursor)
    except _KeyTaken:
        pass
    except IntegrityError as exc:
        if not _is_key_violation(exc):
            raise
    except LedgerError:
        # A retry of a posting that has since changed the state (a hold already captured, an
        # entry already fully reversed) must replay its first outcome, not refuse.
        if _find_outcome(account_id, key) is None:
            raise
    else:
        if isinstance(outcome, LedgerError):
            raise outcome
        return outcome
    return _replay(account_id, key, fingerprint, replay)


def _is_key_violation(exc: IntegrityError) -> bool:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return (
        getattr(cause, "sqlstate", None) == "23505"
        and diag is not None
        and _LEDGER_KEY_TABLE.fullmatch(diag.table_name or "") is not None
    )


# The unique index that catches a duplicate is a partition's: points_entry_p07 and the like.
_LEDGER_KEY_TABLE = re.compile(r"points_(entry|refusal)(_p\d+)?")


def _find_outcome(account_id: int, key: str):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'entry', id, fingerprint, '', '' FROM points_entry "
            "WHERE account_id = %s AND key = %s "
            "UNION ALL "
            "SELECT 'refusal', id, fingerprint, code, message FROM points_refusal "
            "WHERE account_id = %s AND key = %s",
            [account_id, key, account_id, key],
        )
        return cursor.fetchone()


def _replay(account_id: int, key: str, fingerprint: str, replay):
    row = _find_outcome(account_id, key)
    if row is None:  # a collision on some other key: not ours to explain
        raise IntegrityError(f"posting {key!r} collided with another key")
    source, entry_id, stored_fingerprint, code, message = row
    if stored_fingerprint != fingerprint:
        raise IdempotencyConflict(f"Key {key!r} was already used with different arguments.")
    if source == "refusal":
        raise REFUSALS[code](message)
    return replay(account_id, entry_id)


def _entry_by_id(account_id: int, entry_id: int) -> Entry:
    return Entry.objects.get(account_id=account_id, pk=entry_id)


def _hold_of_entry(account_id: int, entry_id: int) -> Hold:
    return Hold.objects.get(account_id=account_id, entries__account_id=account_id,
                            entries__id=entry_id)


def _record_refusal(cursor, account: _Account, key: str, fingerprint: str, error: LedgerError):
    cursor.execute(
        "INSERT INTO points_refusal (account_id, key, fingerprint, code, message, created_at) "
        "SELECT %s::bigint, %s::text, %s::text, %s::text, %s::text, %s::timestamptz "
        "WHERE NOT EXISTS (SELECT 1 FROM points_entry WHERE account_id = %s AND key = %s) "
        "ON CONFLICT (account_id, key) DO NOTHING RETURNING id",
        [account.id, key, fingerprint, error.code, error.message[:255], timezone.now(),
         account.id, key],
    )
    if cursor.fetchone() is None:
        raise _KeyTaken
    return error
