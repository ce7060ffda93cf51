"""The one JSON parser of every endpoint that takes a body (issue 8 §4).

``parse`` is what the member API's DRF views (through :class:`JSONParser`, the
``DEFAULT_PARSER_CLASSES``) and the shop's signed hooks and checkout (``parse_object``, on the raw
bytes they have verified) both call, so the two refuse the same bodies the same way: a
:class:`common.errors.MalformedBody`, rendered as a 400 ``parse_error``. Refused:

* bytes that are not UTF-8 (whatever ``charset`` the ``Content-Type`` claims: JSON is UTF-8);
* text that is not JSON (and, by ``parse_object``, a top level that is not an object; the member
  API's serializers refuse one as an ``invalid`` field error, as they always have);
* ``NaN``, ``Infinity`` and ``-Infinity`` (Python's ``json`` reads them, JSON has no such numbers);
* an integer of more digits than Python converts (4,300), which ``json`` refuses with a ValueError;
* nesting deeper than ``MAX_DEPTH`` (no body here needs more than 5 levels; ``json`` itself gives
  up with a RecursionError near 1,000, which must never escape as a 500);
* a lone surrogate (``"\\ud800"``) in any key or string: it cannot be encoded as UTF-8, so it could
  be neither stored nor rendered back in an error message.

Numbers with a fraction or an exponent are ``Decimal`` (exact, for money); integers are ``int``.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers

from common.errors import MalformedBody

MAX_DEPTH = 32
SURROGATES = re.compile("[\ud800-\udfff]")


def parse(body: bytes):
    """``body`` as a JSON value, or :class:`MalformedBody` saying what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody(_("The body is not valid UTF-8.")) from None
    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedBody(_too_deep()) from None
    except json.JSONDecodeError as exc:
        raise MalformedBody(_("The body is not valid JSON (line %(line)d, column %(column)d).")
                            % {"line": exc.lineno, "column": exc.colno}) from None
    except ValueError:  # an integer longer than int() converts
        raise MalformedBody(_("The body is not valid JSON.")) from None
    _check_nesting_and_text(value)
    return value


def parse_object(body: bytes) -> dict:
    """``parse`` for the shop's endpoints, whose bodies are always a JSON object."""
    value = parse(body)
    if not isinstance(value, dict):
        raise MalformedBody(_("The body must be a JSON object."))
    return value


def _refuse_constant(name: str):
    raise MalformedBody(_("NaN and Infinity are not JSON numbers."))


def _too_deep() -> str:
    return _("The body is nested more than %(max)d levels deep.") % {"max": MAX_DEPTH}


def _check_nesting_and_text(value) -> None:
    # Iterative, so that a body just shallow enough for ``json`` cannot exhaust the stack here.
    if isinstance(value, str):
        if not value.isascii() and SURROGATES.search(value):
            raise _lone_surrogate()
        return
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MalformedBody(_too_deep())
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and not key.isascii() and SURROGATES.search(key):
                raise _lone_surrogate()
            if isinstance(item, str):
                if not item.isascii() and SURROGATES.search(item):
                    raise _lone_surrogate()
            elif isinstance(item, dict | list):
                stack.append((item, depth + 1))


def _lone_surrogate() -> MalformedBody:
    return MalformedBody(_("The body holds a lone surrogate, which is not text."))


class JSONParser(parsers.JSONParser):
    """``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``: DRF's JSON parser with ``parse_object``'s
    rules; a refused body is DRF's ``ParseError`` (400 ``parse_error``) with its message."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return parse(stream.read())
        except MalformedBody as exc:
            raise exceptions.ParseError(exc.message, code=exc.code) from None
