from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = _("Mall")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Bind @shared_task to our app in every process (web included), so .delay() uses our broker.
        from mall.celery import app  # noqa: F401
