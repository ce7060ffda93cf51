"""Strict DRF fields: a client that sends the wrong JSON type is told, never silently coerced."""

from __future__ import annotations

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


def money_field(**kwargs) -> serializers.DecimalField:
    """Yuan with 2 decimal places (at most 10 digits before the point)."""
    return serializers.DecimalField(max_digits=12, decimal_places=2, **kwargs)
