"""Refusals of points auctions (``catalog.services.auctions``). Refused (HTTP 409) unless said
otherwise; ``insufficient_points`` and ``idempotency_conflict`` come from ``points.errors``."""

from django.utils.translation import gettext_lazy as _

from catalog.errors import CatalogError
from common.errors import Kind


class BidTooLow(CatalogError):
    """Below the start price, or below the current price plus the increment."""

    code = "bid_too_low"
    default_message = _("Your bid is too low.")


class AuctionClosed(CatalogError):
    """The auction has ended (or been closed), or has not started yet."""

    code = "auction_closed"
    default_message = _("This auction is not open for bids.")


class AlreadyLeading(CatalogError):
    """The bidder already holds the highest bid."""

    code = "already_leading"
    default_message = _("You already have the highest bid.")


class InvalidBid(CatalogError):
    """Points that are not a positive whole number, or a malformed key."""

    code = "invalid_bid"
    kind = Kind.INVALID
    default_message = _("A bid must be a positive whole number of points.")


class AuctionNotFound(CatalogError):
    code = "auction_not_found"
    kind = Kind.NOT_FOUND
    default_message = _("No such auction.")
