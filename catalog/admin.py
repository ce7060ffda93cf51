"""The points mall in the admin: categories, products with their stock and coupon pools, and
redemption orders.

Every write of a product, its stock, its codes or a redemption goes through ``catalog.services``:
the product form saves with ``save_product`` (stock and sold are read-only there), new stock
adjustments typed into the product page are applied with ``adjust_stock``, imports go through the
resources in ``catalog.resources``, and redemptions move with ``fulfil``/``complete``/``cancel``.
A service refusal is shown as a form error or a message, never a 500. Categories have no service
(they hold no invariant); saving one invalidates the catalog cache after the commit.

Permissions. Products and categories: the model permissions; import needs add and change. Stock
adjustments: ``add_stockmovement``. Coupon-code import: ``add_couponcode``. Redemptions are never
edited as a form: ``change_redemption`` allows fulfilling and completing them, and
``cancel_redemption`` (created by the staff-groups migration, for customer service) cancelling.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, F, Prefetch, Q
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin, ImportExportModelAdmin
from import_export.formats import base_formats

from catalog import cache, services
from catalog.errors import CatalogError
from catalog.forms import (
    CancelRedemptionForm,
    CategoryForm,
    CouponCodeConfirmImportForm,
    CouponCodeImportForm,
    ProductForm,
    StockAdjustmentForm,
    StockAdjustmentFormSet,
    TrackingNumbersForm,
)
from catalog.models import (
    Category,
    CouponCode,
    Product,
    ProductKind,
    Redemption,
    RedemptionStatus,
    StockMovement,
)
from catalog.resources import CouponCodeResource, ProductResource
from common.admin import AllOrNothingImport, ReadOnlyAdminMixin
from points.errors import LedgerError

LOW_STOCK = 5  # the "low stock" filter: at most this many units left
HISTORY_ROWS = 50  # stock movements shown on a product page (all of them are in their own list)
IMPORT_TEMPLATE = "admin/catalog/import.html"


def _admin_url(model, name, *args, query=None):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)
    return f"{url}?{urlencode(query)}" if query else url


class _Refused(Exception):
    """A service refused part of a change form after the form was valid (a concurrent change):
    raised to roll the whole form back, shown as an error message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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



# --- Categories --------------------------------------------------------------------------------


class ParentFilter(admin.SimpleListFilter):
    title = _("parent category")
    parameter_name = "parent"

    def lookups(self, request, model_admin):
        top = [("none", _("Top level"))]
        return top + [(str(c.pk), c.name) for c in Category.objects.filter(parent__isnull=True)]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(parent__isnull=True)
        if self.value():
            return queryset.filter(parent_id=self.value())
        return queryset


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryForm
    list_display = ("tree_name", "sort_order", "active", "product_count")
    list_filter = ("active", ParentFilter)
    search_fields = ("name", "parent__name")
    fields = ("name", "parent", "sort_order", "active")

    def get_queryset(self, request):
        return (
            super().get_queryset(request)
            .select_related("parent")
            .annotate(product_count=Count("products", distinct=True))
        )

    def get_ordering(self, request):
        # Each parent followed by its children: the parent's position first, then the child's.
        return [Coalesce("parent__sort_order", "sort_order").asc(), Coalesce("parent_id", "id").asc(),
                F("parent_id").asc(nulls_first=True), "sort_order", "id"]

    @admin.display(description=_("category"), ordering="name")
    def tree_name(self, obj):
        return str(obj)

    @admin.display(description=_("products"), ordering="product_count")
    def product_count(self, obj):
        return obj.product_count

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        transaction.on_commit(cache.invalidate)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        transaction.on_commit(cache.invalidate)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        transaction.on_commit(cache.invalidate)


# --- Products ----------------------------------------------------------------------------------


class OnSaleNowFilter(admin.SimpleListFilter):
    title = _("on sale now")
    parameter_name = "on_sale"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.on_sale(timezone.now())
        if self.value() == "no":
            return queryset.off_sale(timezone.now())
        return queryset


class StockLevelFilter(admin.SimpleListFilter):
    title = _("stock")
    parameter_name = "stock_level"

    def lookups(self, request, model_admin):
        return [("low", _("Low (%(count)s or fewer)") % {"count": LOW_STOCK}), ("out", _("Out of stock"))]

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(stock__lte=LOW_STOCK)
        if self.value() == "out":
            return queryset.filter(stock=0)
        return queryset


class StockAdjustmentInline(admin.TabularInline):
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


PRODUCT_FIELDSETS = (
    (None, {"fields": ("name", "kind", "category", "description", "image")}),
    (_("Price"), {"fields": ("points_price", "cash_price")}),
    (_("Stock"), {"fields": ("stock", "sold", "per_member_limit", "recent_movements"),
                  "description": _("Stock changes through the adjustments below, each with a reason.")}),
    (_("Coupon codes"), {"fields": ("coupon_codes",)}),
    (_("Availability"), {"fields": ("active", "visible_tiers", "sale_starts_at", "sale_ends_at",
                                    "sort_order")}),
    (_("Who and when"), {"fields": ("created_at", "updated_at")}),
)


@admin.register(Product)
class ProductAdmin(CatalogImportMixin, ImportExportModelAdmin):
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
                   StockLevelFilter)
    list_select_related = ("category__parent",)
    search_fields = ("name", "description")
    form = ProductForm
    readonly_fields = ("stock", "sold", "coupon_codes", "recent_movements", "created_at", "updated_at")
    fieldsets = PRODUCT_FIELDSETS
    inlines = [StockAdjustmentInline]

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
        return format_html(
            '{}: <b>{}</b> · {}: <b>{}</b> · <a href="{}">{}</a> · <a href="{}">{}</a>',
            gettext("free"), counts["free"], gettext("assigned"), counts["assigned"],
            _admin_url(CouponCode, "changelist", query={"product__id__exact": obj.pk}),
            gettext("see the codes"),
            _admin_url(CouponCode, "import", query={"product": obj.pk}), gettext("import codes"),
        )

    @admin.display(description=_("stock movements"))
    def recent_movements(self, obj):
        """The latest movements, read-only (a table, not an inline: rows added by redemptions
        while the page is open must not upset the form)."""
        if obj is None or obj.pk is None:
            return "-"
        rows = list(obj.stock_movements.select_related("staff").order_by("-id")[:HISTORY_ROWS])
        link = format_html('<a href="{}">{}</a>',
                           _admin_url(StockMovement, "changelist", query={"product__id__exact": obj.pk}),
                           gettext("all stock movements of this product"))
        if not rows:
            return format_html("{} · {}", gettext("No stock movements yet."), link)
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f"{timezone.localtime(m.created_at):%Y-%m-%d %H:%M}", f"{m.delta:+d}", m.stock_after, m.reason,
              m.staff or "-", f"#{m.redemption_id}" if m.redemption_id else "-") for m in rows),
        )
        return format_html(
            '<table class="stock-movements"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table><p>{}</p>",
            gettext("at"), gettext("change"), gettext("stock after"), gettext("reason"), gettext("staff"),
            gettext("redemption"), body, link,
        )

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


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdminMixin, ExportMixin, admin.ModelAdmin):
    """Every stock change, read-only (written by catalog.services only)."""

    formats = [base_formats.CSV, base_formats.XLSX]
    list_display = ("created_at", "product", "delta", "stock_after", "reason", "staff", "redemption")
    list_filter = (("product", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("product", "staff", "redemption__product")
    search_fields = ("product__name", "reason")
    date_hierarchy = "created_at"


    def has_export_permission(self, request):
        return self.has_view_permission(request)


# --- Coupon codes ------------------------------------------------------------------------------


class AssignedFilter(admin.SimpleListFilter):
    title = _("assigned")
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("yes", _("Assigned")), ("no", _("Free"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(redemption__isnull=self.value() == "no")
        return queryset


@admin.register(CouponCode)
class CouponCodeAdmin(ReadOnlyAdminMixin, CatalogImportMixin, ImportExportModelAdmin):
    """The codes of the coupon pools, read-only; codes are added by importing a file."""

    resource_classes = [CouponCodeResource]
    import_form_class = CouponCodeImportForm
    confirm_form_class = CouponCodeConfirmImportForm
    import_permissions = ("add",)
    import_help = _(
        "The file holds one code per row in a “code” column (a single column without a header works "
        "too). Blank, repeated or already imported codes are refused, and then nothing is imported."
    )
    list_display = ("code", "product", "assigned", "redemption", "imported_at", "assigned_at")
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


# --- Redemptions -------------------------------------------------------------------------------


REDEMPTION_FIELDS = (
    (None, {"fields": ("member", "product", "quantity", "points", "cash", "status", "codes_display")}),
    (_("Shipping"), {"fields": ("address", "tracking_number")}),
    (_("Timeline"), {"fields": ("created_at", ("fulfilled_at", "fulfilled_by"),
                                ("completed_at", "completed_by"), "cancelled_at", "cancel_reason")}),
    (_("Ledger"), {"fields": ("key", "entry", "refund_entry")}),
)


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Redemption orders, read-only; staff move them with the actions and the buttons on a
    redemption's page (``catalog.services.fulfil``/``complete``/``cancel``)."""

    change_form_template = "admin/catalog/redemption/change_form.html"
    list_display = ("id", "member", "product", "quantity", "points", "status", "codes_display", "created_at")
    list_display_links = ("id", "product")
    list_filter = ("status", ("product", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("member", "product")
    search_fields = ("member__username", "member__nickname", "member__phone", "member__external_id")
    search_help_text = _("Search by member: username, nickname, phone or shop user id.")
    date_hierarchy = "created_at"
    fieldsets = REDEMPTION_FIELDS
    readonly_fields = [name for _title, options in REDEMPTION_FIELDS for entry in options["fields"]
                       for name in ((entry,) if isinstance(entry, str) else entry)]
    actions = ["fulfil_redemptions", "complete_redemptions", "cancel_redemptions"]

    def get_queryset(self, request):
        codes = Prefetch("codes", queryset=CouponCode.objects.order_by("id"))
        return super().get_queryset(request).prefetch_related(codes)

    @admin.display(description=_("code(s)"))
    def codes_display(self, obj):
        return ", ".join(code.code for code in obj.codes.all()) or "-"

    # Permissions: never edited as a form; moving states has its own permissions.


    def has_fulfil_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.change_redemption")

    def has_cancel_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.cancel_redemption")

    # The transitions, shared by the actions and the buttons.

    def _move(self, request, redemptions, call, done_message) -> int:
        """Apply ``call(redemption)`` to each; refusals become error messages (never a 500)."""
        done = 0
        for redemption in redemptions:
            try:
                call(redemption)
            except (CatalogError, LedgerError) as error:
                self.message_user(request, gettext("#%(id)s: %(reason)s") % {"id": redemption.pk,
                                                                             "reason": error.message},
                                  messages.ERROR)
                continue
            done += 1
            self.log_change(request, redemption, done_message(redemption))
        return done

    def _fulfil(self, request, pairs) -> int:
        def call(redemption):
            tracking = dict(pairs)[redemption]
            services.fulfil(redemption, staff=request.user, tracking_number=tracking)

        def log(redemption):
            tracking = dict(pairs)[redemption]
            if not tracking:
                return gettext("Marked fulfilled.")
            return gettext("Marked fulfilled, tracking number %(number)s.") % {"number": tracking}

        done = self._move(request, [redemption for redemption, _tracking in pairs], call, log)
        if done:
            self.message_user(request, ngettext("Marked %(count)d redemption fulfilled.",
                                                "Marked %(count)d redemptions fulfilled.", done)
                              % {"count": done}, messages.SUCCESS)
        return done

    def _complete(self, request, redemptions) -> int:
        done = self._move(request, redemptions,
                          lambda redemption: services.complete(redemption, staff=request.user),
                          lambda redemption: gettext("Completed."))
        if done:
            self.message_user(request, ngettext("Completed %(count)d redemption.",
                                                "Completed %(count)d redemptions.", done)
                              % {"count": done}, messages.SUCCESS)
        return done

    def _cancel(self, request, redemptions, reason) -> int:
        done = self._move(request, redemptions,
                          lambda redemption: services.cancel(redemption, reason=reason, staff=request.user),
                          lambda redemption: gettext("Cancelled: %(reason)s") % {"reason": reason})
        if done:
            self.message_user(request, ngettext(
                "Cancelled %(count)d redemption; the points and the stock are returned.",
                "Cancelled %(count)d redemptions; the points and the stock are returned.", done,
            ) % {"count": done}, messages.SUCCESS)
        return done

    def _transition_page(self, request, *, title, redemptions, form, submit, action=None, selected=(),
                         back=None):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "redemptions": redemptions,
            "form": form,
            "submit_label": submit,
            "action": action,  # set when the page posts back to the changelist's action
            "selected": selected,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "back_url": back or _admin_url(Redemption, "changelist"),
        }
        return TemplateResponse(request, "admin/catalog/redemption/transition.html", context)

    # Changelist actions.

    @admin.action(description=_("Mark fulfilled (shipped, tracking number)…"), permissions=["fulfil"])
    def fulfil_redemptions(self, request, queryset):
        redemptions = list(queryset.order_by("id"))
        form = TrackingNumbersForm(request.POST if "apply" in request.POST else None, redemptions=redemptions)
        if form.is_bound and form.is_valid():
            self._fulfil(request, form.tracking_numbers())
            return None
        return self._transition_page(request, title=gettext("Mark redemptions fulfilled"), redemptions=[],
                                     form=form, submit=gettext("Mark fulfilled"), action="fulfil_redemptions",
                                     selected=redemptions)

    @admin.action(description=_("Complete"), permissions=["fulfil"])
    def complete_redemptions(self, request, queryset):
        self._complete(request, list(queryset.order_by("id")))

    @admin.action(description=_("Cancel (reason)…"), permissions=["cancel"])
    def cancel_redemptions(self, request, queryset):
        redemptions = list(queryset.order_by("id"))
        form = CancelRedemptionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._cancel(request, redemptions, form.cleaned_data["reason"])
            return None
        return self._transition_page(request, title=gettext("Cancel redemptions"), redemptions=redemptions,
                                     form=form, submit=gettext("Cancel the redemptions"),
                                     action="cancel_redemptions", selected=redemptions)

    # The buttons on a redemption's page.

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view(self.transition_view)
        return [
            path("<int:redemption_id>/move/<slug:operation>/", view, name=f"{prefix}_transition"),
            *super().get_urls(),
        ]

    def transition_view(self, request, redemption_id, operation):
        if operation not in ("fulfil", "complete", "cancel"):
            raise Http404
        allowed = self.has_cancel_permission(request) if operation == "cancel" else \
            self.has_fulfil_permission(request)
        if not allowed:
            raise PermissionDenied
        redemption = self.get_object(request, str(redemption_id))
        if redemption is None:
            raise Http404
        back = _admin_url(Redemption, "change", redemption.pk)
        posted = request.POST if request.method == "POST" else None
        if operation == "fulfil":
            form = TrackingNumbersForm(posted, redemptions=[redemption])
            if posted is not None and form.is_valid():
                self._fulfil(request, form.tracking_numbers())
                return HttpResponseRedirect(back)
            title, submit = gettext("Mark redemption fulfilled"), gettext("Mark fulfilled")
            shown = []
        elif operation == "cancel":
            form = CancelRedemptionForm(posted)
            if posted is not None and form.is_valid():
                self._cancel(request, [redemption], form.cleaned_data["reason"])
                return HttpResponseRedirect(back)
            title, submit = gettext("Cancel redemption"), gettext("Cancel the redemption")
            shown = [redemption]
        else:
            form = None
            if posted is not None:
                self._complete(request, [redemption])
                return HttpResponseRedirect(back)
            title, submit = gettext("Complete redemption"), gettext("Complete")
            shown = [redemption]
        return self._transition_page(request, title=title, redemptions=shown, form=form, submit=submit,
                                     back=back)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            buttons = []  # (label, url)
            if obj.status == RedemptionStatus.CREATED and self.has_fulfil_permission(request):
                buttons.append((gettext("Mark fulfilled…"), self._transition_url(obj, "fulfil")))
            if obj.status == RedemptionStatus.FULFILLED and self.has_fulfil_permission(request):
                buttons.append((gettext("Complete…"), self._transition_url(obj, "complete")))
            if obj.status == RedemptionStatus.CREATED and self.has_cancel_permission(request):
                buttons.append((gettext("Cancel…"), self._transition_url(obj, "cancel")))
            context["redemption_buttons"] = buttons
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _transition_url(self, obj, operation):
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_transition",
                       args=[obj.pk, operation], current_app=self.admin_site.name)

