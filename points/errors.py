"""Ledger errors: each carries its machine ``code`` and its ``kind`` (``common.errors``), which
the interfaces map to HTTP statuses and page messages once."""

from common.errors import DomainError, Kind


class LedgerError(DomainError):
    code = "ledger_error"
    kind = Kind.INVALID


class InsufficientPoints(LedgerError):
    """Not enough available points."""

    code = "insufficient_points"
    kind = Kind.REFUSED


class IdempotencyConflict(LedgerError):
    """This key was already used with different arguments."""

    code = "idempotency_conflict"
    kind = Kind.REFUSED


class InvalidAmount(LedgerError):
    """Points must be a positive integer of at most 10**9."""

    code = "invalid_amount"


class HoldNotOpen(LedgerError):
    """The hold has already been captured, released or expired."""

    code = "hold_not_open"
    kind = Kind.REFUSED


class NotReversible(LedgerError):
    """Only earnings, spendings and adjustments can be reversed."""

    code = "not_reversible"
    kind = Kind.REFUSED


class InvalidArgument(LedgerError):
    """A required argument is missing or malformed."""

    code = "invalid_argument"


class OrderNotFound(LedgerError):
    """No paid order with this id has been received."""

    code = "order_not_found"
    kind = Kind.NOT_FOUND


class PointsHeld(LedgerError):
    """Points are held by an open hold (a checkout, a bid, an unpaid redemption): an account with
    held points cannot be forfeited until the hold resolves."""

    code = "points_held"
    kind = Kind.REFUSED


REFUSALS = {cls.code: cls for cls in (InsufficientPoints,)}
