"""Lot SQL: taking points from an account's lots and giving them back.

Every function here runs with the account row locked, which guards its lots.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

from points.models import EntryKind
from points.services._journal import _in_default_language, _insert_entry
from points.services.lock_objects import _Account

# Lots are consumed soonest-expiring first, then oldest first.
SPEND_ORDER = "expires_at ASC NULLS LAST, id ASC"


# Takes points from an account's lots in one pass: a running sum picks the lots in ``{order}``,
# they are decremented, and an allocation row per lot records it for ``{entry_id}`` and
# ``{hold_id}`` (parameters, or columns of an entry inserted in the same statement, joined in
# ``{source}``).
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
        FROM taken WHERE l.account_id = %s AND l.id = taken.id  -- one partition
        RETURNING l.id, taken.amount, taken.pending
    ), allocated AS (
        INSERT INTO points_allocation (account_id, lot_id, entry_id, hold_id, amount)
        SELECT %s::bigint, updated.id, {entry_id}, {hold_id}, updated.amount FROM {source}
    )
"""


def _take_from_lots(cursor, account_id: int, points: int, *, entry_id=None, hold_id=None,
                    lot_filter="NOT pending", order=SPEND_ORDER, order_params=()):
    """Take up to ``points`` from the account's lots in ``order`` and record the allocations.

    One statement. Returns ``[(lot_id, taken, pending)]``; the caller checks the sum when it
    must be exact. Only called with the account row locked, which guards its lots.
    """
    ctes = _TAKE_FROM_LOTS.format(order=order, lot_filter=lot_filter, entry_id="%s::bigint",
                                  hold_id="%s::bigint", source="updated")
    cursor.execute(
        f"WITH {ctes} SELECT id, amount, pending FROM updated",
        [*order_params, account_id, points, points, account_id, account_id, entry_id, hold_id],
    )
    return cursor.fetchall()


def _spend_lots_after_entry(account_id: int, points: int):
    """``then`` for ``_insert_entry``: the spending's lots, soonest-expiring first. Joined with
    the new entry, so a guarded insert that wrote nothing allocates nothing either."""
    ctes = _TAKE_FROM_LOTS.format(order=SPEND_ORDER, lot_filter="NOT pending", entry_id="entry.id",
                                  hold_id="NULL::bigint", source="updated CROSS JOIN entry")
    return ctes, [account_id, points, points, account_id, account_id]


def _hold_lots_after_entry(account_id: int, points: int):
    """``then`` for ``_insert_entry``: the lots a new hold reserves (allocations of the hold, no
    entry), soonest-expiring first; joined with the hold's entry like ``_spend_lots_after_entry``."""
    ctes = _TAKE_FROM_LOTS.format(order=SPEND_ORDER, lot_filter="NOT pending", entry_id="NULL::bigint",
                                  hold_id="entry.hold_id", source="updated CROSS JOIN entry")
    return ctes, [account_id, points, points, account_id, account_id]


def _allocate(cursor, account_id: int, lot_ids: list, amounts: list, *, entry_id: int,
              hold_id=None) -> None:
    """Record that entry ``entry_id`` (of hold ``hold_id``) drew ``amounts`` from ``lot_ids``."""
    cursor.execute(
        "INSERT INTO points_allocation (account_id, lot_id, entry_id, hold_id, amount) "
        "SELECT %s::bigint, lot_id, %s::bigint, %s::bigint, amount "
        "FROM unnest(%s::bigint[], %s::bigint[]) AS v(lot_id, amount)",
        [account_id, entry_id, hold_id, lot_ids, amounts],
    )


def _return_to_lots(cursor, account: _Account, returns, *, entry_id: int, hold_id=None, key: str,
                    reference: str, now) -> int:
    """Give points back to the lots they came from, recording the allocations for ``entry_id``,
    and to ``account.available``; returns the points expired (the caller saves the totals).

    ``returns`` is ``[(lot_id, amount, expires_at)]``. Points whose lot has expired in the
    meantime are not put back: they expire at once, with an ``expire`` entry ``key#expire``.
    """
    if not returns:
        return 0
    lot_ids = [lot_id for lot_id, _amount, _expires in returns]
    amounts = [amount for _lot, amount, _expires in returns]
    _allocate(cursor, account.id, lot_ids, amounts, entry_id=entry_id, hold_id=hold_id)
    live = [(lot_id, amount) for lot_id, amount, expires in returns if expires is None or expires > now]
    if live:
        cursor.execute(
            "UPDATE points_lot l SET remaining = l.remaining + v.amount "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, amount) "
            "WHERE l.account_id = %s AND l.id = v.id",
            [[lot_id for lot_id, _ in live], [amount for _, amount in live], account.id],
        )
    returned = sum(amounts)
    expired = returned - sum(amount for _, amount in live)
    account.available += returned
    if expired:
        _expire_at_once(cursor, account, expired, key=key, reference=reference, now=now)
    return expired


def _expire_at_once(cursor, account: _Account, points: int, *, key: str, reference: str, now):
    """Write the expire entry for returned points whose lots had already expired."""
    account.available -= points
    return _insert_entry(
        cursor, account_id=account.id, key=f"{key}#expire", kind=EntryKind.EXPIRE, delta=-points,
        balance_after=account.total, reference=reference, created_at=now,
        reason=_in_default_language(gettext_noop("Returned points had already expired")),
    )
