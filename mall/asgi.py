"""ASGI entry point."""

import os

from mall.embedded import ensure_database

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
ensure_database()

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
