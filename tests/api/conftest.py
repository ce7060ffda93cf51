"""Fixtures of the API tests: clients that speak English, a member's bearer token, fresh
throttle counters (they live in the cache) and adjustable rates."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def token_for():
    from rest_framework_simplejwt.tokens import RefreshToken

    def make(member) -> str:
        return str(RefreshToken.for_user(member).access_token)

    return make


@pytest.fixture
def member_api(member, token_for):
    """A client signed in as ``member`` with a bearer token."""
    from rest_framework.test import APIClient

    return APIClient(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")


@pytest.fixture
def throttle_rates(settings):
    """``throttle_rates(login_ip="2/min")``: change some API rates for one test."""

    def change(**rates):
        framework = dict(settings.REST_FRAMEWORK)
        framework["DEFAULT_THROTTLE_RATES"] = {**framework["DEFAULT_THROTTLE_RATES"], **rates}
        settings.REST_FRAMEWORK = framework

    return change


@pytest.fixture
def member(db):
    """A member who joined a year ago (``established``): the redemption tests here price at list
    prices. The welcome offer's own tests make new members."""
    from tests.factories import MemberFactory

    return MemberFactory(established=True)
