"""The API's side of the error model: one exception handler for every DRF view.

Every error leaves the API as ``{"error": {"code": "...", "message": "...", "fields": {...}}}``
(DESIGN.md §4). A :class:`common.errors.DomainError` gets the status of its kind
(``HTTP_STATUS``), its own code, message and fields. DRF's own errors keep their status and headers
(``WWW-Authenticate``, ``Retry-After``); Django's ``ValidationError`` (a model's ``full_clean``) is
a 400 with its fields; simplejwt's token errors keep their code (``token_not_valid``).

A message may echo the input (``"a\\ud800b" is not a valid choice``): ``error_body`` replaces any
lone surrogate with U+FFFD, so that no input can make the renderer fail (the parser refuses them,
``common.parsers``; this is the second line of defence).

Anything else is a bug and propagates (500), never dressed up as a 4xx.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import DomainError, Kind, ReadOnlyFields, UnknownFields
from common.parsers import SURROGATES

HTTP_STATUS = {
    Kind.INVALID: status.HTTP_400_BAD_REQUEST,
    Kind.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    Kind.REFUSED: status.HTTP_409_CONFLICT,
}


def error_body(code: str, message: str, fields=None) -> dict:
    return {"error": {"code": code, "message": printable(message), "fields": printable(fields or {})}}


def printable(value):
    """``value`` (text, or dicts and lists of it) with lone surrogates replaced by U+FFFD."""
    if isinstance(value, str):
        return SURROGATES.sub("\ufffd", value) if SURROGATES.search(value) else value
    if isinstance(value, dict):
        return {printable(key): printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [printable(item) for item in value]
    return value


def domain_error_response(exc: DomainError) -> Response:
    return Response(error_body(exc.code, exc.message, exc.fields), status=HTTP_STATUS[exc.kind])


def exception_handler(exc, context):
    """``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: map an exception to the API's error shape."""
    if isinstance(exc, DomainError):
        return domain_error_response(exc)
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


def refuse_extra_fields(data, *, writable, read_only=()) -> None:
    """Raise ``ReadOnlyFields`` (400 ``read_only_field``) if the body ``data`` names one of
    ``read_only``, else ``UnknownFields`` (400 ``unknown_field``) if it names anything that is not
    in ``writable``; ``fields`` lists each offending name with its message. A body that is not an
    object is left to the serializer."""
    if not isinstance(data, Mapping):
        return  # not an object (null, a list): the serializer refuses it, 400 invalid
    names = [str(name) for name in data]
    shown = [name for name in names if name in read_only and name not in writable]
    if shown:
        message = _("This field cannot be changed.")
        raise ReadOnlyFields(_("The request sets fields that cannot be changed: %(fields)s.")
                             % {"fields": ", ".join(sorted(shown))},
                             fields={name: [message] for name in sorted(shown)})
    unknown = [name for name in names if name not in writable and name not in read_only]
    if unknown:
        message = _("There is no such field.")
        raise UnknownFields(_("The request has unknown fields: %(fields)s.")
                            % {"fields": ", ".join(sorted(unknown))},
                            fields={name: [message] for name in sorted(unknown)})
