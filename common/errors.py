"""The one error model (issue 8 §4).

Every domain error of every app is a :class:`DomainError`: it carries a stable machine ``code``
(``insufficient_points``, ``out_of_stock``...), a human ``message`` in the active language, and a
``kind`` that says what sort of failure it is. Interfaces map the *kind*, never the code, once:
``common.api`` to HTTP statuses for the API (refused 409, invalid 400, not found 404), and the
member pages to message levels. Services raise these and never an interface's exception (DRF's
``ValidationError``, ``Http404``), so the same refusal reads the same from the API, the pages, the
admin and a task.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    INVALID = "invalid"  # the caller sent something malformed: fix the input (HTTP 400)
    NOT_FOUND = "not_found"  # no such thing, or not the caller's (HTTP 404)
    REFUSED = "refused"  # well-formed, but a business rule says no (HTTP 409)


class DomainError(Exception):
    """Base of every domain error.

    ``message`` defaults to the class's ``default_message`` (a lazily translated text) or, failing
    that, its docstring. ``field`` names the input the error is about (the API reports the message
    as that field's error); ``fields`` carries several fields' messages at once (``{name:
    [messages]}``, nested for nested input).
    """

    code = "error"
    kind = Kind.REFUSED
    default_message = ""

    def __init__(self, message="", *, field: str | None = None, fields: dict | None = None):
        self.message = str(message or self.default_message or (type(self).__doc__ or "").strip())
        if fields is None:
            fields = {field: [self.message]} if field else {}
        self.field = field
        self.fields = fields
        super().__init__(self.message)


class InvalidFields(DomainError):
    """Input that fails validation, with the messages per field in ``fields`` (the same shape as a
    serializer's errors). Raised by services that validate what a form or an API sends, e.g. a
    username that another member holds."""

    code = "invalid"
    kind = Kind.INVALID

    def __init__(self, fields: dict, message=""):
        from django.utils.translation import gettext

        super().__init__(message or gettext("The request has invalid fields."), fields=fields)


class MalformedBody(DomainError):
    """A request body that is not a JSON object this system accepts (``common.parsers``): not
    UTF-8, not JSON, nested too deeply, holding a lone surrogate, ``NaN``/``Infinity``, or not an
    object at the top. The API answers 400 ``parse_error``, as DRF names its own parse errors."""

    code = "parse_error"
    kind = Kind.INVALID


class UnknownFields(DomainError):
    """A write's body names fields the endpoint does not have (a typo, or a field of another
    version): refused, not ignored, so that an app never believes it changed something. ``fields``
    names each one."""

    code = "unknown_field"
    kind = Kind.INVALID


class ReadOnlyFields(DomainError):
    """A write's body names fields that the endpoint shows but does not change (``id``,
    ``username``, ``tier``...): refused, not ignored. ``fields`` names each one."""

    code = "read_only_field"
    kind = Kind.INVALID
