"""Fixtures of the inbox tests: English page and API clients signed in as ``member``, fresh
throttle counters (they live in the cache)."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def client():
    """An anonymous client that asks for English (the site's default is Simplified Chinese)."""
    from django.test import Client

    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def member_client(member):
    from django.test import Client

    c = Client(HTTP_ACCEPT_LANGUAGE="en")
    c.force_login(member)
    return c


@pytest.fixture
def api_for():
    """``api_for(member, language="en")``: an API client with ``member``'s bearer token."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    def make(member, language="en"):
        token = str(RefreshToken.for_user(member).access_token)
        return APIClient(HTTP_ACCEPT_LANGUAGE=language, HTTP_AUTHORIZATION=f"Bearer {token}")

    return make


@pytest.fixture
def member_api(member, api_for):
    return api_for(member)
