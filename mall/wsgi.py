"""WSGI entry point (gunicorn mall.wsgi)."""

import os

from mall.embedded import ensure_database

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
ensure_database()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
