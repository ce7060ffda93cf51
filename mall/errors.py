"""Errors of the members service: each carries its machine ``code`` and its ``kind``
(``common.errors``). A taken username or phone is a ``common.errors.InvalidFields`` naming it."""

from django.utils.translation import gettext_lazy as _

from common.errors import DomainError, Kind


class MemberNotFound(DomainError):
    """No member has the shop's external id."""

    code = "member_not_found"
    kind = Kind.NOT_FOUND
    default_message = _("No such member.")


class MessageNotFound(DomainError):
    """No message of the member's has this id (another member's is not found either)."""

    code = "message_not_found"
    kind = Kind.NOT_FOUND
    default_message = _("No such message.")


class BroadcastSent(DomainError):
    """A broadcast that has been sent is kept as it went out: it is not edited any more."""

    code = "broadcast_sent"
    kind = Kind.REFUSED
    default_message = _("This broadcast has been sent and can no longer be changed.")


class AccountClosed(DomainError):
    """The account is closed already: there is nothing left to close."""

    code = "account_closed"
    kind = Kind.REFUSED
    default_message = _("This account is closed.")


class OpenRedemptions(DomainError):
    """A redemption is still awaiting shipment or payment: the account closes once it is shipped,
    paid or cancelled (its address is needed until then)."""

    code = "account_has_open_redemptions"
    kind = Kind.REFUSED
    default_message = _("A redemption is still awaiting shipment or payment. Cancel it or wait "
                        "until it ships, then close the account.")


class HeldPoints(DomainError):
    """Points are held by an open checkout, auction bid or payment: the account closes once the
    hold is captured or released."""

    code = "account_has_held_points"
    kind = Kind.REFUSED
    default_message = _("Some of your points are held by an open order or auction bid. Close the "
                        "account once it is settled.")
