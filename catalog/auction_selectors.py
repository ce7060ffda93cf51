"""Reads of points auctions for the API and the member pages (no caching: the price is live)."""

from __future__ import annotations

from django.db.models import Case, Count, IntegerField, Value, When

from catalog.models import Auction, AuctionStatus, Bid
from catalog.services.auctions import minimum_bid


def mask(name: str) -> str:
    """A bidder as other members see them: the first character and three stars."""
    return f"{name[:1]}***" if name else "***"


def auctions():
    """Every auction with its product, leading bid and bid count: open ones first (soonest end
    first), then closed ones."""
    return (Auction.objects.select_related("product", "leading_bid__member")
            .annotate(bid_count=Count("bids"),
                      open_first=Case(When(status=AuctionStatus.OPEN, then=Value(0)), default=Value(1),
                                      output_field=IntegerField()))
            .order_by("open_first", "ends_at", "id"))


def auction(auction_id: int) -> Auction | None:
    return auctions().filter(pk=auction_id).first()


def current_price(auction: Auction) -> int | None:
    return auction.leading_bid.points if auction.leading_bid_id else None


def lowest_bid(auction: Auction) -> int:
    return minimum_bid(auction, current_price(auction))


def leader(auction: Auction) -> str | None:
    return mask(auction.leading_bid.member.username) if auction.leading_bid_id else None


def own_bid(auction: Auction, member) -> Bid | None:
    """The member's latest bid on the auction."""
    return Bid.objects.filter(auction=auction, member=member).order_by("-id").first()
