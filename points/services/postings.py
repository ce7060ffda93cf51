"""Credits and debits: ``earn``, ``spend``, the staff correction ``adjust``, and ``forfeit`` of
everything left on an account being closed."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from django.utils import timezone

from common import audit
from points.errors import InsufficientPoints, InvalidAmount, InvalidArgument, PointsHeld
from points.models import Entry, EntryKind
from points.policy import default_expires_at
from points.services._idempotency import _entry_by_id, _fingerprint, _posting, _record_refusal
from points.services._journal import _insert_entry, _save_totals, _take_available
from points.services._lots import _spend_lots_after_entry, _take_from_lots
from points.services._validation import MAX_POINTS, _check_points, _check_when, validate_key, validate_text
from points.services.lock_objects import _Account, lock_account

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser

# Passed as ``expires_at`` for points that never expire (None means "the default policy").
NEVER = "never"


def earn(member: AbstractUser, points: int, *, key: str, reason: str, reference: str = "",
         available_at: datetime | None = None,
         expires_at: datetime | Literal["never"] | None = None, rule_version: str | None = None,
         explanation: dict | None = None) -> Entry:
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
    validate_key(key)
    reason = validate_text("reason", reason, required=True, max_length=255)
    reference = validate_text("reference", reference, required=False, max_length=100)
    rule_version = validate_text("rule_version", rule_version, required=False, max_length=32)
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
            "lifetime_earned = lifetime_earned + %s WHERE id = %s AND debt = 0 "
            "RETURNING id, available, pending, held, debt",
            [0 if pending else points, points if pending else 0, points, member.pk],
        )
        row = cursor.fetchone()
        if row is not None:
            account, recovered = _Account(*row), 0
        else:  # a new account, or debt to recover first
            account = lock_account(cursor, member.pk)
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

    return _posting(member.pk, key, fingerprint, work, _entry_by_id)


def spend(member: AbstractUser, points: int, *, key: str, reason: str, reference: str = "") -> Entry:
    """Debit available points, soonest-expiring lots first, and return the ``spend`` entry.

    Raises ``InsufficientPoints`` (recorded under the key, replayed as such), ``InvalidAmount``,
    ``InvalidArgument``, ``IdempotencyConflict``.
    """
    return _debit(member, points, kind=EntryKind.SPEND, key=key, reason=reason,
                  reference=reference)


def _debit(member, points, *, kind, key, reason, reference="", staff=None) -> Entry:
    _check_points(points)
    validate_key(key)
    reason = validate_text("reason", reason, required=True, max_length=255)
    reference = validate_text("reference", reference, required=False, max_length=100)
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

    return _posting(member.pk, key, fingerprint, work, _entry_by_id)


def adjust(member: AbstractUser, delta: int, *, key: str, reason: str, staff: AbstractUser) -> Entry:
    """A staff correction: credit (a new lot, default expiry) or debit, audited with the staff user.

    ``reason`` is required and shown to the member. Raises ``InsufficientPoints`` for a debit
    larger than the available points, ``InvalidAmount`` for 0 or a non-integer delta.
    """
    if type(delta) is not int or delta == 0 or abs(delta) > MAX_POINTS:
        raise InvalidAmount(f"delta must be a non-zero integer within ±{MAX_POINTS}, not {delta!r}.")
    if staff is None or not getattr(staff, "is_staff", False):
        raise InvalidArgument("adjust needs the staff user who makes it.")
    # The same form posted twice: audited once (keys are per account, whose id is the member's).
    replay = Entry.objects.filter(account_id=member.pk, key=key).exists()
    if delta > 0:
        entry = _credit(member, delta, kind=EntryKind.ADJUST, key=key, reason=reason, staff=staff)
    else:
        entry = _debit(member, -delta, kind=EntryKind.ADJUST, key=key, reason=reason, staff=staff)
    if not replay:
        audit.record("points.adjustment", member, actor=staff, message=entry.reason,
                     changes={"balance": (entry.balance_after - entry.delta, entry.balance_after)},
                     data={"entry": entry.pk, "delta": entry.delta, "key": key})
    return entry


def forfeit(member: AbstractUser, *, key: str, reason: str) -> Entry | None:
    """Forfeit everything left on the member's account with one ``forfeit`` entry (an account
    closing): every lot, pending ones too, is emptied (its allocations record it) and any debt is
    written off, so the account's total is 0 after it. The entry's ``explanation`` says how much
    came from each bucket. Counted in none of the lifetime totals (it is not earned, spent or
    expired). Returns None, posting nothing, for an account with nothing on it (or none at all).

    Raises ``PointsHeld`` while an open hold reserves points (they are not the member's to lose
    before the hold resolves), ``InvalidArgument``, ``IdempotencyConflict``.
    """
    validate_key(key)
    reason = validate_text("reason", reason, required=True, max_length=255)
    fingerprint = _fingerprint(EntryKind.FORFEIT, member.pk)
    now = timezone.now()

    def work(cursor):
        account = lock_account(cursor, member.pk)
        if account.held:
            raise PointsHeld(f"{account.held} points are held by open holds.")
        if not (account.available or account.pending or account.debt):
            return None
        lots = account.available + account.pending
        explanation = {"available": account.available, "pending": account.pending,
                       "debt_written_off": account.debt}
        delta = -account.total
        account.available = account.pending = account.debt = 0
        entry = _insert_entry(
            cursor, guard_key=True, account_id=account.id, key=key, kind=EntryKind.FORFEIT,
            delta=delta, balance_after=account.total, reason=reason, fingerprint=fingerprint,
            explanation=explanation, created_at=now,
        )
        taken = _take_from_lots(cursor, account.id, lots, entry_id=entry.id, lot_filter="TRUE")
        if sum(amount for _lot, amount, _pending in taken) != lots:
            raise RuntimeError(f"Account {account.id}: its lots do not hold its {lots} points.")
        _save_totals(cursor, account)
        return entry

    return _posting(member.pk, key, fingerprint, work, _entry_by_id)
