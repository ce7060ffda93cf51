"""Points-mall errors. Each carries its machine ``code`` and its ``kind`` (``common.errors``):
refused for the business refusals (``out_of_stock``, ``limit_reached``, ``not_available``...),
invalid for malformed input, not found for an unknown checkout hold. ``message`` is human text in
the active language (made with gettext by the raiser).

The ledger's own refusals come from ``points.errors`` unchanged: ``InsufficientPoints`` and
``IdempotencyConflict`` (also raised by ``catalog.services.redeem`` for a reused key).
"""

from django.utils.translation import gettext_lazy as _

from common.errors import DomainError, InvalidFields, Kind


class CatalogError(DomainError):
    code = "catalog_error"
    kind = Kind.REFUSED
    default_message = _("The points mall refused the request.")


class OutOfStock(CatalogError):
    """Fewer units in stock than asked for."""

    code = "out_of_stock"
    default_message = _("This product is out of stock.")


class CodesExhausted(OutOfStock):
    """A coupon product has stock but its pool holds too few free codes.

    Stock is authoritative for selling; the pool must always hold at least ``stock`` free codes
    (``catalog.services`` keeps it so). Seeing this means the two drifted apart (codes deleted by
    hand, stock raised outside the services): the redemption is refused with nothing written.
    """

    default_message = _("This coupon is sold out.")


class LimitReached(CatalogError):
    """The member's per-product limit (over the product's lifetime) would be exceeded."""

    code = "limit_reached"
    default_message = _("You have reached the limit for this product.")


class NotAvailable(CatalogError):
    """Inactive, outside its sale window, or not visible to the member's tier."""

    code = "not_available"
    default_message = _("This product is not available.")


class WelcomeOfferUsed(CatalogError):
    """The redemption was priced with the welcome offer, but another of the member's redemptions
    holds it (``catalog_redemption_one_welcome``). Nothing was written; a retry is priced again,
    without the offer."""

    code = "welcome_offer_used"
    default_message = _("Your new-member offer has already been used. Please try again.")


class InvalidTransition(CatalogError):
    """The redemption is not in a state that allows this (e.g. cancelling a fulfilled one)."""

    code = "invalid_transition"
    default_message = _("This redemption cannot be changed that way.")


class InvalidQuantity(CatalogError):
    """A quantity or stock change that is not a positive integer, or takes stock below 0."""

    code = "invalid_quantity"
    kind = Kind.INVALID
    default_message = _("Invalid quantity.")


class InvalidArgument(CatalogError):
    """A required argument is missing or malformed (key, reason, tracking number, filter)."""

    code = "invalid_argument"
    kind = Kind.INVALID
    default_message = _("Invalid argument.")


class DuplicateCodes(CatalogError):
    """Coupon codes repeated within an import or already in the database; ``codes`` lists them."""

    code = "duplicate_codes"
    default_message = _("Duplicate coupon codes.")

    def __init__(self, message: str = "", *, codes=()):
        self.codes = list(codes)
        super().__init__(message)


# --------------------------------------------------------------------------- checkout deduction
# Refusals of ``catalog.checkout``; nothing is written when one is raised.


class OverLimit(CatalogError):
    """More points than the member's redemption policy lets the order be paid with."""

    code = "over_limit"
    default_message = _("The order may not be paid with that many points.")


class BelowMinimum(CatalogError):
    """Fewer points than the policy's minimum deduction."""

    code = "below_minimum"
    default_message = _("Fewer points than the minimum deduction.")


class HoldExpired(CatalogError):
    """The hold's 30 minutes are over (whether or not the timeout job has released it yet)."""

    code = "hold_expired"
    default_message = _("The reservation has expired.")


class HoldNotFound(CatalogError):
    """No hold with this id was placed through the checkout (unknown, or someone else's, such
    as an auction bid's)."""

    code = "hold_not_found"
    kind = Kind.NOT_FOUND
    default_message = _("No such checkout hold.")


class InvalidField(InvalidFields, InvalidArgument):
    """An argument the caller sent that cannot be honoured, e.g. capturing more points than
    held; ``field`` names it and the message is that field's error (as a serializer's would be)."""

    def __init__(self, message: str = "", *, field: str):
        super().__init__({field: [str(message)]})
        self.field = field


# --------------------------------------------------------------------------- lottery
# Refusals of ``catalog.services.draw``; nothing is written when one is raised.


class LotteryClosed(CatalogError):
    """The lottery is inactive or outside its window."""

    code = "lottery_closed"
    default_message = _("This lottery is not open.")


class NotInSegment(CatalogError):
    """The lottery is for some RFM segments only, and the member's (from the last nightly run) is
    not one of them."""

    code = "not_in_segment"
    default_message = _("This lottery is for other members.")


class DailyLimitReached(CatalogError):
    """The member has drawn the lottery's daily limit today (local time)."""

    code = "daily_limit_reached"
    default_message = _("You have used all of today's draws.")


class NoFreeDraw(CatalogError):
    """The lottery is drawn only with free draws, and the member has none left."""

    code = "no_free_draw"
    default_message = _("This lottery is drawn with free draws only, and you have none.")


class NoPrizeLeft(CatalogError):
    """Every prize of the lottery is out of stock."""

    code = "no_prize_left"
    default_message = _("No prizes are left in this lottery.")


# --------------------------------------------------------------------------- points + cash
# Refusals of ``catalog.services.payments`` and the payment callback; nothing is written.


class BadSignature(CatalogError):
    """A payment callback whose signature does not verify (or is missing, or malformed)."""

    code = "bad_signature"
    kind = Kind.INVALID
    default_message = _("The payment callback's signature is invalid.")


class PaymentNotFound(CatalogError):
    """No payment with this reference (or no such payment provider)."""

    code = "payment_not_found"
    kind = Kind.NOT_FOUND
    default_message = _("No such payment.")


class PaymentExpired(CatalogError):
    """The payment was released (timed out, or failed) before this callback: its points and stock
    are back, and the redemption is cancelled."""

    code = "payment_expired"
    default_message = _("This payment has expired; the redemption was cancelled.")


class AmountMismatch(CatalogError):
    """The callback reports another amount than the payment's."""

    code = "amount_mismatch"
    kind = Kind.INVALID
    default_message = _("The amount paid does not match the payment.")


class AddressRequired(CatalogError):
    """A physical product needs a shipping address."""

    code = "address_required"
    kind = Kind.INVALID
    default_message = _("Choose a shipping address for physical goods.")


class TooManyAddresses(CatalogError):
    """The member has saved as many addresses as allowed (``MAX_ADDRESSES``)."""

    code = "too_many_addresses"

    def __init__(self, limit: int):
        super().__init__(_("You can save at most %(max)s addresses.") % {"max": limit})


class AddressNotFound(CatalogError):
    """No saved address with this id among the member's own."""

    code = "address_not_found"
    kind = Kind.NOT_FOUND
    default_message = _("No such address.")
class InvalidImage(CatalogError):
    """An upload that is not a picture Pillow can read (JPEG, PNG, WebP or GIF)."""

    code = "invalid_image"
    kind = Kind.INVALID
    default_message = _("Upload a JPEG, PNG, WebP or GIF image.")


class ImageTooLarge(InvalidImage):
    """An upload over ``catalog.images.MAX_BYTES`` or ``MAX_PIXELS``."""

    code = "image_too_large"
    default_message = _("The image is too large.")
