"""Test-run entry point: start the embedded PostgreSQL when DATABASE_URL is unset, then set up
Django (pytest-django's own pytest_configure runs after this one and finds it ready)."""

import os


def pytest_configure(config):
    os.environ.setdefault("DEBUG", "1")
    from mall.embedded import ensure_database

    ensure_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    import django

    django.setup()
