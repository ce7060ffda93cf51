"""API plumbing shared by every DRF view: one exception handler for the whole API.

Every error leaves the API as ``{"error": {"code": "...", "message": "...", "fields": {...}}}``
(DESIGN.md §4). DRF's own errors keep their status and headers (``WWW-Authenticate``,
``Retry-After``); domain errors are mapped here once, by their ``code``:

* ``points.errors.LedgerError`` subclasses: 409 for business refusals (insufficient points, an
  idempotency key reused with other arguments, a hold no longer open...), 404 for an unknown
  order, 400 for malformed arguments;
* ``rules.evaluator.UnknownAction``: 400 ``unknown_action``;
* ``rules.errors.RuleSetError``: 409;
* Django's ``ValidationError`` (raised by a model's ``full_clean``): 400 with its fields.

Anything else is a bug and propagates (500), never dressed up as a 4xx.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from points.errors import LedgerError
from rules.errors import RuleSetError
from rules.evaluator import UnknownAction

LEDGER_STATUS = {
    "insufficient_points": status.HTTP_409_CONFLICT,
    "idempotency_conflict": status.HTTP_409_CONFLICT,
    "hold_not_open": status.HTTP_409_CONFLICT,
    "not_reversible": status.HTTP_409_CONFLICT,
    "order_not_found": status.HTTP_404_NOT_FOUND,
    "invalid_amount": status.HTTP_400_BAD_REQUEST,
    "invalid_argument": status.HTTP_400_BAD_REQUEST,
}


def error_body(code: str, message: str, fields=None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc, context):
    """``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: map an exception to the API's error shape."""
    if isinstance(exc, LedgerError):
        code = exc.code
        return Response(error_body(code, exc.message),
                        status=LEDGER_STATUS.get(code, status.HTTP_400_BAD_REQUEST))
    if isinstance(exc, UnknownAction):
        return Response(
            error_body(UnknownAction.code, _("Unknown action: %(action)s") % {"action": str(exc)},
                       {"action": [_("This action is not in the rules.")]}),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RuleSetError):
        return Response(error_body(exc.code, exc.message), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )

    # DRF's handler turns Http404/PermissionDenied into its own errors and sets the headers.
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        response.data = error_body("invalid", _("The request has invalid fields."), fields)
        return response
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        message = str(detail) if not isinstance(detail, dict | list) else str(exc.default_detail)
        response.data = error_body(code, message)
    return response
