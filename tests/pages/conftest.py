"""Fixtures of the member-page tests: English clients, fresh caches (login counters and the
catalog's two cache levels live there), products built through the catalog services."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_caches():
    from django.core.cache import cache

    from catalog import cache as catalog_cache

    cache.clear()
    catalog_cache.clear_local()
    yield
    cache.clear()
    catalog_cache.clear_local()


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
def refresh_catalog():
    """Forget cached catalog reads (the services invalidate on commit, which a test never does)."""
    from django.core.cache import cache

    from catalog import cache as catalog_cache

    def refresh():
        cache.clear()
        catalog_cache.clear_local()

    return refresh


@pytest.fixture
def member(db):
    """A member who joined a year ago (``established``): the redemption tests here price at list
    prices. The welcome offer's own tests make new members."""
    from tests.factories import MemberFactory

    return MemberFactory(established=True)
