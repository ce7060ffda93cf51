"""The only code that moves points.

Every function here is one *posting*: it locks the member's account row, changes lots, holds and
the account's cached totals together, appends journal entries, and commits (or joins the caller's
transaction through a savepoint). Pages, the API, the admin, tasks and other apps call these.

Idempotency. Every posting carries a caller-chosen ``key``, unique in the database:

* the same key with the same arguments returns the first result and changes nothing;
* a refusal (``InsufficientPoints``) is recorded under its key and replayed as the same refusal,
  so a retry never succeeds later under that key;
* the same key with other arguments raises ``IdempotencyConflict``.

New keys pay nothing for this: the posting runs optimistically, the entry insert is guarded
against a recorded refusal and the unique index catches a duplicate, and only then (rarely) is the
transaction rolled back and the first outcome looked up.

Locks. A posting locks exactly one account row first, then touches only that account's lots and
holds; the batch jobs lock many accounts, always in id order, before touching their lots. So two
ledger transactions never wait on each other in a cycle. Nothing here calls out while a lock is
held.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, override

from points.errors import (
    REFUSALS,
    HoldNotOpen,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidAmount,
    InvalidArgument,
    LedgerError,
    NotReversible,
)
from points.models import Entry, EntryKind, Hold, HoldStatus
from points.policy import default_expires_at

MAX_POINTS = 10**9
JOB_BATCH_ACCOUNTS = 5000

# Passed as ``expires_at`` for points that never expire (None means "the default policy").
NEVER = "never"

# Lots are consumed soonest-expiring first, then oldest first.
SPEND_ORDER = "expires_at ASC NULLS LAST, id ASC"


# --------------------------------------------------------------------------- validation


def _check_points(points) -> int:
    # bool is an int subclass and floats/strings/Decimals are refused outright: no silent rounding.
    if type(points) is not int or not 0 < points <= MAX_POINTS:
        raise InvalidAmount(f"Points must be an integer from 1 to {MAX_POINTS}, not {points!r}.")
    return points


def _check_key(key) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > 180:
        raise InvalidArgument("key must be a non-empty string of at most 180 characters.")
    return key


def _check_text(name: str, value, *, required: bool, max_length: int) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > max_length or (required and not value.strip()):
        raise InvalidArgument(
            f"{name} must be {'a non-empty' if required else 'a'} string of at most "
            f"{max_length} characters."
        )
    return value


def _check_when(name: str, value) -> None:
    if value is not None and not (isinstance(value, datetime) and timezone.is_aware(value)):
        raise InvalidArgument(f"{name} must be a timezone-aware datetime.")


def _fingerprint(operation: str, *args) -> str:
    """What makes two calls 'the same': the operation and the caller's own arguments.

    Human text (reason, explanation) is left out, so a retry that words its reason differently is
    still a retry; defaults computed at call time (expiry) are left out because they depend on
    when the retry arrives.
    """
    raw = json.dumps([operation, *args], default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _in_default_language(message: str, **params) -> str:
    """Reasons written by the system are stored in the site's default language."""
    from django.conf import settings

    with override(settings.LANGUAGE_CODE):
        return _(message) % params if params else _(message)


# --------------------------------------------------------------------------- posting runner


class _PreparedCursor:
    """A psycopg cursor on Django's connection that binds parameters on the server and prepares
    each statement once per connection.

    Django's own cursors bind client-side and never prepare, so PostgreSQL would parse and plan
    the same few posting statements on every call (the lot-taking CTE is costly to plan). Errors
    still surface as ``django.db`` exceptions through ``wrap_database_errors``.
    """

    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql, params=()):
        with connection.wrap_database_errors:
            self._cursor.execute(sql, params, prepare=True)

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchall(self):
        return self._cursor.fetchall()


@contextmanager
def _posting_cursor():
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        yield _PreparedCursor(cursor)


class _KeyTaken(Exception):
    """The key already has an outcome: roll this attempt back and replay that outcome."""


@dataclass
class _Account:
    id: int
    available: int
    pending: int
    held: int
    debt: int

    @property
    def total(self) -> int:
        return self.available + self.pending + self.held - self.debt


def _posting(key: str, fingerprint: str, work, replay):
    """Run ``work(cursor)`` as one idempotent posting.

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
        if _find_outcome(key) is None:
            raise
    else:
        if isinstance(outcome, LedgerError):
            raise outcome
        return outcome
    return _replay(key, fingerprint, replay)


def _is_key_violation(exc: IntegrityError) -> bool:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return (
        getattr(cause, "sqlstate", None) == "23505"
        and diag is not None
        and diag.table_name in ("points_entry", "points_refusal")
    )


def _find_outcome(key: str):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'entry', id, fingerprint, '', '' FROM points_entry WHERE key = %s "
            "UNION ALL "
            "SELECT 'refusal', id, fingerprint, code, message FROM points_refusal WHERE key = %s",
            [key, key],
        )
        return cursor.fetchone()


def _replay(key: str, fingerprint: str, replay):
    row = _find_outcome(key)
    if row is None:  # a collision on some other key: not ours to explain
        raise IntegrityError(f"posting {key!r} collided with another key")
    source, entry_id, stored_fingerprint, code, message = row
    if stored_fingerprint != fingerprint:
        raise IdempotencyConflict(f"Key {key!r} was already used with different arguments.")
    if source == "refusal":
        raise REFUSALS[code](message)
    return replay(entry_id)


def _entry_by_id(entry_id: int) -> Entry:
    return Entry.objects.get(pk=entry_id)


def _hold_of_entry(entry_id: int) -> Hold:
    return Hold.objects.get(entries__id=entry_id)


def _lock_account(cursor, member_id: int) -> _Account:
    """Lock the member's account row (creating the account on first use)."""
    sql = (
        "SELECT id, available, pending, held, debt FROM points_account "
        "WHERE member_id = %s FOR UPDATE"
    )
    cursor.execute(sql, [member_id])
    row = cursor.fetchone()
    if row is None:
        cursor.execute(
            "INSERT INTO points_account (member_id, available, pending, held, debt, "
            "lifetime_earned, lifetime_spent, lifetime_expired) VALUES (%s, 0, 0, 0, 0, 0, 0, 0) "
            "ON CONFLICT (member_id) DO NOTHING",
            [member_id],
        )
        cursor.execute(sql, [member_id])
        row = cursor.fetchone()
    return _Account(*row)


def _take_available(cursor, member_id: int, points: int, *, into_hold: bool):
    """Lock the account and take ``points`` out of ``available`` (spent, or into ``held``).

    Returns ``(account after, True)``, or ``(account, False)`` with nothing changed when the
    points are not there. The common case is one conditional UPDATE that locks and debits; when
    it matches no row (no account yet, or too few points) the account is locked and looked at,
    since a credit may have landed in between.
    """
    held, spent = (points, 0) if into_hold else (0, points)
    cursor.execute(
        "UPDATE points_account SET available = available - %s, held = held + %s, "
        "lifetime_spent = lifetime_spent + %s WHERE member_id = %s AND available >= %s "
        "RETURNING id, available, pending, held, debt",
        [points, held, spent, member_id, points],
    )
    row = cursor.fetchone()
    if row is not None:
        return _Account(*row), True
    account = _lock_account(cursor, member_id)
    if account.available < points:
        return account, False
    account.available -= points
    account.held += held
    _save_totals(cursor, account, spent=spent)
    return account, True


def _lock_account_by_id(cursor, account_id: int) -> _Account:
    cursor.execute(
        "SELECT id, available, pending, held, debt FROM points_account WHERE id = %s FOR UPDATE",
        [account_id],
    )
    return _Account(*cursor.fetchone())


def _save_totals(cursor, account: _Account, *, earned=0, spent=0, expired=0) -> None:
    cursor.execute(
        "UPDATE points_account SET available = %s, pending = %s, held = %s, debt = %s, "
        "lifetime_earned = lifetime_earned + %s, lifetime_spent = lifetime_spent + %s, "
        "lifetime_expired = lifetime_expired + %s WHERE id = %s",
        [account.available, account.pending, account.held, account.debt,
         earned, spent, expired, account.id],
    )


_ENTRY_TYPES = {
    "account_id": "bigint", "key": "text", "kind": "text", "delta": "bigint",
    "balance_after": "bigint", "reason": "text", "reference": "text", "fingerprint": "text",
    "reverses_id": "bigint", "hold_id": "bigint", "rule_version": "text", "explanation": "jsonb",
    "staff_id": "bigint", "created_at": "timestamptz",
}
_ENTRY_COLUMNS = tuple(_ENTRY_TYPES)


def _insert_entry(cursor, *, guard_key: bool = False, then: tuple[str, list] | None = None,
                  **fields) -> Entry:
    """Append one journal row and return it as an ``Entry`` without reading it back.

    With ``guard_key`` the insert does nothing when a refusal holds the key (raising
    ``_KeyTaken``); a duplicate entry key is caught by the unique index. ``then`` is
    ``(more CTEs, their parameters)`` run in the same statement, reading the new row as
    ``entry``: the lot of an earning, the lots taken by a spending, one round trip instead of two.
    """
    fields.setdefault("reason", "")
    fields.setdefault("reference", "")
    fields.setdefault("fingerprint", "")
    fields.setdefault("rule_version", "")
    for name in ("reverses_id", "hold_id", "explanation", "staff_id"):
        fields.setdefault(name, None)
    values = [fields[name] for name in _ENTRY_COLUMNS]
    explanation_index = _ENTRY_COLUMNS.index("explanation")
    if values[explanation_index] is not None:
        values[explanation_index] = json.dumps(values[explanation_index], ensure_ascii=False)
    # Explicit types: in INSERT ... SELECT a NULL bound on the server would otherwise be text.
    placeholders = ", ".join(f"%s::{_ENTRY_TYPES[name]}" for name in _ENTRY_COLUMNS)
    columns = ", ".join(_ENTRY_COLUMNS)
    if guard_key:
        sql = (f"INSERT INTO points_entry ({columns}) SELECT {placeholders} "
               "WHERE NOT EXISTS (SELECT 1 FROM points_refusal WHERE key = %s) RETURNING id")
        params = [*values, fields["key"]]
    else:
        sql = f"INSERT INTO points_entry ({columns}) VALUES ({placeholders}) RETURNING id"
        params = values
    if then is not None:
        more_ctes, more_params = then
        sql = f"WITH entry AS ({sql}), {more_ctes} SELECT id FROM entry"
        params = [*params, *more_params]
    cursor.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        raise _KeyTaken
    entry = Entry(id=row[0], **fields)
    entry._state.adding = False
    return entry


def _record_refusal(cursor, account: _Account, key: str, fingerprint: str, error: LedgerError):
    cursor.execute(
        "INSERT INTO points_refusal (account_id, key, fingerprint, code, message, created_at) "
        "SELECT %s::bigint, %s::text, %s::text, %s::text, %s::text, %s::timestamptz "
        "WHERE NOT EXISTS (SELECT 1 FROM points_entry WHERE key = %s) "
        "ON CONFLICT (key) DO NOTHING RETURNING id",
        [account.id, key, fingerprint, error.code, error.message[:255], timezone.now(), key],
    )
    if cursor.fetchone() is None:
        raise _KeyTaken
    return error


# --------------------------------------------------------------------------- lot helpers


# Takes points from an account's lots in one pass: a running sum picks the lots in ``{order}``,
# they are decremented, and an allocation row per lot records it for ``{entry_id}`` (a parameter,
# or ``entry.id`` of an entry inserted in the same statement, joined in ``{source}``).
_TAKE_FROM_LOTS = """
    candidates AS (
        SELECT id, remaining, pending, SUM(remaining) OVER (ORDER BY {order}) AS running
        FROM points_lot
        WHERE account_id = %s AND remaining > 0 AND {lot_filter}
    ), taken AS (
        SELECT id, pending, LEAST(remaining, %s - (running - remaining)) AS amount
        FROM candidates WHERE running - remaining < %s
    ), updated AS (
        UPDATE points_lot l SET remaining = l.remaining - taken.amount
        FROM taken WHERE l.id = taken.id
        RETURNING l.id, taken.amount, taken.pending
    ), allocated AS (
        INSERT INTO points_allocation (account_id, lot_id, entry_id, hold_id, amount)
        SELECT %s::bigint, updated.id, {entry_id}, %s::bigint, updated.amount FROM {source}
    )
"""


def _take_from_lots(cursor, account_id: int, points: int, *, entry_id=None, hold_id=None,
                    lot_filter="NOT pending", order=SPEND_ORDER, order_params=()):
    """Take up to ``points`` from the account's lots in ``order`` and record the allocations.

    One statement. Returns ``[(lot_id, taken, pending)]``; the caller checks the sum when it
    must be exact. Only called with the account row locked, which guards its lots.
    """
    ctes = _TAKE_FROM_LOTS.format(order=order, lot_filter=lot_filter, entry_id="%s::bigint",
                                  source="updated")
    cursor.execute(
        f"WITH {ctes} SELECT id, amount, pending FROM updated",
        [*order_params, account_id, points, points, account_id, entry_id, hold_id],
    )
    return cursor.fetchall()


def _spend_lots_after_entry(account_id: int, points: int):
    """``then`` for ``_insert_entry``: the spending's lots, soonest-expiring first. Joined with
    the new entry, so a guarded insert that wrote nothing allocates nothing either."""
    ctes = _TAKE_FROM_LOTS.format(order=SPEND_ORDER, lot_filter="NOT pending", entry_id="entry.id",
                                  source="updated CROSS JOIN entry")
    return ctes, [account_id, points, points, account_id, None]


def _return_to_lots(cursor, account_id: int, returns, *, entry_id: int, hold_id=None, now):
    """Give points back to the lots they came from, recording the allocations.

    ``returns`` is ``[(lot_id, amount, expires_at)]``. Points whose lot has expired in the
    meantime are not put back: they expire at once. Returns ``(returned, expired)``.
    """
    if not returns:
        return 0, 0
    lot_ids = [lot_id for lot_id, _amount, _expires in returns]
    amounts = [amount for _lot, amount, _expires in returns]
    cursor.execute(
        "INSERT INTO points_allocation (account_id, lot_id, entry_id, hold_id, amount) "
        "SELECT %s::bigint, lot_id, %s::bigint, %s::bigint, amount "
        "FROM unnest(%s::bigint[], %s::bigint[]) AS v(lot_id, amount)",
        [account_id, entry_id, hold_id, lot_ids, amounts],
    )
    live = [(lot_id, amount) for lot_id, amount, expires in returns if expires is None or expires > now]
    if live:
        cursor.execute(
            "UPDATE points_lot l SET remaining = l.remaining + v.amount "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, amount) WHERE l.id = v.id",
            [[lot_id for lot_id, _ in live], [amount for _, amount in live]],
        )
    returned = sum(amounts)
    still_valid = sum(amount for _, amount in live)
    return still_valid, returned - still_valid


def _expire_at_once(cursor, account: _Account, points: int, *, key: str, reference: str, now):
    """Write the expire entry for returned points whose lots had already expired."""
    account.available -= points
    return _insert_entry(
        cursor, account_id=account.id, key=f"{key}#expire", kind=EntryKind.EXPIRE, delta=-points,
        balance_after=account.total, reference=reference, created_at=now,
        reason=_in_default_language(gettext_noop("Returned points had already expired")),
    )


# --------------------------------------------------------------------------- credits


def earn(member, points, *, key, reason, reference="", available_at=None, expires_at=None,
         rule_version=None, explanation=None) -> Entry:
    """Credit ``points`` as a new lot and return the ``earn`` entry.

    The lot is pending (not spendable) until ``available_at`` and expires at ``expires_at``
    (None: the published rule set's validity; ``NEVER``: no expiry). Outstanding debt is recovered first: the
    lot keeps only what is left after paying it. Raises ``InvalidAmount``, ``InvalidArgument``,
    ``IdempotencyConflict``.
    """
    return _credit(member, points, kind=EntryKind.EARN, key=key, reason=reason,
                   reference=reference, available_at=available_at, expires_at=expires_at,
                   rule_version=rule_version, explanation=explanation)


def _credit(member, points, *, kind, key, reason, reference="", available_at=None,
            expires_at=None, rule_version=None, explanation=None, staff=None) -> Entry:
    _check_points(points)
    _check_key(key)
    reason = _check_text("reason", reason, required=True, max_length=255)
    reference = _check_text("reference", reference, required=False, max_length=100)
    rule_version = _check_text("rule_version", rule_version, required=False, max_length=32)
    _check_when("available_at", available_at)
    if expires_at != NEVER:
        _check_when("expires_at", expires_at)
    fingerprint = _fingerprint(kind, member.pk, points, reference, available_at, expires_at)
    now = timezone.now()
    lot_available_at = available_at or now
    pending = lot_available_at > now
    if expires_at is None:
        expires_at = default_expires_at(now)
    elif expires_at == NEVER:
        expires_at = None

    def work(cursor):
        # Fast path, one statement that locks and credits: an existing account without debt.
        cursor.execute(
            "UPDATE points_account SET available = available + %s, pending = pending + %s, "
            "lifetime_earned = lifetime_earned + %s WHERE member_id = %s AND debt = 0 "
            "RETURNING id, available, pending, held, debt",
            [0 if pending else points, points if pending else 0, points, member.pk],
        )
        row = cursor.fetchone()
        if row is not None:
            account, recovered = _Account(*row), 0
        else:  # a new account, or debt to recover first
            account = _lock_account(cursor, member.pk)
            recovered = min(account.debt, points)
            account.debt -= recovered
            if pending:
                account.pending += points - recovered
            else:
                account.available += points - recovered
            _save_totals(cursor, account, earned=points)
        lot = (
            "lot AS (INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, "
            "available_at, expires_at, created_at) SELECT %s::bigint, entry.id, %s::bigint, "
            "%s::bigint, %s::boolean, %s::timestamptz, %s::timestamptz, %s::timestamptz FROM entry)",
            [account.id, points, points - recovered, pending, lot_available_at, expires_at, now],
        )
        return _insert_entry(
            cursor, guard_key=True, then=lot, account_id=account.id, key=key, kind=kind,
            delta=points, balance_after=account.total, reason=reason, reference=reference,
            fingerprint=fingerprint, rule_version=rule_version, explanation=explanation,
            staff_id=staff.pk if staff else None, created_at=now,
        )

    return _posting(key, fingerprint, work, _entry_by_id)


# --------------------------------------------------------------------------- debits


def spend(member, points, *, key, reason, reference="") -> Entry:
    """Debit available points, soonest-expiring lots first, and return the ``spend`` entry.

    Raises ``InsufficientPoints`` (recorded under the key, replayed as such), ``InvalidAmount``,
    ``InvalidArgument``, ``IdempotencyConflict``.
    """
    return _debit(member, points, kind=EntryKind.SPEND, key=key, reason=reason,
                  reference=reference)


def _debit(member, points, *, kind, key, reason, reference="", staff=None) -> Entry:
    _check_points(points)
    _check_key(key)
    reason = _check_text("reason", reason, required=True, max_length=255)
    reference = _check_text("reference", reference, required=False, max_length=100)
    fingerprint = _fingerprint(kind, member.pk, -points, reference)
    now = timezone.now()

    def work(cursor):
        account, enough = _take_available(cursor, member.pk, points, into_hold=False)
        if not enough:
            return _record_refusal(cursor, account, key, fingerprint, InsufficientPoints(
                f"{points} points needed, {account.available} available."))
        return _insert_entry(
            cursor, guard_key=True, then=_spend_lots_after_entry(account.id, points),
            account_id=account.id, key=key, kind=kind, delta=-points, balance_after=account.total,
            reason=reason, reference=reference, fingerprint=fingerprint,
            staff_id=staff.pk if staff else None, created_at=now,
        )

    return _posting(key, fingerprint, work, _entry_by_id)


def adjust(member, delta, *, key, reason, staff) -> Entry:
    """A staff correction: credit (a new lot, default expiry) or debit, audited with the staff user.

    ``reason`` is required and shown to the member. Raises ``InsufficientPoints`` for a debit
    larger than the available points, ``InvalidAmount`` for 0 or a non-integer delta.
    """
    if type(delta) is not int or delta == 0 or abs(delta) > MAX_POINTS:
        raise InvalidAmount(f"delta must be a non-zero integer within ±{MAX_POINTS}, not {delta!r}.")
    if staff is None or not getattr(staff, "is_staff", False):
        raise InvalidArgument("adjust needs the staff user who makes it.")
    if delta > 0:
        return _credit(member, delta, kind=EntryKind.ADJUST, key=key, reason=reason, staff=staff)
    return _debit(member, -delta, kind=EntryKind.ADJUST, key=key, reason=reason, staff=staff)


# --------------------------------------------------------------------------- holds


def hold(member, points, *, key, reference="", ttl=None) -> Hold:
    """Reserve available points until ``now + ttl`` and return the ``Hold``.

    The points leave ``available`` now (a hold fails when it is made, not at capture). Raises
    ``InsufficientPoints`` (recorded and replayed), ``InvalidAmount``, ``IdempotencyConflict``.
    """
    from points.policy import HOLD_TTL

    _check_points(points)
    _check_key(key)
    reference = _check_text("reference", reference, required=False, max_length=100)
    ttl = HOLD_TTL if ttl is None else ttl
    if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
        raise InvalidArgument("ttl must be a positive timedelta.")
    fingerprint = _fingerprint("hold", member.pk, points, reference)
    now = timezone.now()

    def work(cursor):
        account, enough = _take_available(cursor, member.pk, points, into_hold=True)
        if not enough:
            return _record_refusal(cursor, account, key, fingerprint, InsufficientPoints(
                f"{points} points needed, {account.available} available."))
        cursor.execute(
            "INSERT INTO points_hold (account_id, amount, captured, status, reference, "
            "expires_at, created_at) VALUES (%s, %s, 0, 'held', %s, %s, %s) RETURNING id",
            [account.id, points, reference, now + ttl, now],
        )
        hold_id = cursor.fetchone()[0]
        _insert_entry(
            cursor, guard_key=True, account_id=account.id, key=key, kind=EntryKind.HOLD, delta=0,
            balance_after=account.total, reference=reference, fingerprint=fingerprint,
            hold_id=hold_id, created_at=now,
            reason=_in_default_language(gettext_noop("%(points)s points reserved"), points=points),
        )
        _take_from_lots(cursor, account.id, points, hold_id=hold_id)
        hold_obj = Hold(id=hold_id, account_id=account.id, amount=points, captured=0,
                        status=HoldStatus.HELD, reference=reference, expires_at=now + ttl,
                        created_at=now)
        hold_obj._state.adding = False
        return hold_obj

    return _posting(key, fingerprint, work, _hold_of_entry)


def _reserved_lots(cursor, hold_id: int):
    """The hold's reservation per lot, in spending order: ``[(lot_id, amount, expires_at)]``."""
    cursor.execute(
        "SELECT a.lot_id, a.amount, l.expires_at FROM points_allocation a "
        "JOIN points_lot l ON l.id = a.lot_id "
        "WHERE a.hold_id = %s AND a.entry_id IS NULL "
        "ORDER BY l.expires_at ASC NULLS LAST, l.id ASC",
        [hold_id],
    )
    return cursor.fetchall()


def _lock_open_hold(cursor, hold_id: int):
    """Lock the hold's account, then read the hold; refuse unless it is still held."""
    cursor.execute("SELECT account_id FROM points_hold WHERE id = %s", [hold_id])
    row = cursor.fetchone()
    if row is None:
        raise InvalidArgument(f"No hold {hold_id}.")
    account = _lock_account_by_id(cursor, row[0])
    cursor.execute("SELECT amount, status, reference FROM points_hold WHERE id = %s", [hold_id])
    amount, status, reference = cursor.fetchone()
    if status != HoldStatus.HELD:
        raise HoldNotOpen(f"Hold {hold_id} is {status}.")
    return account, amount, reference


def capture(hold, *, key, points=None) -> Entry:
    """Spend ``points`` (default: all) of an open hold; the rest is released. Returns the
    ``capture`` entry.

    Lots that expired while held are honoured. Raises ``HoldNotOpen`` once the hold is resolved,
    ``InvalidAmount`` for more points than held.
    """
    _check_key(key)
    if points is not None:
        _check_points(points)
    hold_id = hold.pk
    fingerprint = _fingerprint("capture", hold_id, points)
    now = timezone.now()

    def work(cursor):
        account, amount, reference = _lock_open_hold(cursor, hold_id)
        captured = amount if points is None else points
        if captured > amount:
            raise InvalidAmount(f"Cannot capture {captured} points of a hold of {amount}.")
        reserved = _reserved_lots(cursor, hold_id)
        take, give_back, left = [], [], captured
        for lot_id, lot_amount, expires in reserved:
            part = min(lot_amount, left)
            left -= part
            if part:
                take.append((lot_id, part))
            if lot_amount - part:
                give_back.append((lot_id, lot_amount - part, expires))
        account.held -= amount
        entry = _insert_entry(
            cursor, guard_key=True, account_id=account.id, key=key, kind=EntryKind.CAPTURE, delta=-captured,
            balance_after=account.total + (amount - captured), reference=reference,
            fingerprint=fingerprint, hold_id=hold_id, created_at=now,
            reason=_in_default_language(gettext_noop("%(points)s reserved points spent"), points=captured),
        )
        cursor.execute(
            "INSERT INTO points_allocation (account_id, lot_id, entry_id, hold_id, amount) "
            "SELECT %s::bigint, lot_id, %s::bigint, %s::bigint, amount "
        "FROM unnest(%s::bigint[], %s::bigint[]) AS v(lot_id, amount)",
            [account.id, entry.id, hold_id, [t[0] for t in take], [t[1] for t in take]],
        )
        expired = _release_part(cursor, account, hold_id, give_back, key=key, reference=reference,
                                now=now)
        _save_totals(cursor, account, spent=captured, expired=expired)
        cursor.execute(
            "UPDATE points_hold SET status = 'captured', captured = %s, resolved_at = %s WHERE id = %s",
            [captured, now, hold_id],
        )
        return entry

    return _posting(key, fingerprint, work, _entry_by_id)


def _release_part(cursor, account: _Account, hold_id: int, give_back, *, key, reference, now):
    """Return reserved points to their lots with a ``release`` entry; returns points expired."""
    if not give_back:
        return 0
    points = sum(amount for _lot, amount, _expires in give_back)
    entry = _insert_entry(
        cursor, account_id=account.id, key=f"{key}#release", kind=EntryKind.RELEASE, delta=0,
        balance_after=account.total + points, reference=reference, hold_id=hold_id, created_at=now,
        reason=_in_default_language(gettext_noop("%(points)s reserved points released"), points=points),
    )
    returned, expired = _return_to_lots(cursor, account.id, give_back, entry_id=entry.id,
                                        hold_id=hold_id, now=now)
    account.available += returned + expired
    if expired:
        _expire_at_once(cursor, account, expired, key=key, reference=reference, now=now)
    return expired


def release(hold, *, key) -> Entry:
    """Give all of an open hold back to its lots; returns the ``release`` entry.

    Points whose lot expired while held expire at once. Raises ``HoldNotOpen``.
    """
    _check_key(key)
    hold_id = hold.pk
    fingerprint = _fingerprint("release", hold_id)
    return _posting(key, fingerprint,
                    lambda cursor: _resolve_hold(cursor, hold_id, key, fingerprint, HoldStatus.RELEASED),
                    _entry_by_id)


def _resolve_hold(cursor, hold_id: int, key: str, fingerprint: str, status: str, now=None) -> Entry:
    account, amount, reference = _lock_open_hold(cursor, hold_id)
    # The timeout job resolves at its own ``now``: the deadline and the lots' expiry are judged
    # at the same instant.
    now = now or timezone.now()
    reserved = _reserved_lots(cursor, hold_id)
    account.held -= amount
    entry = _insert_entry(
        cursor, guard_key=True, account_id=account.id, key=key, kind=EntryKind.RELEASE, delta=0,
        balance_after=account.total + amount, reference=reference, fingerprint=fingerprint,
        hold_id=hold_id, created_at=now,
        reason=_in_default_language(
            gettext_noop("%(points)s reserved points released") if status == HoldStatus.RELEASED
            else gettext_noop("Reservation of %(points)s points timed out"), points=amount),
    )
    returned, expired = _return_to_lots(cursor, account.id, reserved, entry_id=entry.id,
                                        hold_id=hold_id, now=now)
    account.available += returned + expired
    if expired:
        _expire_at_once(cursor, account, expired, key=key, reference=reference, now=now)
    _save_totals(cursor, account, expired=expired)
    cursor.execute(
        "UPDATE points_hold SET status = %s, resolved_at = %s WHERE id = %s",
        [status, now, hold_id],
    )
    return entry


# --------------------------------------------------------------------------- reversal


def reverse(entry, points=None, *, key, reason) -> Entry:
    """Undo all or part (``points``) of an earning, a spending or a capture.

    * An earning (``earn``, positive ``adjust``) is taken back from the lot it created first,
      then from other lots (available before pending, soonest-expiring first); what cannot be
      taken becomes ``debt``, recovered from the next earnings.
    * A spending (``spend``, ``capture``, negative ``adjust``) is returned to the lots it came
      from, latest-expiring first; points whose lot has expired meanwhile expire at once.

    Partial reversals add up and never exceed the original. Raises ``NotReversible``,
    ``InvalidAmount``, ``IdempotencyConflict``.
    """
    _check_key(key)
    reason = _check_text("reason", reason, required=True, max_length=255)
    if points is not None:
        _check_points(points)
    if entry.kind in (EntryKind.EARN,) or (entry.kind == EntryKind.ADJUST and entry.delta > 0):
        undo = _reverse_credit
    elif entry.kind in (EntryKind.SPEND, EntryKind.CAPTURE) or (
        entry.kind == EntryKind.ADJUST and entry.delta < 0
    ):
        undo = _reverse_debit
    else:
        raise NotReversible(f"A {entry.kind} entry cannot be reversed.")
    entry_id = entry.pk
    fingerprint = _fingerprint("reverse", entry_id, points)
    now = timezone.now()

    def work(cursor):
        account = _lock_account_by_id(cursor, entry.account_id)
        cursor.execute(
            "SELECT COALESCE(SUM(delta), 0) FROM points_entry WHERE reverses_id = %s", [entry_id]
        )
        already = abs(cursor.fetchone()[0])
        open_points = abs(entry.delta) - already
        wanted = open_points if points is None else points
        if wanted <= 0 or wanted > open_points:
            raise InvalidAmount(
                f"{open_points} points of entry {entry_id} are left to reverse, not {wanted}."
            )
        return undo(cursor, account, entry, wanted, key=key, reason=reason,
                    fingerprint=fingerprint, now=now)

    return _posting(key, fingerprint, work, _entry_by_id)


def _reverse_credit(cursor, account, original, points, *, key, reason, fingerprint, now):
    new = _insert_entry(
        cursor, guard_key=True, account_id=account.id, key=key, kind=EntryKind.REVERSE,
        delta=-points, balance_after=account.total - points, reason=reason,
        reference=original.reference, fingerprint=fingerprint, reverses_id=original.pk,
        created_at=now,
    )
    # The earning's own lot first, then available lots before pending ones, in spending order.
    taken = _take_from_lots(
        cursor, account.id, points, entry_id=new.id, lot_filter="TRUE",
        order=f"(entry_id = %s) DESC, pending ASC, {SPEND_ORDER}", order_params=[original.pk],
    )
    from_available = sum(amount for _id, amount, pending in taken if not pending)
    from_pending = sum(amount for _id, amount, pending in taken if pending)
    account.available -= from_available
    account.pending -= from_pending
    account.debt += points - from_available - from_pending
    _save_totals(cursor, account, earned=-points)
    return new


def _reverse_debit(cursor, account, original, points, *, key, reason, fingerprint, now):
    # What each lot gave to the original and has not had back yet, latest-expiring first.
    cursor.execute(
        """
        SELECT a.lot_id, SUM(CASE WHEN a.entry_id = %s THEN a.amount ELSE -a.amount END) AS open,
               l.expires_at
        FROM points_allocation a JOIN points_lot l ON l.id = a.lot_id
        WHERE a.entry_id = %s OR a.entry_id IN (SELECT id FROM points_entry WHERE reverses_id = %s)
        GROUP BY a.lot_id, l.expires_at
        HAVING SUM(CASE WHEN a.entry_id = %s THEN a.amount ELSE -a.amount END) > 0
        ORDER BY l.expires_at DESC NULLS FIRST, a.lot_id DESC
        """,
        [original.pk, original.pk, original.pk, original.pk],
    )
    give_back, left = [], points
    for lot_id, open_amount, expires in cursor.fetchall():
        part = min(open_amount, left)
        if part:
            give_back.append((lot_id, part, expires))
            left -= part
    new = _insert_entry(
        cursor, guard_key=True, account_id=account.id, key=key, kind=EntryKind.REVERSE,
        delta=points, balance_after=account.total + points, reason=reason,
        reference=original.reference, fingerprint=fingerprint, reverses_id=original.pk,
        created_at=now,
    )
    returned, expired = _return_to_lots(cursor, account.id, give_back, entry_id=new.id, now=now)
    account.available += returned + expired
    if expired:
        _expire_at_once(cursor, account, expired, key=key, reference=original.reference, now=now)
    _save_totals(cursor, account, spent=-points, expired=expired)
    return new


# --------------------------------------------------------------------------- scheduled jobs


def _due_account_batches(condition: str, now):
    """Yield ids of accounts with due lots, in id order, ``JOB_BATCH_ACCOUNTS`` at a time."""
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT account_id FROM points_lot WHERE {condition} AND account_id > %s "
                "ORDER BY account_id LIMIT %s",
                [now, last, JOB_BATCH_ACCOUNTS],
            )
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return
        yield ids
        last = ids[-1]


def _lock_accounts(cursor, ids) -> None:
    # Always in id order, so two jobs (or a job and a posting) never wait on each other in a cycle.
    cursor.execute(
        "SELECT id FROM points_account WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids]
    )
    cursor.fetchall()



def _run_id(now) -> str:
    """A job run's id in its entries' keys: the instant plus a random tag, so a second run at the
    same instant (a catch-up that finds newly due lots) never repeats a key."""
    return f"{now.isoformat()}/{uuid.uuid4().hex[:8]}"


def activate_due(now=None) -> int:
    """Make pending lots whose cooling-off has ended spendable; returns the points activated.

    Set-based, in batches of accounts; one ``activate`` entry per account per run; safe to re-run.
    """
    now = now or timezone.now()
    run = _run_id(now)
    reason = _in_default_language(gettext_noop("%(points)s points became available"), points="%s")
    total = 0
    for ids in _due_account_batches("pending AND available_at <= %s", now):
        with transaction.atomic(), connection.cursor() as cursor:
            _lock_accounts(cursor, ids)
            cursor.execute(
                """
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
                        reference, fingerprint, rule_version, created_at)
                    SELECT id, 'activate:' || %(run)s || ':' || id,
                           'activate', 0, total,
                           format(%(reason)s, points), '', '', '', %(now)s
                    FROM accounts
                    -- A pending lot emptied by a reversal or by debt recovery still turns
                    -- available, but "0 points became available" is no news to the member.
                    WHERE points > 0
                )
                SELECT COALESCE(SUM(points), 0) FROM accounts
                """,
                {"ids": ids, "now": now, "run": run, "reason": reason},
            )
            total += cursor.fetchone()[0]
    return total


def expire_due(now=None) -> int:
    """Expire what is due at ``now``; returns the points expired.

    Set-based, in batches of accounts (memory does not grow with the number of lots); one
    ``expire`` entry per account per run; re-running finds nothing left to expire. Points held
    by an open hold are not in ``remaining`` and are honoured by its capture.
    """
    now = now or timezone.now()
    run = _run_id(now)
    reason = _in_default_language(gettext_noop("%(points)s points expired"), points="%s")
    total = 0
    for ids in _due_account_batches(
        "remaining > 0 AND expires_at IS NOT NULL AND expires_at <= %s", now
    ):
        with transaction.atomic(), connection.cursor() as cursor:
            _lock_accounts(cursor, ids)
            cursor.execute(
                """
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
                        reference, fingerprint, rule_version, created_at)
                    SELECT id, 'expire:' || %(run)s || ':' || id,
                           'expire', -points, total,
                           format(%(reason)s, points), '', '', '', %(now)s
                    FROM accounts
                )
                SELECT COALESCE(SUM(points), 0) FROM accounts
                """,
                {"ids": ids, "now": now, "run": run, "reason": reason},
            )
            total += cursor.fetchone()[0]
    return total


def release_stale_holds(now=None) -> int:
    """Release every open hold past its deadline (status ``expired``); returns how many.

    Each hold resolves in its own transaction under its account lock; a hold captured or released
    meanwhile is skipped. Safe to re-run.
    """
    now = now or timezone.now()
    stale = list(
        Hold.objects.filter(status=HoldStatus.HELD, expires_at__lte=now)
        .order_by("account_id", "id")
        .values_list("id", flat=True)
    )
    released = 0
    for hold_id in stale:
        key = f"hold-timeout:{hold_id}"
        fingerprint = _fingerprint("hold-timeout", hold_id)
        try:
            _posting(key, fingerprint,
                     lambda cursor, hold_id=hold_id, key=key, fingerprint=fingerprint:
                     _resolve_hold(cursor, hold_id, key, fingerprint, HoldStatus.EXPIRED, now),
                     _entry_by_id)
        except HoldNotOpen:
            continue
        released += 1
    return released
