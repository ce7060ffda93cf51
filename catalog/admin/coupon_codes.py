"""The coupon-code pools in the admin: read-only lists, codes added by importing a file into one
coupon product (``catalog.resources.CouponCodeResource`` -> ``import_coupon_codes``)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from catalog.admin.base import CatalogImportMixin
from catalog.admin.filters import AssignedFilter
from catalog.forms import (
    CouponCodeConfirmImportForm,
    CouponCodeImportForm,
)
from catalog.models import (
    CouponCode,
)
from catalog.resources import CouponCodeResource
from common.admin import ImportExportAdmin, ReadOnlyAdminMixin


@admin.register(CouponCode)
class CouponCodeAdmin(ReadOnlyAdminMixin, CatalogImportMixin, ImportExportAdmin):
    """The codes of the coupon pools, read-only; codes are added by importing a file."""

    resource_classes = [CouponCodeResource]
    import_form_class = CouponCodeImportForm
    confirm_form_class = CouponCodeConfirmImportForm
    import_permissions = ("add",)
    import_help = _(
        "The file holds one code per row in a “code” column (a single column without a header works "
        "too). Blank, repeated or already imported codes are refused, and then nothing is imported."
    )
    list_display = ("code", "product", "assigned", "redemption", "imported_at", "assigned_at", "valid_until",
                    "used_at")
    list_filter = (("product", admin.RelatedOnlyFieldListFilter), AssignedFilter)
    list_select_related = ("product", "redemption")
    search_fields = ("code", "product__name")
    ordering = ("id",)  # the order they were imported in
    skip_admin_log = True  # one log entry on the product instead of one per code

    @admin.display(description=_("assigned"), boolean=True)
    def assigned(self, obj):
        return obj.redemption_id is not None


    def get_import_form_initial(self, request):
        initial = super().get_import_form_initial(request)
        if request.GET.get("product"):
            initial["product"] = request.GET["product"]
        return initial

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["product"] = import_form.cleaned_data["product"].pk
        return initial

    def get_import_resource_kwargs(self, request, **kwargs):
        form = kwargs.pop("form", None)
        kwargs = super().get_import_resource_kwargs(request, **kwargs)
        if form is not None and getattr(form, "cleaned_data", None):
            kwargs["product"] = form.cleaned_data.get("product")
        return kwargs

    def process_dataset(self, dataset, form, request, **kwargs):
        result = super().process_dataset(dataset, form, request, **kwargs)
        result.catalog_product = form.cleaned_data.get("product")
        return result

    def add_success_message(self, result, request):
        product = getattr(result, "catalog_product", None)
        count = result.totals["new"]
        self.message_user(request, ngettext(
            "Imported %(count)d coupon code into “%(product)s”.",
            "Imported %(count)d coupon codes into “%(product)s”.", count,
        ) % {"count": count, "product": product}, messages.SUCCESS)

    def generate_log_entries(self, result, request):
        product = getattr(result, "catalog_product", None)
        count = result.totals["new"]
        if product is None or not count:
            return
        LogEntry.objects.log_actions(
            request.user.pk, [product], CHANGE,
            change_message=gettext("Imported %(count)d coupon codes.") % {"count": count},
            single_object=True,
        )

