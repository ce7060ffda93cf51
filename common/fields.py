"""Strict DRF fields: a client that sends the wrong JSON type is told, never silently coerced.

Every body field of the member API, the shop's hooks and its checkout is one of these, so the
same wrong input is refused the same way wherever it is sent: DRF's own fields turn ``0`` or
``NaN`` into the text ``"0"``/``"nan"``, ``"2"`` into an integer, ``"yes"`` into ``True`` and
read full-width digits (``"１００"``) as money.
"""

from __future__ import annotations

import re
from decimal import Decimal

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A ``CharField`` that takes only strings: DRF's would turn ``0`` or ``1.5`` into text, so a
    client sending the wrong type would not be told."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            # As sent, before trimming: the schema's maxLength is about the text the client sends.
            self.fail("max_length", max_length=self.max_length, length=len(data))
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: ``"100"``, ``100.0`` and ``true`` are field errors, not points."""

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only: DRF's would also take ``1``, ``"yes"`` and ``"on"``."""

    def to_internal_value(self, data):
        if type(data) is not bool:
            self.fail("invalid")
        return data


# ASCII digits only: ``str.isdigit`` and ``Decimal`` also read other scripts' digits.
ASCII_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


class StrictMoneyField(serializers.DecimalField):
    """An amount as a JSON number (``88``, or ``88.00`` parsed exact by ``common.parsers``) or
    an ASCII decimal string (``"88.00"``, ``"-1.5"``). Refused as a field error: full-width digits
    (``"１００"``), exponents and spaces in a string (``"1e2"``, ``" 88"``), ``"NaN"``, booleans and
    binary floats (inexact: no parser here makes them)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not (
            isinstance(data, int | Decimal)
            or (isinstance(data, str) and ASCII_DECIMAL.fullmatch(data))
        ):
            self.fail("invalid")
        return super().to_internal_value(data)


def money_field(**kwargs) -> StrictMoneyField:
    """Yuan with 2 decimal places (at most 10 digits before the point)."""
    return StrictMoneyField(max_digits=12, decimal_places=2, **kwargs)
