import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """The jobs' tests make many members; argon2 per member would be most of their time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
