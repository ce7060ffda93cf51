"""Row locks of the points ledger, and THE GLOBAL LOCK ORDER of the project.

Every transaction that moves points or mall stock takes the row locks it needs in this one order,
and only the ones it needs:

    member row          (SELECT ... FOR NO KEY UPDATE: ``lock_member``; catalog redemptions,
                         behaviours and check-ins)
      -> auction row    (``catalog.services.auctions``: FOR NO KEY UPDATE by a bid, FOR UPDATE
                         SKIP LOCKED by the close job; serializes an auction's bids and its close.
                         A bid then locks the bidder's and the outbid leader's accounts together
                         in id order, ``lock_accounts_of_members``; the close takes the product
                         row, then every open bid's account the same way)
        -> redemption row (``catalog.services``: fulfil, complete, cancel)
        -> lottery prize row (``catalog.services.draw``: the conditional stock UPDATE)
        -> product row  (the conditional stock UPDATE, or SELECT ... FOR NO KEY UPDATE)
          -> coupon-code rows (FOR UPDATE SKIP LOCKED)
            -> points account (a posting locks exactly one: ``lock_account``,
                               ``lock_account_by_id``, or the conditional UPDATE that locks and
                               debits; the jobs lock many, always in id order: ``lock_accounts``)
              -> hold row     (``lock_open_hold`` locks the account, then reads the hold; the
                               hold's UPDATE comes after)
                -> that account's lots and allocations (guarded by the account lock)

A transaction that posts to several members (a paid order with referral rewards) first locks
the referral nodes it reads (``referrals.services.tree.lock_nodes``: ancestors first, by invite
depth then member id), then all their accounts at once in id order
(``lock_accounts_of_members``), before the order row and its first posting; so it never waits in
a cycle with another order's rewards, with a posting to one account or with a job.

A paid order row (``earning``: a refund, a repeated delivery) is locked before the account and
never together with a member, redemption or product row. Inserting a row that references a member
(an order, a checkout hold) takes only KEY SHARE on it, which FOR NO KEY UPDATE does not block.
Nothing takes a lock higher in this list while it holds a lower one, so no two of these
transactions wait on each other in a cycle; nothing calls out to the network while a lock is held.

The helpers evaluate what they lock (``fetchone()``/``fetchall()``): an unevaluated
``select_for_update()`` locks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model

from points.errors import HoldNotOpen, InvalidArgument
from points.models import HoldStatus

if TYPE_CHECKING:
    from points.services._cursor import Cursor


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


def lock_member(member_id: int) -> str:
    """Lock the member's row ``FOR NO KEY UPDATE`` and return the member's tier as it is now (not
    as the caller's possibly older object has it). Raises ``DoesNotExist`` for no such member."""
    from points.services._cursor import prepared_cursor

    model = get_user_model()
    meta = model._meta
    # Raw and prepared: the ORM's compilation of this one-row lock was a large part of a lottery
    # draw's time.
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT {meta.get_field('tier').column} FROM {meta.db_table} "
            f"WHERE {meta.pk.column} = %s FOR NO KEY UPDATE",
            [member_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"No member {member_id}.")
    return row[0]


def lock_account(cursor: Cursor, member_id: int) -> _Account:
    """Lock the member's account row (creating the account on first use).

    An account's id is its member's id (``CHECK (id = member_id)``; the tables are partitioned
    by it): looked up by id, the statement reads one partition."""
    sql = "SELECT id, available, pending, held, debt FROM points_account WHERE id = %s FOR UPDATE"
    cursor.execute(sql, [member_id])
    row = cursor.fetchone()
    if row is None:
        cursor.execute(
            "INSERT INTO points_account (id, member_id, available, pending, held, debt, "
            "lifetime_earned, lifetime_spent, lifetime_expired) "
            "VALUES (%s, %s, 0, 0, 0, 0, 0, 0, 0) ON CONFLICT (id) DO NOTHING",
            [member_id, member_id],
        )
        cursor.execute(sql, [member_id])
        row = cursor.fetchone()
    return _Account(*row)


def lock_account_by_id(cursor: Cursor, account_id: int) -> _Account:
    cursor.execute(
        "SELECT id, available, pending, held, debt FROM points_account WHERE id = %s FOR UPDATE",
        [account_id],
    )
    return _Account(*cursor.fetchone())


def lock_accounts(cursor: Cursor, ids: list[int]) -> None:
    # Always in id order, so two jobs (or a job and a posting) never wait on each other in a cycle.
    cursor.execute(
        "SELECT id FROM points_account WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids]
    )
    cursor.fetchall()


def accounts_lock_sql(member_ids: str = "%s") -> str:
    """The statement ``lock_accounts_of_members`` runs, with the member ids as an SQL array
    expression: for a caller that sends it in the same round trip as its own locks (the rewarded
    order, ``referrals.services.orders``). Read its rows with ``clean_accounts``."""
    return ("SELECT member_id, debt FROM points_account "
            f"WHERE id = ANY({member_ids}) ORDER BY id FOR UPDATE")  # id = member_id


def clean_accounts(rows) -> set[int]:
    """The members whose account, in rows of ``accounts_lock_sql``, exists without debt
    (earnings keep it so: they only ever pay debt back)."""
    return {member_id for member_id, debt in rows if debt == 0}


def lock_accounts_of_members(member_ids) -> set[int]:
    """Lock the existing accounts of ``member_ids`` in account id order, for a transaction that
    posts to several members (a paid order and its referral rewards): taken before its first
    posting, the same order as the jobs', so it never waits on a job in a cycle. An account that
    does not exist yet is created, and locked, by its first posting. Returns the members whose
    account exists without debt (``clean_accounts``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(accounts_lock_sql(), [sorted(set(member_ids))])
        return clean_accounts(cursor.fetchall())


def lock_account_of_hold(cursor: Cursor, hold_id: int, account_id: int | None = None) -> _Account:
    """Lock the account of hold ``hold_id`` (one statement: a hold's account never changes, so the
    subquery may read it from the snapshot taken before any wait for the lock). Anything else of
    the hold is read after this, in a statement of its own. With the hold's ``account_id`` (the
    caller's ``Hold`` has it) both tables are read in one partition each."""
    if account_id is None:
        cursor.execute(
            "SELECT id, available, pending, held, debt FROM points_account "
            "WHERE id = (SELECT account_id FROM points_hold WHERE id = %s) FOR UPDATE",
            [hold_id],
        )
    else:
        cursor.execute(
            "SELECT id, available, pending, held, debt FROM points_account WHERE id = %s "
            "AND id = (SELECT account_id FROM points_hold WHERE account_id = %s AND id = %s) "
            "FOR UPDATE",
            [account_id, account_id, hold_id],
        )
    row = cursor.fetchone()
    if row is None:
        raise InvalidArgument(f"No hold {hold_id}.")
    return _Account(*row)


def lock_open_hold(cursor: Cursor, hold_id: int) -> tuple[_Account, int, str]:
    """Lock the hold's account, then read the hold; refuse unless it is still held."""
    account = lock_account_of_hold(cursor, hold_id)
    cursor.execute("SELECT amount, status, reference FROM points_hold WHERE id = %s", [hold_id])
    amount, status, reference = cursor.fetchone()
    if status != HoldStatus.HELD:
        raise HoldNotOpen(f"Hold {hold_id} is {status}.")
    return account, amount, reference
