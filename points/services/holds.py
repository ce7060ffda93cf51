"""Two-phase spending: ``hold`` reserves points, ``capture`` spends them, ``release`` gives them
back."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.translation import gettext_noop

from points.errors import HoldNotOpen, InsufficientPoints, InvalidAmount, InvalidArgument
from points.models import Entry, EntryKind, Hold, HoldStatus
from points.services._idempotency import _entry_by_id, _fingerprint, _hold_of_entry, _posting, _record_refusal
from points.services._journal import _in_default_language, _insert_entry, _save_totals, _take_available
from points.services._lots import _allocate, _hold_lots_after_entry, _return_to_lots
from points.services._validation import _check_points, validate_key, validate_text
from points.services.lock_objects import _Account, lock_account_of_hold

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser


def hold(member: AbstractUser, points: int, *, key: str, reference: str = "",
         ttl: timedelta | None = None) -> Hold:
    """Reserve available points until ``now + ttl`` and return the ``Hold``.

    The points leave ``available`` now (a hold fails when it is made, not at capture). Raises
    ``InsufficientPoints`` (recorded and replayed), ``InvalidAmount``, ``IdempotencyConflict``.
    """
    from points.policy import HOLD_TTL

    _check_points(points)
    validate_key(key)
    reference = validate_text("reference", reference, required=False, max_length=100)
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
        expires_at = now + ttl
        # One statement after the account's: the hold row, its entry naming it, and the lots it
        # reserves (joined with the entry: a guarded insert that wrote nothing reserves nothing).
        new_hold = (
            "hold AS (INSERT INTO points_hold (account_id, amount, captured, status, reference, "
            "expires_at, created_at) VALUES (%s::bigint, %s::bigint, 0, 'held', %s::text, "
            "%s::timestamptz, %s::timestamptz) RETURNING id)",
            [account.id, points, reference, expires_at, now], "hold", {"hold_id": "hold.id"},
        )
        entry = _insert_entry(
            cursor, guard_key=True, source=new_hold, then=_hold_lots_after_entry(account.id, points),
            account_id=account.id, key=key, kind=EntryKind.HOLD, delta=0,
            balance_after=account.total, reference=reference, fingerprint=fingerprint,
            created_at=now,
            reason=_in_default_language(gettext_noop("%(points)s points reserved"), points=points),
        )
        hold_obj = Hold(id=entry.hold_id, account_id=account.id, amount=points, captured=0,
                        status=HoldStatus.HELD, reference=reference, expires_at=expires_at,
                        created_at=now)
        hold_obj._state.adding = False
        return hold_obj

    return _posting(member.pk, key, fingerprint, work, _hold_of_entry)


# The hold's account in every join: each table is read in that account's partition.
_HOLD_AND_LOTS = (
    "SELECT h.amount, h.status, h.reference, a.lot_id, a.amount, l.expires_at{account} "
    "FROM points_hold h{join} "
    "LEFT JOIN points_allocation a ON a.account_id = h.account_id AND a.hold_id = h.id "
    "AND a.entry_id IS NULL "
    "LEFT JOIN points_lot l ON l.account_id = a.account_id AND l.id = a.lot_id "
    "WHERE h.account_id = %s AND h.id = %s ORDER BY l.expires_at ASC NULLS LAST, l.id ASC{lock}"
)
_READ_HOLD_AND_LOTS = _HOLD_AND_LOTS.format(account="", join="", lock="")
_LOCK_ACCOUNT_READ_HOLD_AND_LOTS = _HOLD_AND_LOTS.format(
    account=", ac.id, ac.available, ac.pending, ac.held, ac.debt",
    join=" JOIN points_account ac ON ac.id = h.account_id", lock=" FOR UPDATE OF ac")


def _lock_open_hold_with_lots(cursor, account_id: int, hold_id: int, *, account_locked: bool = False):
    """``lock_open_hold`` and the hold's reservation per lot, in spending order, in two statements:
    ``(account, amount, reference, [(lot_id, amount, expires_at)])``. The hold and its lots are
    read after the account lock, which guards them.

    ``account_locked``: the caller's transaction holds the account's lock already, so no other
    transaction can have changed the hold or its lots since, and one statement locks (again) and
    reads all of it."""
    if account_locked:
        cursor.execute(_LOCK_ACCOUNT_READ_HOLD_AND_LOTS, [account_id, hold_id])
        rows = cursor.fetchall()
        if not rows:
            raise InvalidArgument(f"No hold {hold_id}.")
        account = _Account(*rows[0][6:])
    else:
        account = lock_account_of_hold(cursor, hold_id, account_id)
        cursor.execute(_READ_HOLD_AND_LOTS, [account_id, hold_id])
        rows = cursor.fetchall()
    amount, status, reference = rows[0][:3]
    if status != HoldStatus.HELD:
        raise HoldNotOpen(f"Hold {hold_id} is {status}.")
    reserved = [row[3:6] for row in rows if row[3] is not None]
    return account, amount, reference, reserved


def _account_of(hold: Hold) -> int:
    """The hold's account (the ledger's statements and keys are per account): from the ``Hold``,
    or read for one made of its id alone."""
    if hold.account_id is not None:
        return hold.account_id
    account_id = Hold.objects.filter(pk=hold.pk).values_list("account_id", flat=True).first()
    if account_id is None:
        raise InvalidArgument(f"No hold {hold.pk}.")
    return account_id


def capture(hold: Hold, *, key: str, points: int | None = None) -> Entry:
    """Spend ``points`` (default: all) of an open hold; the rest is released. Returns the
    ``capture`` entry.

    Lots that expired while held are honoured. Raises ``HoldNotOpen`` once the hold is resolved,
    ``InvalidAmount`` for more points than held.
    """
    validate_key(key)
    if points is not None:
        _check_points(points)
    hold_id, account_id = hold.pk, _account_of(hold)
    fingerprint = _fingerprint("capture", hold_id, points)
    now = timezone.now()

    def work(cursor):
        account, amount, reference, reserved = _lock_open_hold_with_lots(cursor, account_id, hold_id)
        captured = amount if points is None else points
        if captured > amount:
            raise InvalidAmount(f"Cannot capture {captured} points of a hold of {amount}.")
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
        _allocate(cursor, account.id, [t[0] for t in take], [t[1] for t in take], entry_id=entry.id,
                  hold_id=hold_id)
        expired = 0
        if give_back:
            released = sum(part for _lot, part, _expires in give_back)
            _release, expired = _release_to_lots(
                cursor, account, hold_id, give_back, released, key=key, entry_key=f"{key}#release",
                reference=reference, now=now,
                reason=_in_default_language(gettext_noop("%(points)s reserved points released"),
                                            points=released),
            )
        _save_totals(cursor, account, spent=captured, expired=expired)
        cursor.execute(
            "UPDATE points_hold SET status = 'captured', captured = %s, resolved_at = %s "
            "WHERE account_id = %s AND id = %s",
            [captured, now, account.id, hold_id],
        )
        return entry

    return _posting(account_id, key, fingerprint, work, _entry_by_id)


def release(hold: Hold, *, key: str, account_locked: bool = False) -> Entry:
    """Give all of an open hold back to its lots; returns the ``release`` entry.

    Points whose lot expired while held expire at once. Raises ``HoldNotOpen``.

    ``account_locked``: the caller's transaction already holds the lock of the hold's account
    (``lock_objects.lock_accounts_of_members``, as a bid does for the leader it outbids); the
    account, the hold and its lots are then read in one statement instead of two. A caller that
    does not hold the lock must not pass it: the hold would be read from the snapshot taken
    before waiting for the lock.
    """
    validate_key(key)
    hold_id, account_id = hold.pk, _account_of(hold)
    fingerprint = _fingerprint("release", hold_id)
    return _posting(account_id, key, fingerprint,
                    lambda cursor: _resolve_hold(cursor, account_id, hold_id, key, fingerprint,
                                                 HoldStatus.RELEASED, account_locked=account_locked),
                    _entry_by_id)


def _resolve_hold(cursor, account_id: int, hold_id: int, key: str, fingerprint: str, status: str,
                  now=None, *, account_locked: bool = False) -> Entry:
    account, amount, reference, reserved = _lock_open_hold_with_lots(
        cursor, account_id, hold_id, account_locked=account_locked)
    # The timeout job resolves at its own ``now``: the deadline and the lots' expiry are judged
    # at the same instant.
    now = now or timezone.now()
    account.held -= amount
    reason = _in_default_language(
        gettext_noop("%(points)s reserved points released") if status == HoldStatus.RELEASED
        else gettext_noop("Reservation of %(points)s points timed out"), points=amount)
    if all(expires is None or expires > now for _lot, _amount, expires in reserved):
        return _resolve_live_hold(cursor, account, hold_id, reserved, amount, key=key,
                                  fingerprint=fingerprint, status=status, reference=reference,
                                  now=now, reason=reason)
    entry, expired = _release_to_lots(
        cursor, account, hold_id, reserved, amount, key=key, entry_key=key, guard_key=True,
        fingerprint=fingerprint, reference=reference, now=now, reason=reason,
    )
    _save_totals(cursor, account, expired=expired)
    cursor.execute(
        "UPDATE points_hold SET status = %s, resolved_at = %s WHERE account_id = %s AND id = %s",
        [status, now, account.id, hold_id],
    )
    return entry


# Every write of a hold given back whole to lots that are all still live, after its ``release``
# entry (joined with it: a guarded insert that wrote nothing writes nothing else): the allocations,
# the lots, the account's totals and the hold's status.
_RESOLVE_LIVE = """
    allocated AS (
        INSERT INTO points_allocation (account_id, lot_id, entry_id, hold_id, amount)
        SELECT %s::bigint, v.lot_id, entry.id, %s::bigint, v.amount
        FROM unnest(%s::bigint[], %s::bigint[]) AS v(lot_id, amount) CROSS JOIN entry
    ), lots AS (
        UPDATE points_lot l SET remaining = l.remaining + v.amount
        FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, amount) CROSS JOIN entry
        WHERE l.account_id = %s AND l.id = v.id
    ), totals AS (
        UPDATE points_account SET available = %s, pending = %s, held = %s, debt = %s
        FROM entry WHERE points_account.id = %s
    ), resolved AS (
        UPDATE points_hold SET status = %s, resolved_at = %s FROM entry
        WHERE points_hold.account_id = %s AND points_hold.id = %s
    )
"""


def _resolve_live_hold(cursor, account: _Account, hold_id: int, reserved, amount: int, *, key: str,
                       fingerprint: str, status: str, reference: str, now, reason: str) -> Entry:
    """``_resolve_hold`` when none of the reserved lots has expired (nothing to expire at once):
    what ``_release_to_lots``, ``_save_totals`` and the hold's UPDATE write, in one statement."""
    lot_ids = [lot_id for lot_id, _amount, _expires in reserved]
    amounts = [part for _lot, part, _expires in reserved]
    balance_after = account.total + amount
    account.available += sum(amounts)
    then = (_RESOLVE_LIVE, [
        account.id, hold_id, lot_ids, amounts,
        lot_ids, amounts, account.id,
        account.available, account.pending, account.held, account.debt, account.id,
        status, now, account.id, hold_id,
    ])
    return _insert_entry(
        cursor, guard_key=True, then=then, account_id=account.id, key=key, kind=EntryKind.RELEASE,
        delta=0, balance_after=balance_after, reference=reference, fingerprint=fingerprint,
        hold_id=hold_id, created_at=now, reason=reason,
    )


def _release_to_lots(cursor, account: _Account, hold_id: int, reserved, points: int, *, key: str,
                     entry_key: str, reference: str, now, reason: str, guard_key: bool = False,
                     fingerprint: str = "") -> tuple[Entry, int]:
    """Write the ``release`` entry (``entry_key``) of ``points`` reserved by hold ``hold_id`` and
    give ``reserved`` (``[(lot_id, amount, expires_at)]``) back to its lots; points whose lot
    expired while held expire at once (``key#expire``). Returns ``(release entry, points
    expired)``. The caller has taken the points out of ``account.held`` and saves the totals.
    """
    entry = _insert_entry(
        cursor, guard_key=guard_key, account_id=account.id, key=entry_key, kind=EntryKind.RELEASE,
        delta=0, balance_after=account.total + points, reference=reference, fingerprint=fingerprint,
        hold_id=hold_id, created_at=now, reason=reason,
    )
    expired = _return_to_lots(cursor, account, reserved, entry_id=entry.id, hold_id=hold_id, key=key,
                              reference=reference, now=now)
    return entry, expired
