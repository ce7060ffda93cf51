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
