"""The ``Idempotency-Key`` header of the API's writes (DESIGN.md §4)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status

# A caller's key is prefixed by the service's namespace (``api:{member}:``, ``checkout-hold:``)
# and stored in columns of 100 characters.
MAX_IDEMPOTENCY_KEY = 80


class IdempotencyKeyRequired(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "idempotency_key_required"
    default_detail = gettext_lazy("This request needs an Idempotency-Key header.")


# On the response of a write taken with an ``Idempotency-Key``: "true" when it is the stored outcome
# of an earlier request with that key (nothing was done again), "false" when it was done now.
REPLAYED_HEADER = "Idempotent-Replayed"


def replayed_header(outcome) -> dict:
    """The ``Idempotent-Replayed`` header for a service's outcome: services mark a replayed one
    with ``replayed = True`` (``catalog.services.redeem``, ``draw``, ``place_bid``)."""
    return {REPLAYED_HEADER: "true" if getattr(outcome, "replayed", False) else "false"}


def idempotency_key(request) -> str:
    """The request's ``Idempotency-Key``: required (400 ``idempotency_key_required``), at most
    ``MAX_IDEMPOTENCY_KEY`` visible ASCII characters (a 400 field error on ``idempotency_key``)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise IdempotencyKeyRequired()
    if len(key) > MAX_IDEMPOTENCY_KEY or not all("!" <= char <= "~" for char in key):
        raise exceptions.ValidationError({"idempotency_key": [
            _("At most %(max)s visible ASCII characters.") % {"max": MAX_IDEMPOTENCY_KEY}]})
    return key
