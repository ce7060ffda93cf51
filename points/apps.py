from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PointsConfig(AppConfig):
    name = "points"
    verbose_name = _("Points ledger")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.backends.signals import connection_created

        from points.services._cursor import use_generic_plans

        connection_created.connect(use_generic_plans, dispatch_uid="points.use_generic_plans")
