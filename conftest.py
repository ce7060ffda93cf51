"""Test-run entry point: start the embedded PostgreSQL when DATABASE_URL is unset, then set up
Django (pytest-django's own pytest_configure runs after this one and finds it ready)."""

import atexit
import os
import shutil
import tempfile


def pytest_configure(config):
    os.environ.setdefault("DEBUG", "1")
    # Uploads made by tests (product pictures, badge icons) go to a directory of their own.
    if "MEDIA_ROOT" not in os.environ:
        media = tempfile.mkdtemp(prefix="mall-test-media-")
        atexit.register(shutil.rmtree, media, ignore_errors=True)
        os.environ["MEDIA_ROOT"] = media
    from mall.embedded import ensure_database

    ensure_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    import django

    django.setup()
