"""API throttles (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` holds every rate).

Every class here reads its rate when a request arrives, not when the class is defined as DRF's
``SimpleRateThrottle`` does, so a changed setting (a test, an environment override read at
start) takes effect. A scope without a rate is not throttled. Counters live in the default cache;
with Redis down requests are let through rather than refused.

Client addresses come from ``REMOTE_ADDR`` unless ``NUM_PROXIES`` says how many proxies of ours
stand in front: an ``X-Forwarded-For`` header is the client's to forge otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from django.conf import settings
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class MemberRateThrottle(_SettingsRateThrottle):
    """Per signed-in member (the default for every API view); anonymous requests pass."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AnonRateThrottle(_SettingsRateThrottle):
    """Per client address, for anonymous requests to the public endpoints."""

    scope = "anon"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(_SettingsRateThrottle):
    """Login attempts per submitted username, from any address: slows guessing one password.

    Usernames are compared case-folded and hashed, so the key is short and variants of one
    name share a counter. A request without a username is left to the view's 400.
    """

    scope = "login_username"

    def get_cache_key(self, request, view):
        data = request.data
        username = data.get("username") if isinstance(data, Mapping) else None
        if not isinstance(username, str) or not username:
            return None
        ident = hashlib.sha256(username.strip().casefold().encode("utf-8", "replace")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginIPThrottle(_SettingsRateThrottle):
    """Login attempts per client address, whatever the username: slows trying many accounts."""

    scope = "login_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RegisterThrottle(LoginIPThrottle):
    """Sign-ups per client address."""

    scope = "register"


def client_address(request) -> str:
    """The client address every throttle and django-axes count by (``AXES_CLIENT_IP_CALLABLE``):
    ``REMOTE_ADDR``, or the trusted hop of ``X-Forwarded-For`` behind ``NUM_PROXIES`` proxies."""
    return LoginIPThrottle().get_ident(request)


def sign_in_locked(request) -> bool:
    """Whether django-axes refused this sign-in for the failures before it. The failure that
    reaches ``AXES_FAILURE_LIMIT`` is answered as the wrong password it was: five wrong passwords
    read "not correct" five times, and every attempt after them, the right password included, is
    refused for ``AXES_COOLOFF_TIME``."""
    return (bool(getattr(request, "axes_locked_out", False))
            and getattr(request, "axes_failures_since_start", 0) != settings.AXES_FAILURE_LIMIT)
