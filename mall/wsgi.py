"""WSGI entry point (gunicorn mall.wsgi)."""

import os

from common.server_banner import hide_server_banner
from mall.embedded import ensure_database

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
ensure_database()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
hide_server_banner()  # gunicorn's and runserver's ``Server`` header (common/server_banner.py)
