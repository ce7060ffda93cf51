"""API authentication: JWT bearer tokens for the apps, the session for the browsable API.

Both record the member's last activity (``Member.last_active_at``, read by the inactivity
campaign), at most once per ``ACTIVITY_RESOLUTION``: the user row these classes load is fresh for
each request, so a recent time costs no query, and an older one costs a single conditional
``UPDATE`` that a concurrent request makes a no-op.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from rest_framework.authentication import SessionAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication

ACTIVITY_RESOLUTION = timedelta(minutes=5)


def touch_last_active(member, *, now=None) -> bool:
    """Set ``member.last_active_at`` to ``now`` unless it is less than ``ACTIVITY_RESOLUTION``
    old; returns whether the row was written."""
    now = now or timezone.now()
    last = member.last_active_at
    if last is not None and now - last < ACTIVITY_RESOLUTION:
        return False
    written = (
        get_user_model().objects.filter(pk=member.pk)
        .filter(Q(last_active_at__isnull=True) | Q(last_active_at__lt=now - ACTIVITY_RESOLUTION))
        .update(last_active_at=now)
    )
    member.last_active_at = now
    return bool(written)


class MemberJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <access token>``; an expired or forged token is a 401."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            touch_last_active(result[0])
        return result


class MemberSessionAuthentication(SessionAuthentication):
    """The signed-in session (browsable API, pages' fetches); CSRF-checked as usual."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            touch_last_active(result[0])
        return result

