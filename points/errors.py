"""Ledger errors. Each has a stable machine-readable ``code`` that the API maps once."""


class LedgerError(Exception):
    code = "ledger_error"

    def __init__(self, message: str = ""):
        super().__init__(message or self.__class__.__doc__)
        self.message = message or (self.__class__.__doc__ or "").strip()


class InsufficientPoints(LedgerError):
    """Not enough available points."""

    code = "insufficient_points"


class IdempotencyConflict(LedgerError):
    """This key was already used with different arguments."""

    code = "idempotency_conflict"


class InvalidAmount(LedgerError):
    """Points must be a positive integer of at most 10**9."""

    code = "invalid_amount"


class HoldNotOpen(LedgerError):
    """The hold has already been captured, released or expired."""

    code = "hold_not_open"


class NotReversible(LedgerError):
    """Only earnings, spendings and adjustments can be reversed."""

    code = "not_reversible"


class InvalidArgument(LedgerError):
    """A required argument is missing or malformed."""

    code = "invalid_argument"


REFUSALS = {cls.code: cls for cls in (InsufficientPoints,)}
