"""Points auctions (issue 11): ``place_bid`` and ``close_due_auctions``.

Locks, in the project's order (``points.services.lock_objects``):

    auction row (SELECT ... FOR NO KEY UPDATE; the close job: FOR UPDATE SKIP LOCKED)
      -> product row (the conditional stock UPDATE, at close)
        -> coupon-code rows (FOR UPDATE SKIP LOCKED, at close)
          -> the points accounts involved, all at once in id order (``lock_accounts_of_members``):
             the bidder's and the previous leader's; at close every open bid's
            -> holds, lots (inside ``points.services.hold`` / ``capture`` / ``release``)

The auction lock serializes the bids of one auction and their close: a bid and the close never
overlap, and the close sees every committed bid. A bid touches two accounts (the new hold, the
outbid leader's release); they are locked together in id order before either posting, so two bids
on different auctions with the two members swapped never wait on each other in a cycle.

Holds. A bid holds its full amount (ledger key ``bid:<key>``, reference ``auction:<id>``) until
``ends_at + HOLD_GRACE`` (``ends_at`` after this bid's own extension). Only the leading bid's hold
is ever open: the outbid one is released in the same transaction (``bid-release:<hold id>``).
Every extension of the end is made by a bid that becomes the leader with a hold reaching past the
new end, so ``release_stale_holds`` cannot release a leading bid's hold before the auction ends;
it can only if the close job has not run for ``HOLD_GRACE`` after the end, and the close then
finds the leader's hold no longer open and closes with no winner, saying so.

Idempotency. The same ``key`` returns the same bid (other arguments: ``IdempotencyConflict``).
``InsufficientPoints`` is recorded by the ledger under the key and replayed; the other refusals
write nothing. ``close_due_auctions`` closes each auction exactly once, however often and however
concurrently it runs (status checked under the row lock; a locked row is skipped and left to
whoever holds it).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from catalog.auction_errors import AlreadyLeading, AuctionClosed, AuctionNotFound, BidTooLow, InvalidBid
from catalog.errors import CodesExhausted
from catalog.models import (
    Auction,
    AuctionStatus,
    Bid,
    BidStatus,
    ProductKind,
    Redemption,
    RedemptionStatus,
    StockMovement,
)
from catalog.services._helpers import _invalidate_after_commit, _issue_codes, _move_stock, _stored_text
from points import services as ledger
from points.errors import HoldNotOpen, IdempotencyConflict, InsufficientPoints
from points.errors import InvalidArgument as LedgerInvalidArgument
from points.models import Hold, HoldStatus
from points.services._cursor import prepared_cursor
from points.services.lock_objects import accounts_lock_sql, lock_accounts_of_members

HOLD_GRACE = timedelta(days=1)
BID_KEY_PREFIX = "bid:"
MAX_BID_KEY = ledger.MAX_KEY - len(BID_KEY_PREFIX)


def bid_hold_key(key: str) -> str:
    return BID_KEY_PREFIX + key


def release_key(hold_id: int) -> str:
    return f"bid-release:{hold_id}"


def capture_key(auction_id: int) -> str:
    return f"auction-capture:{auction_id}"


def minimum_bid(auction: Auction, leading_points: int | None) -> int:
    """The lowest bid the auction accepts now."""
    return _minimum(auction.start_price, auction.increment, leading_points)


def _minimum(start_price: int, increment: int, leading_points: int | None) -> int:
    return start_price if leading_points is None else leading_points + increment


def _check(points, key) -> None:
    if type(points) is not int or not 0 < points <= ledger.MAX_POINTS:
        raise InvalidBid(field="points")
    try:
        ledger.validate_key(key, max_length=MAX_BID_KEY)
    except LedgerInvalidArgument:
        raise InvalidBid(_("The key must be a non-empty string of at most %(max)s characters.")
                         % {"max": MAX_BID_KEY}) from None


def _ttl(ends_at):
    """The bid hold's ttl: the ledger counts it from its own clock, so the hold lasts until at
    least ``ends_at + HOLD_GRACE`` whatever ``now`` the caller passed."""
    return max(ends_at + HOLD_GRACE - timezone.now(), HOLD_GRACE)


def _release(bid: Bid) -> None:
    _release_hold(bid.hold_id, bid.member_id)


def _release_hold(hold_id: int, member_id: int) -> None:
    """Release a bid's hold; its account is locked already (``lock_accounts_of_members``). The
    hold's account is the bidder's (an account's id is its member's)."""
    try:
        ledger.release(Hold(id=hold_id, account_id=member_id), key=release_key(hold_id),
                       account_locked=True)
    except HoldNotOpen:
        pass  # already resolved (the timeout job): nothing is held any more


# The auction row, locked: everything a bid checks and changes of it.
_LOCK_AUCTION = (
    "SELECT status, starts_at, ends_at, start_price, increment, extend_minutes, leading_bid_id "
    "FROM catalog_auction WHERE id = %s FOR NO KEY UPDATE"
)

# After the auction lock, one statement: the bid already made under the key (if any), the leading
# bid, and the lock of the bidder's and the leader's accounts in id order (``accounts_lock_sql``;
# the leader's member read by subquery: a bid's member never changes). Its snapshot is taken with
# the auction lock held, so it sees every bid committed on this auction; the key and the leader
# are not read in the auction's own locking statement, whose snapshot predates the wait for it.
_READ_KEY_LEADER_AND_LOCK = (
    "WITH locked AS (" + accounts_lock_sql(
        "ARRAY[%(member)s::bigint, (SELECT member_id FROM catalog_bid WHERE id = %(leader)s)]") + "), "
    "accounts AS (SELECT count(*) AS n FROM locked) "
    "SELECT 'key', id, member_id, auction_id, points, hold_id FROM catalog_bid WHERE key = %(key)s "
    "UNION ALL "
    "SELECT 'leader', id, member_id, auction_id, points, hold_id FROM catalog_bid WHERE id = %(leader)s "
    "UNION ALL "
    "SELECT 'accounts', n, NULL, NULL, NULL, NULL FROM accounts"
)

# The new leading bid, in one statement: the outbid bid's status first (the aggregate makes the
# insert wait for it, so the one-leader index never sees two leaders), the new bid, and the
# auction's leader and end.
_SAVE_BID = (
    "WITH outbid AS (UPDATE catalog_bid SET status = %s::text WHERE id = %s RETURNING id), "
    "bid AS (INSERT INTO catalog_bid (auction_id, member_id, points, key, hold_id, status, created_at) "
    "SELECT %s::bigint, %s::bigint, %s::integer, %s::text, %s::bigint, %s::text, %s::timestamptz "
    "FROM (SELECT count(*) FROM outbid) AS done RETURNING id) "
    "UPDATE catalog_auction SET leading_bid_id = bid.id, ends_at = %s FROM bid "
    "WHERE catalog_auction.id = %s RETURNING bid.id"
)


def place_bid(member, auction, points, *, key, now=None) -> Bid:
    """Bid ``points`` on ``auction`` for ``member``; returns the new (leading) ``Bid``.

    Refused with ``AuctionClosed`` (ended, closed, not started), ``AlreadyLeading``, ``BidTooLow``
    (below the start price or the current price + increment), ``InsufficientPoints`` (the hold
    failed: beyond the available balance), ``InvalidBid``, ``IdempotencyConflict``. A bid in the
    last ``extend_minutes`` moves the end ``extend_minutes`` later.
    """
    _check(points, key)
    now = now or timezone.now()
    refusal = None
    with transaction.atomic():
        # Raw, prepared statements: the ORM's compilation of the same reads and writes was most
        # of a bid's Python time (bench/bench_auctions.py).
        with prepared_cursor() as cursor:
            cursor.execute(_LOCK_AUCTION, [auction.pk])
            row = cursor.fetchone()
            if row is None:
                raise AuctionNotFound()
            status, starts_at, ends_at, start_price, increment, extend_minutes, leading_bid_id = row
            cursor.execute(_READ_KEY_LEADER_AND_LOCK,
                           {"member": member.pk, "leader": leading_bid_id, "key": key})
            rows = {row[0]: row[1:] for row in cursor.fetchall()}
        if "key" in rows:
            _id, member_id, auction_id, bid_points, _hold_id = rows["key"]
            if (member_id, auction_id, bid_points) != (member.pk, auction.pk, points):
                raise IdempotencyConflict(_("This key was already used for another bid."))
            replayed = Bid.objects.get(pk=_id)
            replayed.replayed = True  # the API says so (Idempotent-Replayed)
            return replayed
        if status != AuctionStatus.OPEN or now >= ends_at:
            raise AuctionClosed(_("This auction has ended."))
        if now < starts_at:
            raise AuctionClosed(_("This auction has not started yet."))
        leader = rows.get("leader")  # (id, member_id, auction_id, points, hold_id)
        if leader is not None and leader[1] == member.pk:
            raise AlreadyLeading()
        minimum = _minimum(start_price, increment, leader[3] if leader else None)
        if points < minimum:
            raise BidTooLow(_("The lowest bid now is %(min)s points.") % {"min": minimum})
        extend = timedelta(minutes=extend_minutes)
        if extend_minutes and now >= ends_at - extend:
            ends_at += extend
        # The bidder's and the leader's accounts are locked (above), in id order, before either
        # posting.
        try:
            held = ledger.hold(member, points, key=bid_hold_key(key), reference=f"auction:{auction.pk}",
                               ttl=_ttl(ends_at))
        except InsufficientPoints as exc:
            # Recorded by the ledger under the key: it must commit, so it is raised after the block.
            refusal = exc
        else:
            if leader is not None:
                _release_hold(leader[4], leader[1])
            with prepared_cursor() as cursor:
                cursor.execute(_SAVE_BID, [
                    BidStatus.OUTBID, leader[0] if leader else None,
                    auction.pk, member.pk, points, key, held.pk, BidStatus.LEADING, now,
                    ends_at, auction.pk,
                ])
                bid_id = cursor.fetchone()[0]
            bid = Bid(id=bid_id, auction_id=auction.pk, member_id=member.pk, points=points, key=key,
                      hold_id=held.pk, status=BidStatus.LEADING, created_at=now)
            bid._state.adding = False
            bid.hold = held
            auction.ends_at, auction.leading_bid = ends_at, bid
    if refusal is not None:
        raise refusal
    return bid


def close_due_auctions(now=None) -> int:
    """Close every open auction whose end has passed; returns how many this run closed.

    Each in its own transaction, its row locked ``FOR UPDATE SKIP LOCKED`` (one being bid on or
    closed by another run is skipped). The leader wins if the price reaches the reserve and the
    product has stock: one unit is taken by the conditional stock UPDATE and the leader's hold is
    captured into a ``Redemption`` (key ``auction:<id>``). Otherwise the auction ends with no
    winner (``close_note`` says why). Every other open hold of its bids is released.
    """
    now = now or timezone.now()
    closed = 0
    while True:
        with transaction.atomic():
            auction = (Auction.objects.select_for_update(skip_locked=True)
                       .filter(status=AuctionStatus.OPEN, ends_at__lte=now)
                       .order_by("ends_at", "id").first())
            if auction is None:
                return closed
            _close_locked(auction, now)
        closed += 1


def _take_unit(auction: Auction):
    """Take one unit of the auction's product (stock UPDATE, then a coupon code); returns
    ``(stock_after, code_id)`` or None when there is none (nothing taken)."""
    try:
        with transaction.atomic():
            stock_after = _move_stock(auction.product_id, -1, sold=1)
            if stock_after is None:
                return None
            code_id = None
            if auction.product.kind == ProductKind.COUPON:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT id FROM catalog_couponcode WHERE product_id = %s AND redemption_id IS NULL "
                        "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", [auction.product_id])
                    row = cursor.fetchone()
                if row is None:
                    raise CodesExhausted()
                code_id = row[0]
            return stock_after, code_id
    except CodesExhausted:
        return None


def _close_locked(auction: Auction, now) -> None:
    open_bids = list(Bid.objects.filter(auction=auction, hold__status=HoldStatus.HELD)
                     .select_related("hold").order_by("id"))
    leader = next((b for b in open_bids if b.pk == auction.leading_bid_id), None)
    winner, note = None, ""
    if auction.leading_bid_id is None:
        note = gettext_noop("No bids.")
    elif leader is None:
        note = gettext_noop("The leading bid's hold ran out before the auction was closed.")
    elif auction.reserve_price is not None and leader.points < auction.reserve_price:
        note = gettext_noop("The reserve price was not reached.")
    else:
        unit = _take_unit(auction)
        if unit is None:
            note = gettext_noop("The product was out of stock; every hold was released.")
        else:
            winner = leader
    lock_accounts_of_members({b.member_id for b in open_bids})
    if winner is not None:
        stock_after, code_id = unit
        product = auction.product
        entry = ledger.capture(winner.hold, key=capture_key(auction.pk))
        immediate = product.kind in (ProductKind.COUPON, ProductKind.PRIVILEGE)
        status = RedemptionStatus.FULFILLED if immediate else RedemptionStatus.CREATED
        redemption = Redemption.objects.create(
            key=f"auction:{auction.pk}", member_id=winner.member_id, product=product, quantity=1,
            points=winner.points, status=status,
            entry=entry, created_at=now, fulfilled_at=now if immediate else None,
        )
        if code_id is not None:
            _issue_codes([code_id], redemption, product, now)
        StockMovement.objects.create(
            product=product, delta=-1, stock_after=stock_after, redemption=redemption,
            reason=_stored_text(gettext_noop("Auction #%(id)s"), id=auction.pk), created_at=now,
        )
        Bid.objects.filter(pk=winner.pk).update(status=BidStatus.WON)
        auction.redemption, auction.winner_id, auction.winning_bid = redemption, winner.member_id, winner
        _invalidate_after_commit()
    for bid in open_bids:
        if bid is not winner:
            _release(bid)
    Bid.objects.filter(auction=auction).exclude(status=BidStatus.WON).update(status=BidStatus.LOST)
    auction.status = AuctionStatus.CLOSED if winner else AuctionStatus.NO_WINNER
    auction.close_note = _stored_text(note) if note else ""
    auction.closed_at = now
    auction.save(update_fields=["status", "winner", "winning_bid", "redemption", "close_note", "closed_at"])
