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
