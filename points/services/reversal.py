"""``reverse``: undo all or part of an earning or a spending."""

from __future__ import annotations

from django.utils import timezone

from points.errors import InvalidAmount, NotReversible
from points.models import Entry, EntryKind
from points.services._idempotency import _entry_by_id, _fingerprint, _posting
from points.services._journal import _insert_entry, _save_totals
from points.services._lots import SPEND_ORDER, _return_to_lots, _take_from_lots
from points.services._validation import _check_points, validate_key, validate_text
from points.services.lock_objects import lock_account_by_id


def reverse(entry: Entry, points: int | None = None, *, key: str, reason: str) -> Entry:
    """Undo all or part (``points``) of an earning, a spending or a capture.

    * An earning (``earn``, positive ``adjust``) is taken back from the lot it created first,
      then from other lots (available before pending, soonest-expiring first); what cannot be
      taken becomes ``debt``, recovered from the next earnings.
    * A spending (``spend``, ``capture``, negative ``adjust``) is returned to the lots it came
      from, latest-expiring first; points whose lot has expired meanwhile expire at once.

    Partial reversals add up and never exceed the original. Raises ``NotReversible``,
    ``InvalidAmount``, ``IdempotencyConflict``.
    """
    validate_key(key)
    reason = validate_text("reason", reason, required=True, max_length=255)
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
        account = lock_account_by_id(cursor, entry.account_id)
        cursor.execute(
            "SELECT COALESCE(SUM(delta), 0) FROM points_entry WHERE account_id = %s "
            "AND reverses_id = %s", [account.id, entry_id]
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

    return _posting(entry.account_id, key, fingerprint, work, _entry_by_id)


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
        FROM points_allocation a JOIN points_lot l ON l.account_id = a.account_id AND l.id = a.lot_id
        WHERE a.account_id = %s AND l.account_id = %s
          AND (a.entry_id = %s OR a.entry_id IN (SELECT id FROM points_entry
                                                 WHERE account_id = %s AND reverses_id = %s))
        GROUP BY a.lot_id, l.expires_at
        HAVING SUM(CASE WHEN a.entry_id = %s THEN a.amount ELSE -a.amount END) > 0
        ORDER BY l.expires_at DESC NULLS FIRST, a.lot_id DESC
        """,
        [original.pk, account.id, account.id, original.pk, account.id, original.pk, original.pk],
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
    expired = _return_to_lots(cursor, account, give_back, entry_id=new.id, key=key,
                              reference=original.reference, now=now)
    _save_totals(cursor, account, spent=-points, expired=expired)
    return new
