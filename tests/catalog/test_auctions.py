"""Points auctions (issue 11): bids hold points, the outbid hold is released at once, closing
captures the winner's hold into a redemption exactly once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog import services
from catalog.auction_errors import AlreadyLeading, AuctionClosed, BidTooLow, InvalidBid
from catalog.models import (
    Auction,
    AuctionStatus,
    Bid,
    BidStatus,
    CouponCode,
    ProductKind,
    Redemption,
    RedemptionStatus,
)
from points import services as ledger
from points.errors import IdempotencyConflict, InsufficientPoints
from points.models import Entry, Hold, HoldStatus
from tests.catalog.helpers import fund, make_product, stock
from tests.factories import MemberFactory
from tests.points.ledger import totals
from tests.threads import failures, run_together


def make_auction(product=None, *, minutes=60, **fields) -> Auction:
    now = timezone.now()
    fields.setdefault("start_price", 100)
    fields.setdefault("increment", 10)
    return Auction.objects.create(
        product=product or make_product(stock=1), starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(minutes=minutes), **fields)


def members(count, points=1000):
    made = [MemberFactory(established=True) for _ in range(count)]
    for member in made:
        fund(member, points)
    return made


def after_end(auction, minutes=1):
    auction.refresh_from_db()
    return auction.ends_at + timedelta(minutes=minutes)


@pytest.mark.django_db
class TestPlaceBid:
    def test_first_bid_holds_its_points(self, ledger_invariants):
        (alice,) = members(1)
        auction = make_auction()
        bid = services.place_bid(alice, auction, 100, key="b1")
        assert bid.status == BidStatus.LEADING and bid.points == 100
        assert totals(alice)["available"] == 900 and totals(alice)["held"] == 100
        auction.refresh_from_db()
        assert auction.leading_bid == bid
        assert bid.hold.expires_at >= auction.ends_at + services.auctions.HOLD_GRACE
        assert ledger_invariants() == []

    def test_outbid_hold_is_released_at_once(self, ledger_invariants):
        alice, bob = members(2)
        auction = make_auction()
        first = services.place_bid(alice, auction, 100, key="b1")
        second = services.place_bid(bob, auction, 110, key="b2")
        first.refresh_from_db()
        assert first.status == BidStatus.OUTBID
        assert Hold.objects.get(pk=first.hold_id).status == HoldStatus.RELEASED
        assert totals(alice)["available"] == 1000 and totals(alice)["held"] == 0
        assert totals(bob)["held"] == 110
        assert Bid.objects.filter(auction=auction, status=BidStatus.LEADING).get() == second
        assert ledger_invariants() == []

    def test_refusals(self):
        alice, bob = members(2)
        auction = make_auction()
        with pytest.raises(BidTooLow):
            services.place_bid(alice, auction, 99, key="low")
        services.place_bid(alice, auction, 100, key="b1")
        with pytest.raises(AlreadyLeading):
            services.place_bid(alice, auction, 200, key="again")
        with pytest.raises(BidTooLow) as exc:
            services.place_bid(bob, auction, 109, key="b2")
        assert exc.value.code == "bid_too_low"
        with pytest.raises(InsufficientPoints) as exc:
            services.place_bid(bob, auction, 1001, key="rich")
        assert exc.value.code == "insufficient_points"
        # The ledger recorded the refusal: the same key is refused again, even with points now.
        fund(bob, 5000)
        with pytest.raises(InsufficientPoints):
            services.place_bid(bob, auction, 1001, key="rich")
        with pytest.raises(AuctionClosed) as exc:
            services.place_bid(bob, auction, 500, key="late", now=after_end(auction))
        assert exc.value.code == "auction_closed"
        for points in (0, -5, 1.5, "100", True):
            with pytest.raises(InvalidBid):
                services.place_bid(bob, auction, points, key="bad")
        assert Bid.objects.count() == 1

    def test_not_started(self):
        (alice,) = members(1)
        auction = make_auction()
        with pytest.raises(AuctionClosed):
            services.place_bid(alice, auction, 100, key="b1", now=auction.starts_at - timedelta(seconds=1))

    def test_same_key_same_bid(self):
        alice, bob = members(2)
        auction = make_auction()
        first = services.place_bid(alice, auction, 100, key="b1")
        services.place_bid(bob, auction, 120, key="b2")
        assert services.place_bid(alice, auction, 100, key="b1") == first  # replay, not refused
        with pytest.raises(IdempotencyConflict):
            services.place_bid(alice, auction, 130, key="b1")
        assert Bid.objects.count() == 2 and totals(alice)["held"] == 0

    def test_anti_sniping_extends_the_end(self):
        alice, bob = members(2)
        auction = make_auction(extend_minutes=5)
        end = auction.ends_at
        services.place_bid(alice, auction, 100, key="b1", now=end - timedelta(minutes=10))
        auction.refresh_from_db()
        assert auction.ends_at == end  # not in the last 5 minutes
        bid = services.place_bid(bob, auction, 110, key="b2", now=end - timedelta(minutes=2))
        auction.refresh_from_db()
        assert auction.ends_at == end + timedelta(minutes=5)
        assert bid.hold.expires_at >= auction.ends_at + services.auctions.HOLD_GRACE
        # A bid after the first end but before the extended one is accepted.
        services.place_bid(alice, auction, 120, key="b3", now=end + timedelta(minutes=1))

    def test_stale_hold_job_leaves_the_leading_bid(self):
        (alice,) = members(1)
        auction = make_auction()
        bid = services.place_bid(alice, auction, 100, key="b1")
        assert ledger.release_stale_holds(now=after_end(auction, minutes=60)) == 0
        assert Hold.objects.get(pk=bid.hold_id).status == HoldStatus.HELD


@pytest.mark.django_db
class TestClose:
    def test_winner_is_charged_and_gets_a_redemption(self, ledger_invariants):
        alice, bob = members(2)
        product = make_product(stock=3)
        auction = make_auction(product)
        services.place_bid(alice, auction, 100, key="b1")
        won = services.place_bid(bob, auction, 150, key="b2")
        assert services.close_due_auctions() == 0  # not due yet
        assert services.close_due_auctions(now=after_end(auction)) == 1
        auction.refresh_from_db()
        assert auction.status == AuctionStatus.CLOSED and auction.closed_at is not None
        assert auction.winner == bob and auction.winning_bid == won
        redemption = auction.redemption
        assert (redemption.member, redemption.product, redemption.points, redemption.quantity) == (
            bob, product, 150, 1)
        assert redemption.status == RedemptionStatus.CREATED
        assert redemption.entry.kind == "capture" and redemption.entry.delta == -150
        assert totals(bob)["available"] == 850 and totals(bob)["held"] == 0
        assert totals(bob)["lifetime_spent"] == 150
        assert totals(alice)["available"] == 1000
        assert stock(product) == (2, 1)
        assert dict(Bid.objects.values_list("key", "status")) == {"b1": "lost", "b2": "won"}
        # Exactly once.
        assert services.close_due_auctions(now=after_end(auction, 5)) == 0
        assert Redemption.objects.count() == 1
        assert Entry.objects.filter(kind="capture").count() == 1
        assert ledger_invariants() == []

    def test_below_reserve_nobody_wins(self, ledger_invariants):
        alice, bob = members(2)
        product = make_product(stock=1)
        auction = make_auction(product, reserve_price=500)
        services.place_bid(alice, auction, 100, key="b1")
        services.place_bid(bob, auction, 200, key="b2")
        assert services.close_due_auctions(now=after_end(auction)) == 1
        auction.refresh_from_db()
        assert auction.status == AuctionStatus.NO_WINNER and auction.winner is None
        assert auction.redemption is None and auction.close_note
        assert totals(alice)["available"] == totals(bob)["available"] == 1000
        assert totals(bob)["held"] == 0
        assert stock(product) == (1, 0)
        assert ledger_invariants() == []

    def test_no_stock_means_no_winner(self, ledger_invariants):
        (alice,) = members(1)
        product = make_product(stock=1)
        auction = make_auction(product)
        services.place_bid(alice, auction, 100, key="b1")
        services.adjust_stock(product, -1, reason="sold elsewhere", staff=None)
        assert services.close_due_auctions(now=after_end(auction)) == 1
        auction.refresh_from_db()
        assert auction.status == AuctionStatus.NO_WINNER
        assert auction.close_note == "商品已无库存，所有出价积分已退回。"  # stored in the default language
        assert totals(alice)["available"] == 1000 and totals(alice)["held"] == 0
        assert ledger_invariants() == []

    def test_no_bids(self):
        auction = make_auction()
        assert services.close_due_auctions(now=after_end(auction)) == 1
        auction.refresh_from_db()
        assert auction.status == AuctionStatus.NO_WINNER

    def test_coupon_gets_its_code(self):
        (alice,) = members(1)
        product = make_product(kind=ProductKind.COUPON, codes=["C1", "C2"])
        auction = make_auction(product)
        services.place_bid(alice, auction, 100, key="b1")
        services.close_due_auctions(now=after_end(auction))
        auction.refresh_from_db()
        assert auction.redemption.status == RedemptionStatus.FULFILLED
        assert list(CouponCode.objects.filter(redemption=auction.redemption)
                    .values_list("code", flat=True)) == ["C1"]

    def test_leading_hold_ran_out_before_close(self, ledger_invariants):
        (alice,) = members(1)
        auction = make_auction()
        services.place_bid(alice, auction, 100, key="b1")
        late = after_end(auction) + services.auctions.HOLD_GRACE
        assert ledger.release_stale_holds(now=late) == 1
        assert services.close_due_auctions(now=late) == 1
        auction.refresh_from_db()
        assert auction.status == AuctionStatus.NO_WINNER and auction.redemption is None
        assert totals(alice)["available"] == 1000
        assert ledger_invariants() == []

    def test_bids_after_close_are_refused(self):
        alice, bob = members(2)
        auction = make_auction()
        services.place_bid(alice, auction, 100, key="b1")
        # Closed early (the end moved, a staff closing): the status refuses, not only the clock.
        Auction.objects.filter(pk=auction.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
        services.close_due_auctions()
        with pytest.raises(AuctionClosed):
            services.place_bid(bob, auction, 500, key="b2", now=auction.starts_at + timedelta(seconds=1))


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_twenty_bidders_at_once(self, ledger_invariants):
        bidders = members(20, points=10_000)
        product = make_product(stock=1)
        auction = make_auction(product, start_price=100, increment=10)

        def bid_rounds(i):
            placed = []
            for round_ in range(5):
                points = 100 + 10 * (i + 20 * round_)
                try:
                    placed.append(services.place_bid(bidders[i], auction, points, key=f"b{i}-{round_}"))
                except (BidTooLow, AlreadyLeading):
                    pass
            return placed

        results = run_together(20, bid_rounds)
        assert failures(results) == []
        assert Bid.objects.filter(auction=auction, status=BidStatus.LEADING).count() == 1
        assert Hold.objects.filter(bid__auction=auction, status=HoldStatus.HELD).count() == 1
        auction.refresh_from_db()
        leader = auction.leading_bid
        # Accepted bids strictly rise by at least the increment in the order they were made.
        accepted = list(Bid.objects.filter(auction=auction).order_by("id").values_list("points", flat=True))
        assert all(b >= a + 10 for a, b in zip(accepted, accepted[1:], strict=False))
        assert leader.points == accepted[-1]

        closes = run_together(4, lambda i: services.close_due_auctions(now=after_end(auction)))
        assert failures(closes) == [] and sum(closes) == 1
        auction.refresh_from_db()
        assert auction.status == AuctionStatus.CLOSED and auction.winner_id == leader.member_id
        for member in bidders:
            t = totals(member)
            assert t["held"] == 0
            expected = 10_000 - leader.points if member.pk == leader.member_id else 10_000
            assert t["available"] == expected, member.pk
        assert Entry.objects.filter(kind="capture").count() == 1
        assert Redemption.objects.get().points == leader.points
        assert stock(product) == (0, 1)
        assert ledger_invariants() == []

    def test_one_key_sent_five_times_at_once_is_one_bid(self, ledger_invariants):
        (alice,) = members(1)
        auction = make_auction()
        results = run_together(5, lambda i: services.place_bid(alice, auction, 300, key="same"))
        assert failures(results) == []
        assert len({bid.pk for bid in results}) == 1
        assert Bid.objects.count() == 1 and totals(alice)["held"] == 300
        assert ledger_invariants() == []

    def test_swapped_bidders_on_two_auctions_do_not_deadlock(self, ledger_invariants):
        alice, bob = members(2, points=100_000)
        one, two = make_auction(), make_auction()
        services.place_bid(alice, one, 100, key="a0")
        services.place_bid(bob, two, 100, key="b0")

        def race(i):
            for n in range(1, 15):
                if i == 0:  # bob outbids alice on one, alice outbids bob on two, and back
                    member, auction = (bob, one) if n % 2 else (alice, one)
                else:
                    member, auction = (alice, two) if n % 2 else (bob, two)
                services.place_bid(member, auction, 100 + 10 * n, key=f"{i}-{n}")

        assert failures(run_together(2, race)) == []
        assert ledger_invariants() == []


@pytest.mark.django_db
def test_the_job_closes_due_auctions():
    from catalog.tasks import close_due_auctions

    auction = make_auction()
    Auction.objects.filter(pk=auction.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert close_due_auctions.name == "catalog.close_due_auctions"
    assert close_due_auctions.apply().get() == 1
    assert close_due_auctions.apply().get() == 0
    auction.refresh_from_db()
    assert auction.status == AuctionStatus.NO_WINNER
