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
