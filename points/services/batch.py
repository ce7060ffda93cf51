"""``earn_many``: several earnings posted as one, for a paid order's referral rewards.

Each credit is exactly what ``earn`` posts for the same arguments — the same key and fingerprint,
the same lot, the same idempotency — but the batch is set-based: one statement credits every
account's totals and appends the entries and their lots. That fast path needs every account to
exist without debt and every key to be new; otherwise (a new member's first points, debt to
recover, a retry) the batch is rolled back and posted one credit at a time through ``earn``,
which handles each case and replays a retry.

Locks: the UPDATE locks the accounts in the order PostgreSQL meets them; a caller that posts to
several members locks their accounts first, in id order (``lock_objects.lock_accounts_of_members``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.db import IntegrityError, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from common.text import message_of
from points.errors import InvalidArgument
from points.models import Entry, EntryKind
from points.policy import default_expires_at
from points.services import postings
from points.services._cursor import _posting_cursor
from points.services._idempotency import _fingerprint, _is_key_violation
from points.services._validation import _check_points, _check_when, validate_key, validate_text
from points.services.lock_objects import accounts_lock_sql, clean_accounts


@dataclass(frozen=True)
class Credit:
    """One earning of a batch: what ``earn`` takes for one member, less the shared times."""

    member_id: int
    points: int
    key: str
    reason: str
    reference: str = ""
    rule_version: str | None = None
    explanation: dict | None = None


class _NotFastPath(Exception):
    pass


CHUNK = 2000  # credits per statement: bounded memory and statement size for any population


def earn_many(credits: Sequence[Credit | tuple[int, int]], *, key_prefix: str | None = None,
              reason: str | None = None, reference: str = "", available_at: datetime | None = None,
              expires_at: datetime | Literal["never"] | None = None,
              locked_clean_new: bool = False) -> list[Entry]:
    """Post ``credits`` (see the module) and return their ``earn`` entries, in order. All lots are
    pending until ``available_at`` and expire at ``expires_at`` (as for ``earn``). Raises what
    ``earn`` raises; a key twice in one batch is an ``InvalidArgument``.

    A credit is a ``Credit``, or — for a grant to many members (the win-back job) — a
    ``(member_id, points)`` pair posted under the key ``f"{key_prefix}:{member_id}"`` with
    ``reason`` and ``reference``. Large batches go in chunks of ``CHUNK``, each one statement;
    members without an account get one first (set-based), and a chunk that meets debt or a used
    key posts those credits through ``earn`` (which recovers debt or replays the key).

    ``locked_clean_new``: the caller's transaction holds every account's lock, each account exists
    without debt (``lock_accounts_of_members`` says which), and every key is new (derived from an
    order received for the first time). The batch then needs no savepoint of its own (two round
    trips fewer); a broken promise raises and aborts the caller's transaction, never writing half
    a batch."""
    credits = [_as_credit(credit, key_prefix, reason, reference) for credit in credits]
    if not credits:
        return []
    checked = []
    for credit in credits:
        _check_points(credit.points)
        validate_key(credit.key)
        checked.append((credit, validate_text("reason", credit.reason, required=True, max_length=255),
                        validate_text("reference", credit.reference, required=False, max_length=100),
                        validate_text("rule_version", credit.rule_version, required=False, max_length=32)))
    if len({credit.key for credit in credits}) < len(credits):
        raise InvalidArgument("Each credit of a batch needs its own key.")
    _check_when("available_at", available_at)
    if expires_at != postings.NEVER:
        _check_when("expires_at", expires_at)
    if locked_clean_new:
        with _posting_cursor() as cursor:
            try:
                return _post_batch(cursor, checked, available_at, expires_at)
            except _NotFastPath:
                raise RuntimeError("earn_many(locked_clean_new=True) met a new or indebted account "
                                   "or a used key.") from None
    posted = []
    for offset in range(0, len(checked), CHUNK):
        posted.extend(_post_chunk(checked[offset:offset + CHUNK], available_at, expires_at))
    return posted


def _as_credit(credit, key_prefix, reason, reference) -> Credit:
    if isinstance(credit, Credit):
        return credit
    if not key_prefix or not reason:
        raise InvalidArgument("A (member id, points) credit needs key_prefix and reason.")
    member_id, points = credit
    return Credit(member_id, points, key=f"{key_prefix}:{member_id}", reason=reason,
                  reference=reference)


@transaction.atomic
def _post_chunk(checked, available_at, expires_at) -> list[Entry]:
    # One transaction per chunk: its accounts stay locked, in id order, until it commits.
    if len(checked) > 1:
        indebted = _prepare_accounts([credit.member_id for credit, *_ in checked])
    else:
        indebted = set()  # one credit: the fast path or earn, no preparation worth a round trip
    fast = [row for row in checked if row[0].member_id not in indebted]
    by_key: dict[str, Entry] = {}
    if fast:
        try:
            with transaction.atomic(), _posting_cursor() as cursor:
                by_key.update((entry.key, entry) for entry in
                              _post_batch(cursor, fast, available_at, expires_at))
        except _NotFastPath:
            pass
        except IntegrityError as exc:  # a key used before: earn replays it (or says it conflicts)
            if not _is_key_violation(exc):
                raise
    return [by_key.get(credit.key) or postings.earn(
                _Member(credit.member_id), credit.points, key=credit.key, reason=credit.reason,
                reference=credit.reference, available_at=available_at, expires_at=expires_at,
                rule_version=credit.rule_version, explanation=credit.explanation)
            for credit, *_ in checked]


def _prepare_accounts(member_ids: list[int]) -> set[int]:
    """Create the accounts the members lack and lock all of them in account id order (the
    project's lock order: two batches, or a batch and a job, never wait on each other in a
    cycle); return the members whose account has debt, which ``earn`` recovers from their credit."""
    ids = sorted(set(member_ids))
    with _posting_cursor() as cursor:
        cursor.execute(accounts_lock_sql(), [ids])
        rows = cursor.fetchall()
        if len(rows) < len(ids):  # some members' first points: make their accounts, lock them too
            cursor.execute(
                "INSERT INTO points_account (id, member_id, available, pending, held, debt, "
                "lifetime_earned, lifetime_spent, lifetime_expired) "
                "SELECT m, m, 0, 0, 0, 0, 0, 0, 0 FROM unnest(%s::bigint[]) AS m ORDER BY m "
                "ON CONFLICT (id) DO NOTHING",  # an account's id is its member's
                [sorted(set(ids) - {member_id for member_id, _debt in rows})],
            )
            cursor.execute(accounts_lock_sql(), [ids])
            rows = cursor.fetchall()
    return {member_id for member_id, _debt in rows} - clean_accounts(rows)


@dataclass(frozen=True)
class _Member:
    """What ``earn`` reads of a member: the primary key."""

    pk: int


def _message_json(reason) -> str | None:
    message = message_of(reason)
    return None if message is None else json.dumps(message, ensure_ascii=False)


def _post_batch(cursor, checked, available_at, expires_at) -> list[Entry]:
    now = timezone.now()
    lot_available_at = available_at or now
    pending = lot_available_at > now
    lot_expires_at = (default_expires_at(now) if expires_at is None
                      else None if expires_at == postings.NEVER else expires_at)
    rows = [
        (position, credit.member_id, credit.key, credit.points, str(reason), _message_json(reason),
         reference,
         _fingerprint(EntryKind.EARN, credit.member_id, credit.points, reference, available_at,
                      expires_at),
         rule_version,
         None if credit.explanation is None else json.dumps(credit.explanation, ensure_ascii=False))
        for position, (credit, reason, reference, rule_version) in enumerate(checked)
    ]
    # One statement: credit each account once with its members' sum (only accounts without debt),
    # append each entry with its balance after (the account's new total less the same member's
    # later credits of the batch), and its lot. An account missing from ``account`` leaves its
    # entries out, which the caller sees and rolls back. The rows travel as ten arrays
    # (``unnest``): the same statement for any batch size, and no limit on parameters.
    columns = [list(column) for column in zip(*rows, strict=True)]
    cursor.execute(
        """
        WITH v AS (
            SELECT * FROM unnest(%s::int[], %s::bigint[], %s::text[], %s::bigint[], %s::text[],
                                 %s::jsonb[], %s::text[], %s::text[], %s::text[], %s::jsonb[])
                AS v(position, member_id, key, delta, reason, reason_message, reference,
                     fingerprint, rule_version, explanation)
        ),
        per_member AS (SELECT member_id, SUM(delta) AS total FROM v GROUP BY member_id),
        account AS (
            UPDATE points_account a
            SET available = a.available + CASE WHEN %s::boolean THEN 0 ELSE p.total END,
                pending = a.pending + CASE WHEN %s::boolean THEN p.total ELSE 0 END,
                lifetime_earned = a.lifetime_earned + p.total
            FROM per_member p WHERE a.id = p.member_id AND a.debt = 0
            RETURNING a.member_id, a.id, a.available + a.pending + a.held - a.debt AS total
        ), entry AS (
            INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason,
                                      reason_message, reference, fingerprint, rule_version,
                                      explanation, created_at)
            SELECT account.id, v.key, %s::text, v.delta,
                   account.total - COALESCE(SUM(v.delta) OVER (
                       PARTITION BY v.member_id ORDER BY v.position DESC
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0),
                   v.reason, v.reason_message, v.reference, v.fingerprint, v.rule_version,
                   v.explanation, %s::timestamptz
            FROM v JOIN account ON account.member_id = v.member_id
            -- a refusal recorded under one of the keys: not the fast path (earn replays it)
            WHERE NOT EXISTS (SELECT 1 FROM points_refusal r
                              WHERE (r.account_id, r.key) IN (SELECT member_id, key FROM v))
            ORDER BY v.position  -- entry ids in the batch's order
            RETURNING id, key, account_id, delta, balance_after
        ), lot AS (
            INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at,
                                    expires_at, created_at)
            SELECT account_id, id, delta, delta, %s::boolean, %s::timestamptz, %s::timestamptz,
                   %s::timestamptz
            FROM entry
        )
        SELECT key, id, account_id, balance_after FROM entry
        """,
        [*columns, pending, pending, EntryKind.EARN, now,
         pending, lot_available_at, lot_expires_at, now],
    )
    posted = {key: (entry_id, account_id, balance_after)
              for key, entry_id, account_id, balance_after in cursor.fetchall()}
    if len(posted) < len(rows):
        raise _NotFastPath  # a new account or debt to recover, or a refusal: earn handles each
    entries = []
    for (credit, reason, reference, rule_version), row in zip(checked, rows, strict=True):
        entry_id, account_id, balance_after = posted[credit.key]
        entries.append(_entry(id=entry_id, account_id=account_id, key=credit.key, kind=EntryKind.EARN,
                              delta=credit.points, balance_after=balance_after, reason=reason,
                              reason_message=message_of(reason),
                              reference=reference, fingerprint=row[7], rule_version=rule_version,
                              explanation=credit.explanation, created_at=now))
    return entries


# Every column of an entry, for ``_entry``: a field left out would be a deferred field (a query
# on first access), so the template names them all.
_ENTRY_COLUMNS = {field.attname: None for field in Entry._meta.concrete_fields}


def _entry(**values) -> Entry:
    """An ``Entry`` of a row just inserted, built as ``Model.from_db`` would but without the
    per-field work of ``__init__`` (a fifth of a large batch's time otherwise)."""
    entry = Entry.__new__(Entry)
    entry.__dict__.update(_ENTRY_COLUMNS, **values)
    entry._state = ModelState()
    entry._state.adding = False
    entry._state.db = "default"
    return entry
