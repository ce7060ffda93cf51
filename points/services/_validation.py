"""Argument checks shared by every posting: amounts, keys, texts and times.

``validate_key`` and ``validate_text`` are public (``points.services``): the points mall checks its
own keys and texts with them, raising its own error in their place.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from points.errors import InvalidAmount, InvalidArgument

MAX_POINTS = 10**9
# A caller's key; the key columns (200) leave room for the suffixes of derived entries (#release).
MAX_KEY = 180


def _check_points(points) -> int:
    # bool is an int subclass and floats/strings/Decimals are refused outright: no silent rounding.
    if type(points) is not int or not 0 < points <= MAX_POINTS:
        raise InvalidAmount(f"Points must be an integer from 1 to {MAX_POINTS}, not {points!r}.")
    return points


def validate_key(key: object, *, name: str = "key", max_length: int = MAX_KEY) -> str:
    """``key`` when it is a string of 1 to ``max_length`` characters, not only blanks; else
    ``InvalidArgument``."""
    if not isinstance(key, str) or not key.strip() or len(key) > max_length:
        raise InvalidArgument(f"{name} must be a non-empty string of at most {max_length} characters.")
    return key


def validate_text(name: str, value: object, *, required: bool, max_length: int) -> str:
    """``value`` (None as "") when it is a string of at most ``max_length`` characters, not only
    blanks if ``required``; else ``InvalidArgument``. Returned as given, not stripped."""
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > max_length or (required and not value.strip()):
        raise InvalidArgument(
            f"{name} must be {'a non-empty' if required else 'a'} string of at most "
            f"{max_length} characters."
        )
    return value


def _check_when(name: str, value) -> None:
    if value is not None and not (isinstance(value, datetime) and timezone.is_aware(value)):
        raise InvalidArgument(f"{name} must be a timezone-aware datetime.")
