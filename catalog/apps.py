from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Catalog")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from rules.tiers import register_usage

        # Publishing a rule set that drops a tier code products are shown to is refused.
        register_usage("products", _("%(count)s product(s)"), _products_per_tier)


def _products_per_tier(codes):
    from catalog.models import Product

    return {code: Product.objects.filter(visible_tiers__contains=[code]).count() for code in codes}
