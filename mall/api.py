"""API plumbing shared by every DRF view: one exception handler for the whole API.

Every error leaves the API as ``{"error": {"code": "...", "message": "...", "fields": {...}}}``
(DESIGN.md §4). DRF's own errors keep their status and headers (``WWW-Authenticate``,
``Retry-After``); domain errors are mapped here once, by their ``code``:

* ``points.errors.LedgerError`` subclasses: 409 for business refusals (insufficient points, an
  idempotency key reused with other arguments, a hold no longer open...), 404 for an unknown
  order, 400 for malformed arguments;
* ``catalog.errors.CatalogError`` subclasses (``CATALOG_STATUS``): 409 for business refusals
  (out of stock, limit reached, not available, an invalid transition...), 404 for an unknown
  checkout hold, 400 for malformed arguments (``InvalidField`` names its field);
* ``rules.evaluator.UnknownAction``: 400 ``unknown_action``;
* ``rules.errors.RuleSetError``: 409;
* Django's ``ValidationError`` (raised by a model's ``full_clean``): 400 with its fields;
* simplejwt's token errors (an expired or forged token): 401 with their own code
  (``token_not_valid``) and message.

Anything else is a bug and propagates (500), never dressed up as a 4xx.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from catalog.errors import CatalogError, InvalidField
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


# ``catalog.errors`` codes; a code not listed is a refusal (409), as ``CatalogError`` itself is.
CATALOG_STATUS = {
    "out_of_stock": status.HTTP_409_CONFLICT,
    "limit_reached": status.HTTP_409_CONFLICT,
    "not_available": status.HTTP_409_CONFLICT,
    "invalid_transition": status.HTTP_409_CONFLICT,
    "duplicate_codes": status.HTTP_409_CONFLICT,
    "over_limit": status.HTTP_409_CONFLICT,
    "below_minimum": status.HTTP_409_CONFLICT,
    "hold_expired": status.HTTP_409_CONFLICT,
    "hold_not_found": status.HTTP_404_NOT_FOUND,
    "invalid_quantity": status.HTTP_400_BAD_REQUEST,
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
    if isinstance(exc, CatalogError):
        fields = {exc.field: [exc.message]} if isinstance(exc, InvalidField) else None
        return Response(error_body(exc.code, exc.message, fields),
                        status=CATALOG_STATUS.get(exc.code, status.HTTP_409_CONFLICT))
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
        if isinstance(detail, dict) and "detail" in detail and "code" in detail:
            # simplejwt's shape: {"detail": "...", "code": "token_not_valid", "messages": [...]}.
            response.data = error_body(str(detail["code"]), str(detail["detail"]))
            return response
        code = getattr(detail, "code", None) or exc.default_code
        message = str(detail) if not isinstance(detail, dict | list) else str(exc.default_detail)
        response.data = error_body(code, message)
    return response


# --------------------------------------------------------------------------- lists


class Pagination(PageNumberPagination):
    """``?page=N&page_size=M`` -> ``{count, next, previous, results}``.

    ``page_size`` is 20 by default and must be a whole number from 1 to ``max_page_size``
    (100): anything else is a 400 naming the field, not silently replaced. A page past the end
    (or not a page number) is a 404, as in DRF.
    """

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise exceptions.ValidationError({self.page_size_query_param: [
                _("Enter a whole number from 1 to %(max)d.") % {"max": self.max_page_size}
            ]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class StrictCharField(serializers.CharField):
    """A ``CharField`` that takes only strings: DRF's would turn ``0`` or ``1.5`` into text, so a
    client sending the wrong type would not be told."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
