"""API authentication: JWT bearer tokens for the apps, the session for the browsable API.

Tokens are read as ``MemberAccessToken`` (``SIMPLE_JWT["AUTH_TOKEN_CLASSES"]``) and refreshed as
``MemberRefreshToken``: besides simplejwt's checks (signature, expiry, type), their ``user_id`` claim
must be a member id, or the token is not valid (401 ``token_not_valid``). simplejwt would hand any
claim to ``Member.objects.get(id=...)``, where ``"abc"`` or ``[1]`` is a ValueError (a 500), and
``true`` is member 1. Only our ``SECRET_KEY`` signs tokens, so such a claim means a bug or a leaked
key: refused all the same.

Revocation. A token issued before the member's ``tokens_valid_after`` (set by
``mall.services.accounts.revoke_tokens``: a password change, an account closing) is refused with a
401 ``token_revoked``, access and refresh tokens alike. "Issued" is the ``auth_time`` claim, the
sign-in's time to the microsecond, which every token of one sign-in carries (refreshed ones too;
``iat`` has whole seconds only, so a sign-in just after a revocation would look older than it);
a token without one is judged by its ``iat``. The refresh tokens are blacklisted as well
(simplejwt's token_blacklist), and each refresh blacklists the one it used
(``ROTATE_REFRESH_TOKENS``).

Both record the member's last activity (``Member.last_active_at``, read by the inactivity
campaign), at most once per ``ACTIVITY_RESOLUTION``: the user row these classes load is fresh for
each request, so a recent time costs no query, and an older one costs a single conditional
``UPDATE`` that a concurrent request makes a no-op.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

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


def is_member_id(value) -> bool:
    """A ``user_id`` claim naming a member: the text of a positive integer, as simplejwt's
    ``for_user`` writes it (``"42"``), or a JSON integer; never a boolean."""
    if type(value) is int:
        return value >= 1
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19


AUTH_TIME_CLAIM = "auth_time"


class TokenRevoked(exceptions.AuthenticationFailed):
    default_detail = _("This token was revoked (a password change or a sign-out everywhere). "
                       "Please sign in again.")
    default_code = "token_revoked"


def issued_before_revocation(payload: dict, member) -> bool:
    """Whether a token with ``payload`` was issued before ``member.tokens_valid_after``."""
    valid_after = getattr(member, "tokens_valid_after", None)
    if valid_after is None:
        return False
    issued = payload.get(AUTH_TIME_CLAIM)
    if type(issued) not in (int, float):
        issued = payload.get("iat")
    if type(issued) not in (int, float):
        return True  # no issue time: it cannot show it is younger than the revocation
    return issued < valid_after.timestamp()


class MemberIdClaim:
    """Token mixin: a present ``user_id`` claim must be a member id (``is_member_id``). A missing
    one is left to simplejwt (401 ``token_not_valid`` on use)."""

    def verify(self):
        super().verify()
        claim = jwt_settings.USER_ID_CLAIM
        if claim in self.payload and not is_member_id(self.payload[claim]):
            raise TokenError(_("Token has no valid member id"))


class MemberAccessToken(MemberIdClaim, AccessToken):
    pass


class MemberRefreshToken(MemberIdClaim, RefreshToken):
    """A sign-in's refresh token, with its ``auth_time`` (copied into its access tokens and kept
    through rotation)."""

    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token[AUTH_TIME_CLAIM] = time.time()
        return token


class MemberJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <access token>``; an expired, forged or revoked token is a 401."""

    def get_user(self, validated_token):
        member = super().get_user(validated_token)
        if issued_before_revocation(validated_token.payload, member):
            raise TokenRevoked()
        return member

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

