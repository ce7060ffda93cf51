"""What the catalog's admin modules share: admin URLs and the CSV/XLSX import mixin."""

from __future__ import annotations

from django.contrib.auth import get_permission_codename
from django.urls import reverse
from django.utils.http import urlencode
from import_export.formats import base_formats

from common.admin import AllOrNothingImport

IMPORT_TEMPLATE = "admin/catalog/import.html"


def admin_url(model, name, *args, query=None) -> str:
    """The admin URL ``name`` (changelist, change, import...) of ``model``, with a query string."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)
    return f"{url}?{urlencode(query)}" if query else url



class CatalogImportMixin(AllOrNothingImport):
    """CSV/XLSX import and export following rules.admin: a dry-run preview first, the confirm
    step rolls the whole file back on any invalid row, and import needs add + change."""

    formats = [base_formats.CSV, base_formats.XLSX]
    import_template_name = IMPORT_TEMPLATE
    import_permissions = ("add", "change")
    import_help = ""

    def has_import_permission(self, request):
        opts = self.opts
        return all(
            request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in self.import_permissions
        )

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_import_context_data(self, **kwargs):
        context = super().get_import_context_data(**kwargs)
        context["import_help"] = self.import_help
        return context

