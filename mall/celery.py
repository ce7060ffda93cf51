"""The celery app: ``celery -A mall worker`` and ``celery -A mall beat`` load this module.

Beat uses django-celery-beat's database scheduler, so staff edit schedules in the admin; the
periodic tasks themselves are created by a data migration (points/migrations).
"""

import os

from celery import Celery

from mall.embedded import ensure_database

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
# The worker and beat are entry points of their own: they need the database before Django loads.
ensure_database()

app = Celery("mall")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
