"""Argument checks shared by every posting: amounts, keys, texts and times."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from points.errors import InvalidAmount, InvalidArgument

MAX_POINTS = 10**9


def _check_points(points) -> int:
    # bool is an int subclass and floats/strings/Decimals are refused outright: no silent rounding.
    if type(points) is not int or not 0 < points <= MAX_POINTS:
        raise InvalidAmount(f"Points must be an integer from 1 to {MAX_POINTS}, not {points!r}.")
    return points


def _check_key(key) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > 180:
        raise InvalidArgument("key must be a non-empty string of at most 180 characters.")
    return key


def _check_text(name: str, value, *, required: bool, max_length: int) -> str:
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
