"""The pages' side of the error model: a domain error becomes a message of the level its kind
says, and a page answers the status the API would (``common.api.HTTP_STATUS``)."""

from __future__ import annotations

from django.contrib import messages

from common.api import HTTP_STATUS
from common.errors import DomainError, Kind

MESSAGE_LEVEL = {
    Kind.INVALID: messages.ERROR,  # fix the input
    Kind.NOT_FOUND: messages.ERROR,
    Kind.REFUSED: messages.WARNING,  # well-formed, but not now: out of stock, not enough points...
}


def show_error(request, exc: DomainError) -> None:
    """Add ``exc``'s message to the next page the member sees."""
    messages.add_message(request, MESSAGE_LEVEL[exc.kind], exc.message)


def status_of(exc: DomainError) -> int:
    return HTTP_STATUS[exc.kind]
