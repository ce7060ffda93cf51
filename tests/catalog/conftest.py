"""Fixtures shared by the catalog tests."""

import pytest


@pytest.fixture
def english(settings):
    """Exact texts in English: stored reasons follow LANGUAGE_CODE, messages the active language.
    Modules that assert English texts use it for every test (``usefixtures``)."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def member(db):
    """A member who joined a year ago (``established``): the redemption tests here price at list
    prices. The welcome offer's own tests make new members."""
    from tests.factories import MemberFactory

    return MemberFactory(established=True)
