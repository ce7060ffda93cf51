"""Products in the admin, with their stock and coupon pool, and the read-only list of stock
movements.

The product form saves with ``catalog.services.save_product`` (stock and sold are read-only
there); new stock adjustments typed into the product page are applied with ``adjust_stock``; a
refusal after the form was valid rolls the whole page back and is shown as a message. The coupon
pool and the latest movements on the page are rendered from templates under
``templates/admin/catalog/product/``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.formats import base_formats
from unfold.admin import TabularInline

from catalog import services
from catalog.admin.base import CatalogImportMixin, admin_url
from catalog.admin.filters import OnSaleNowFilter, StockLevelFilter
from catalog.errors import CatalogError
from catalog.forms import (
    ProductForm,
    ProductImageForm,
    ProductImageFormSet,
    StockAdjustmentForm,
    StockAdjustmentFormSet,
)
from catalog.models import (
    CouponCode,
    Product,
    ProductImage,
    ProductKind,
    StockMovement,
)
from catalog.resources import ProductResource
from common.admin import ExportAdmin, ImportExportAdmin, ReadOnlyAdminMixin

HISTORY_ROWS = 50  # stock movements shown on a product page (all of them are in their own list)


class _Refused(Exception):
    """A service refused part of a change form after the form was valid (a concurrent change):
    raised to roll the whole form back, shown as an error message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message



class StockAdjustmentInline(TabularInline):
    """New stock adjustments, typed as (change, reason) and applied by ``adjust_stock``."""

    model = StockMovement
    form = StockAdjustmentForm
    formset = StockAdjustmentFormSet
    fields = ("delta", "reason")
    extra = 1
    can_delete = False
    verbose_name = _("stock adjustment")
    verbose_name_plural = _("add stock adjustments")

    def get_queryset(self, request):
        return super().get_queryset(request).none()  # only new rows; the history is below

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ProductImageInline(TabularInline):
    """The product's pictures: upload several at once, tick the cover, delete. Applied by
    ``catalog.services`` (``add_image`` makes the thumbnails); a picture cannot be replaced in
    place (delete it and upload another)."""

    model = ProductImage
    form = ProductImageForm
    formset = ProductImageFormSet
    fields = ("preview", "image", "is_cover")
    readonly_fields = ("preview",)
    extra = 3
    verbose_name = _("image")
    verbose_name_plural = _("images")

    @admin.display(description=_("preview"))
    def preview(self, obj):
        if obj is None or not obj.pk or not obj.thumbnail_400:
            return "-"
        return format_html('<img src="{}" alt="" width="120" height="{}">', obj.thumbnail_400.url,
                           obj.height_at(120))


PRODUCT_FIELDSETS = (
    (None, {"fields": ("name", "kind", "category", "description")}),
    (_("Price"), {"fields": ("points_price", "cash_price")}),
    (_("Stock"), {"fields": ("stock", "sold", "per_member_limit", "recent_movements"),
                  "description": _("Stock changes through the adjustments below, each with a reason.")}),
    (_("Coupon codes"), {"fields": ("coupon_codes", "coupon_valid_days", "usage_instructions")}),
    (_("Availability"), {"fields": ("active", "visible_tiers", "sale_starts_at", "sale_ends_at",
                                    "sort_order")}),
    (_("Supply"), {"fields": ("supplier", "supplier_sku")}),
    (_("Goods channel"), {"fields": ("channel", "channel_sku", "stock_from_channel", "image_url"),
                    "description": _("A channel's import writes the name, description, image URL, "
                                     "category and cash price; with stock from the channel, its "
                                     "stock sync overwrites the stock.")}),
    (_("Who and when"), {"fields": ("created_at", "updated_at")}),
)


@admin.register(Product)
class ProductAdmin(CatalogImportMixin, ImportExportAdmin):
    resource_classes = [ProductResource]
    import_help = _(
        "Rows are matched by the id column: a row with an id updates that product, a row with an "
        "empty id creates a product. Write the category as “parent / child”. The stock column sets "
        "the initial stock of new products only; change the stock of existing products with stock "
        "adjustments. The sold column is ignored. Export the products first to get a template."
    )
    list_display = ("name", "kind", "category", "points_price", "cash_price", "stock", "sold", "active",
                    "sale_window", "on_sale")
    list_display_links = ("name",)
    list_filter = ("kind", ("category", admin.RelatedFieldListFilter), "active", OnSaleNowFilter,
                   StockLevelFilter, ("channel", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("category__parent",)
    search_fields = ("name", "description", "channel_sku")
    form = ProductForm
    readonly_fields = ("stock", "sold", "coupon_codes", "recent_movements", "created_at", "updated_at")
    fieldsets = PRODUCT_FIELDSETS
    inlines = [ProductImageInline, StockAdjustmentInline]

    # Columns.

    @admin.display(description=_("sale window"))
    def sale_window(self, obj):
        if obj.sale_starts_at is None and obj.sale_ends_at is None:
            return "-"

        def local(moment):
            return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "…"

        return f"{local(obj.sale_starts_at)} – {local(obj.sale_ends_at)}"

    @admin.display(description=_("on sale now"), boolean=True)
    def on_sale(self, obj):
        return obj.is_on_sale(timezone.now())

    @admin.display(description=_("coupon codes"))
    def coupon_codes(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        counts = obj.codes.aggregate(free=Count("pk", filter=Q(redemption__isnull=True)),
                                     assigned=Count("pk", filter=Q(redemption__isnull=False)))
        if obj.kind != ProductKind.COUPON and not (counts["free"] or counts["assigned"]):
            return gettext("Only coupon products have a code pool.")
        return render_to_string("admin/catalog/product/coupon_codes.html", {
            **counts,
            "codes_url": admin_url(CouponCode, "changelist", query={"product__id__exact": obj.pk}),
            "import_url": admin_url(CouponCode, "import", query={"product": obj.pk}),
        })

    @admin.display(description=_("stock movements"))
    def recent_movements(self, obj):
        """The latest movements, read-only (a table, not an inline: rows added by redemptions
        while the page is open must not upset the form)."""
        if obj is None or obj.pk is None:
            return "-"
        return render_to_string("admin/catalog/product/stock_movements.html", {
            "movements": obj.stock_movements.select_related("staff").order_by("-id")[:HISTORY_ROWS],
            "all_url": admin_url(StockMovement, "changelist", query={"product__id__exact": obj.pk}),
        })

    # Permissions: a product with history is deactivated, never deleted.

    def has_delete_permission(self, request, obj=None):
        return False

    # Saving: through catalog.services.

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (_Refused, CatalogError) as error:
            # Refused after the form was valid (e.g. stock taken by redemptions meanwhile):
            # the admin's transaction rolled everything back.
            self.message_user(request, gettext("Nothing was saved: %(reason)s") % {"reason": error.message},
                              messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        services.save_product(obj, staff=request.user)

    def save_formset(self, request, form, formset, change):
        if isinstance(formset, ProductImageFormSet):
            return self._save_images(form.instance, formset)
        if not isinstance(formset, StockAdjustmentFormSet):
            return super().save_formset(request, form, formset, change)
        movements = []
        for _form, delta, reason in formset.adjustments():
            try:
                movements.append(services.adjust_stock(form.instance, delta, reason=reason,
                                                       staff=request.user))
            except CatalogError as error:
                raise _Refused(error.message) from error
        formset.new_objects, formset.changed_objects, formset.deleted_objects = movements, [], []
        return None

    @staticmethod
    def _save_images(product, formset):
        added, changed, deleted = [], [], []
        cover = None
        for image_form in formset.forms:
            if not image_form.has_changed() and not image_form.instance.pk:
                continue
            if not image_form.cleaned_data:
                continue
            image = image_form.instance
            try:
                if image.pk and formset._should_delete_form(image_form):
                    services.remove_image(image)
                    deleted.append(image)
                elif not image.pk:
                    upload = image_form.cleaned_data.get("image")
                    if upload:
                        added.append(services.add_image(
                            product, upload, cover=bool(image_form.cleaned_data.get("is_cover"))))
                elif "is_cover" in image_form.changed_data and image_form.cleaned_data["is_cover"]:
                    cover = image
            except CatalogError as error:
                raise _Refused(error.message) from error
        if cover is not None:
            changed.append((services.set_cover(cover), ["is_cover"]))
        formset.new_objects, formset.changed_objects, formset.deleted_objects = added, changed, deleted
        return None



@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdminMixin, ExportAdmin):
    """Every stock change, read-only (written by catalog.services only)."""

    formats = [base_formats.CSV, base_formats.XLSX]
    list_display = ("created_at", "product", "delta", "stock_after", "reason", "staff", "redemption",
                    "receipt")
    list_filter = (("product", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("product", "staff", "redemption__product", "receipt")
    search_fields = ("product__name", "reason")
    date_hierarchy = "created_at"


    def has_export_permission(self, request):
        return self.has_view_permission(request)

