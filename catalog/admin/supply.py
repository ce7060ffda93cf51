"""Suppliers, purchase orders and receipts in the admin (issue 15), for the catalog manager.

- Suppliers: a plain form (a supplier holds no invariant but its CHECK constraints), with the
  supplier's KPIs over a chosen period on its page and a KPI list of every supplier
  (``suppliers/kpis/``, period chooser, CSV) (``catalog.supplier_kpis``).
- Purchase orders are never edited as a form: a new order is made on its own page through
  ``purchasing.create_purchase_order``; on an order's page the buttons (POST only) accept a
  suggestion, send or cancel it, and the receive page records a delivery (``purchasing.receive``),
  each refusal a message. A suggestion's reasoning is shown line by line.
- Receipts are read-only.

Permissions: ``add_purchaseorder`` makes orders, ``change_purchaseorder`` moves them,
``add_receipt`` receives; the views are the model view permissions (the auditor has those).
"""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from unfold.admin import TabularInline

from catalog.admin.base import admin_url
from catalog.errors import CatalogError
from catalog.models import (
    Product,
    ProductKind,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    Receipt,
    ReceiptLine,
    Supplier,
)
from catalog.services import purchasing
from catalog.supplier_kpis import supplier_kpis
from common.admin import ModelAdmin, ReadOnlyAdminMixin

DEFAULT_KPI_DAYS = 90
MAX_KPI_DAYS = 3 * 366

# What a suggestion line's reasoning keys mean (catalog.replenishment.reasoning), in order.
REASONING_LABELS = [
    ("forecast", _("Forecast over lead time + review period")),
    ("forecast_review", _("Forecast over the review period")),
    ("daily_level", _("Daily level (de-seasonalised)")),
    ("sigma", _("Std dev of daily forecast errors")),
    ("lead_time_days", _("Lead time (days)")),
    ("review_days", _("Review period (days)")),
    ("service_level", _("Service level")),
    ("safety_stock", _("Safety stock")),
    ("reorder_point", _("Reorder point")),
    ("order_up_to", _("Order up to")),
    ("current_stock", _("Current stock")),
    ("open_purchase_quantity", _("Open purchase quantity")),
    ("history_days", _("Days of history")),
]


def reasoning_html(reasoning: dict):
    if not reasoning:
        return "-"
    rows = [(label, reasoning[key]) for key, label in REASONING_LABELS if key in reasoning]
    return format_html('<span class="po-reasoning">{}</span>',
                       format_html_join(mark_safe("<br>"), "{}: {}", rows))


# --------------------------------------------------------------------------- KPIs


class KPIPeriodForm(forms.Form):
    first = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        first, last = data.get("first"), data.get("last")
        if first and last:
            if last < first:
                raise forms.ValidationError(_("The end date is before the start date."))
            if (last - first).days >= MAX_KPI_DAYS:
                raise forms.ValidationError(_("Choose at most three years."))
        return data


def kpi_period(request) -> tuple[KPIPeriodForm, object, object]:
    """The period asked for in the query string (``first``, ``last``), else the last 90 days."""
    last = timezone.localdate()
    first = last - timedelta(days=DEFAULT_KPI_DAYS - 1)
    if "first" in request.GET or "last" in request.GET:
        form = KPIPeriodForm(request.GET)
        if form.is_valid():
            return form, form.cleaned_data["first"], form.cleaned_data["last"]
        return form, first, last
    return KPIPeriodForm(initial={"first": first, "last": last}), first, last


def percent(value: Decimal | None) -> str:
    return "-" if value is None else f"{value}%"


def kpi_columns():
    return [gettext("Supplier"), gettext("Receipts"), gettext("On-time rate"), gettext("Fill rate"),
            gettext("Defect rate"), gettext("Average lead time (days)"), gettext("Units ordered"),
            gettext("Units received"), gettext("Units defective")]


def kpi_row(kpi) -> list[str]:
    return [kpi.name, str(kpi.receipts), percent(kpi.on_time_rate), percent(kpi.fill_rate),
            percent(kpi.defect_rate), "-" if kpi.average_lead_days is None else str(kpi.average_lead_days),
            str(kpi.units_ordered), str(kpi.units_received), str(kpi.units_defective)]


@admin.register(Supplier)
class SupplierAdmin(ModelAdmin):
    change_form_template = "admin/catalog/supplier/change_form.html"
    change_list_template = "admin/catalog/supplier/change_list.html"
    list_display = ("name", "contact", "lead_time_days", "review_days", "service_level", "active")
    list_filter = ("active",)
    search_fields = ("name", "contact")
    fields = ("name", "contact", "lead_time_days", "review_days", "service_level", "active")

    def has_delete_permission(self, request, obj=None):
        return False  # products and orders refer to suppliers: deactivate instead

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [path("kpis/", self.admin_site.admin_view(self.kpis_view), name=f"{prefix}_kpis"),
                *super().get_urls()]

    def kpis_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form, first, last = kpi_period(request)
        kpis = supplier_kpis(first, last)
        if request.GET.get("format") == "csv":
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="supplier-kpis-{first.isoformat()}-{last.isoformat()}.csv"')
            response.write("\ufeff")  # Excel reads UTF-8 with a BOM
            writer = csv.writer(response)
            writer.writerow(kpi_columns())
            writer.writerows(kpi_row(kpi) for kpi in kpis)
            return response
        query = request.GET.copy()
        query["format"] = "csv"
        query.setdefault("first", first.isoformat())
        query.setdefault("last", last.isoformat())
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Supplier KPIs"),
            "opts": self.opts,
            "form": form,
            "first": first,
            "last": last,
            "columns": kpi_columns(),
            "rows": [(admin_url(Supplier, "change", kpi.supplier_id), kpi_row(kpi)) for kpi in kpis],
            "csv_url": f"?{query.urlencode()}",
        }
        return TemplateResponse(request, "admin/catalog/supplier/kpis.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        supplier = self.get_object(request, object_id)
        if supplier is not None:
            form, first, last = kpi_period(request)
            [kpi] = supplier_kpis(first, last, supplier_ids=[supplier.pk])
            extra_context.update(kpi_form=form, kpi_first=first, kpi_last=last,
                                 kpi=list(zip(kpi_columns()[1:], kpi_row(kpi)[1:], strict=True)),
                                 kpis_url=reverse("admin:catalog_supplier_kpis"))
        return super().change_view(request, object_id, form_url, extra_context)


# --------------------------------------------------------------------------- purchase orders


class PurchaseOrderLineInline(ReadOnlyAdminMixin, TabularInline):
    model = PurchaseOrderLine
    fields = ("product", "quantity", "unit_cost", "received", "defective", "outstanding_display",
              "reasoning_display")
    readonly_fields = fields
    extra = 0

    @admin.display(description=_("outstanding"))
    def outstanding_display(self, obj):
        return obj.outstanding

    @admin.display(description=_("reasoning"))
    def reasoning_display(self, obj):
        return reasoning_html(obj.reasoning)


class ReceiptInline(ReadOnlyAdminMixin, TabularInline):
    model = Receipt
    fields = ("received_at", "received_by", "note", "lines_display")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    @admin.display(description=_("lines"))
    def lines_display(self, obj):
        return format_html_join(
            mark_safe("<br>"), "{} × {} ({} {})",
            ((line.line.product, line.quantity_received, line.quantity_defective, gettext("defective"))
             for line in obj.lines.select_related("line__product")))


class NewOrderForm(forms.Form):
    supplier = forms.ModelChoiceField(label=_("supplier"), queryset=Supplier.objects.filter(active=True))
    expected_date = forms.DateField(label=_("expected date"), required=False,
                                    widget=forms.DateInput(attrs={"type": "date"}),
                                    help_text=_("Empty: today + the supplier's lead time."))
    note = forms.CharField(label=_("note"), max_length=255, required=False)


class NewLineForm(forms.Form):
    product = forms.ModelChoiceField(
        label=_("product"), required=False,
        queryset=Product.objects.filter(kind=ProductKind.PHYSICAL, supplier__isnull=False).order_by("name"))
    quantity = forms.IntegerField(label=_("quantity"), min_value=1, required=False)
    unit_cost = forms.DecimalField(label=_("unit cost"), min_value=0, max_digits=10, decimal_places=2,
                                   required=False)

    def clean(self):
        data = super().clean()
        if data.get("product") and not data.get("quantity"):
            raise forms.ValidationError(_("Give the quantity."))
        return data


NewLineFormSet = forms.formset_factory(NewLineForm, extra=5)


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(ModelAdmin):
    change_form_template = "admin/catalog/purchaseorder/change_form.html"
    list_display = ("__str__", "supplier", "status", "expected_date", "units_display", "created_at",
                    "sent_at", "received_at")
    list_filter = ("status", ("supplier", admin.RelatedOnlyFieldListFilter), "expected_date")
    list_select_related = ("supplier",)
    search_fields = ("supplier__name", "note", "lines__product__name")
    date_hierarchy = "created_at"
    fields = ("supplier", "status", "expected_date", "note", "reasoning_display", "created_by",
              "created_at", "accepted_at", "sent_at", "received_at", "cancelled_at")
    readonly_fields = fields
    inlines = [PurchaseOrderLineInline, ReceiptInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(units=Sum("lines__quantity"))

    @admin.display(description=_("units"), ordering="units")
    def units_display(self, obj):
        return obj.units

    @admin.display(description=_("reasoning"))
    def reasoning_display(self, obj):
        if not obj.reasoning:
            return "-"
        run = {"at": obj.reasoning.get("run_at", "?"), "first": obj.reasoning.get("history_from", "?"),
               "last": obj.reasoning.get("history_to", "?")}
        return format_html(
            "{}<br>{}",
            gettext("Suggested by the replenishment run of %(at)s (history %(first)s – %(last)s).") % run,
            gettext("Each line shows its forecast, safety stock and reorder point."))

    # Never a form: made on the new-order page, moved by the buttons, received on its page.

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def may_move(self, request) -> bool:
        return request.user.has_perm("catalog.change_purchaseorder")

    def may_receive(self, request) -> bool:
        return request.user.has_perm("catalog.add_receipt")

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<int:order_id>/move/<slug:operation>/", wrap(require_POST(self.move_view)),
                 name=f"{prefix}_move"),
            path("<int:order_id>/receive/", wrap(self.receive_view), name=f"{prefix}_receive"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        posted = request.POST if request.method == "POST" else None
        form = NewOrderForm(posted)
        lines = NewLineFormSet(posted, prefix="lines")
        if posted is not None and form.is_valid() and lines.is_valid():
            chosen = [(row["product"], row["quantity"], row["unit_cost"] or Decimal("0"))
                      for row in lines.cleaned_data if row.get("product")]
            try:
                order = purchasing.create_purchase_order(
                    form.cleaned_data["supplier"], chosen, staff=request.user,
                    expected_date=form.cleaned_data["expected_date"], note=form.cleaned_data["note"])
            except CatalogError as error:
                form.add_error(None, error.message)
            else:
                self.log_addition(request, order, gettext("Created."))
                self.message_user(request, gettext("Purchase order %(order)s created.") % {"order": order},
                                  messages.SUCCESS)
                return HttpResponseRedirect(admin_url(PurchaseOrder, "change", order.pk))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("New purchase order"),
            "opts": self.opts,
            "form": form,
            "lines": lines,
        }
        return TemplateResponse(request, "admin/catalog/purchaseorder/new.html", context)

    def move_view(self, request, order_id, operation):
        calls = {"accept": purchasing.accept_suggestion, "send": purchasing.send, "cancel": purchasing.cancel}
        if operation not in calls:
            raise Http404
        if not self.may_move(request):
            raise PermissionDenied
        order = self.get_object(request, str(order_id))
        if order is None:
            raise Http404
        try:
            moved = calls[operation](order, staff=request.user)
        except CatalogError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            status = moved.get_status_display()
            self.log_change(request, moved, gettext("Status: %(status)s") % {"status": status})
            self.message_user(request, gettext("%(order)s is now %(status)s.")
                              % {"order": moved, "status": moved.get_status_display()}, messages.SUCCESS)
        return HttpResponseRedirect(admin_url(PurchaseOrder, "change", order_id))

    def receive_view(self, request, order_id):
        if not self.may_receive(request):
            raise PermissionDenied
        order = self.get_object(request, str(order_id))
        if order is None:
            raise Http404
        lines = list(order.lines.select_related("product").order_by("id"))
        back = admin_url(PurchaseOrder, "change", order.pk)
        errors = []
        if request.method == "POST":
            counts = []
            for line in lines:
                try:
                    received = int(request.POST.get(f"received_{line.pk}") or 0)
                    defective = int(request.POST.get(f"defective_{line.pk}") or 0)
                except ValueError:
                    errors.append(gettext("%(product)s: give whole numbers.") % {"product": line.product})
                    continue
                counts.append((line, received, defective))
            at = None
            try:
                at = forms.DateTimeField(required=False).clean(request.POST.get("received_at", ""))
            except forms.ValidationError as error:
                errors.extend(error.messages)
            if not errors:
                try:
                    receipt = purchasing.receive(order, counts, staff=request.user, at=at,
                                                 note=request.POST.get("note", ""))
                except CatalogError as error:
                    errors.append(error.message)
                else:
                    self.log_change(request, order, gettext("Received %(receipt)s.") % {"receipt": receipt})
                    self.message_user(request, gettext("%(receipt)s recorded; accepted units are in stock.")
                                      % {"receipt": receipt}, messages.SUCCESS)
                    return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Receive %(order)s") % {"order": order},
            "opts": self.opts,
            "order": order,
            "lines": [(line, request.POST.get(f"received_{line.pk}", ""),
                       request.POST.get(f"defective_{line.pk}", "")) for line in lines],
            "errors": errors,
            "received_at": request.POST.get("received_at", ""),
            "note": request.POST.get("note", ""),
            "back_url": back,
        }
        return TemplateResponse(request, "admin/catalog/purchaseorder/receive.html", context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            buttons = []  # (label, url, method)
            status = obj.status
            if self.may_move(request):
                if status == PurchaseOrderStatus.SUGGESTED:
                    buttons.append((gettext("Accept suggestion"), self._url(obj, "move", "accept")))
                if status == PurchaseOrderStatus.CREATED:
                    buttons.append((gettext("Send to supplier"), self._url(obj, "move", "send")))
                if status in (PurchaseOrderStatus.SUGGESTED, PurchaseOrderStatus.CREATED,
                              PurchaseOrderStatus.SENT, PurchaseOrderStatus.PARTLY_RECEIVED):
                    buttons.append((gettext("Cancel order"), self._url(obj, "move", "cancel")))
            context["order_buttons"] = buttons
            if self.may_receive(request) and status in (PurchaseOrderStatus.SENT,
                                                        PurchaseOrderStatus.PARTLY_RECEIVED):
                context["receive_url"] = self._url(obj, "receive")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _url(self, obj, name, *args):
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[obj.pk, *args],
                       current_app=self.admin_site.name)


# --------------------------------------------------------------------------- receipts


class ReceiptLineInline(ReadOnlyAdminMixin, TabularInline):
    model = ReceiptLine
    fields = ("line", "quantity_received", "quantity_defective")
    readonly_fields = fields
    extra = 0


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("__str__", "order", "supplier_display", "received_at", "received_by", "units_display",
                    "note")
    list_filter = (("order__supplier", admin.RelatedOnlyFieldListFilter), "received_at")
    list_select_related = ("order__supplier", "received_by")
    search_fields = ("order__supplier__name", "note")
    date_hierarchy = "received_at"
    fields = ("order", "received_at", "received_by", "note", "created_at")
    readonly_fields = fields
    inlines = [ReceiptLineInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(units=Sum("lines__quantity_received"))

    @admin.display(description=_("supplier"), ordering="order__supplier__name")
    def supplier_display(self, obj):
        return obj.order.supplier

    @admin.display(description=_("units"), ordering="units")
    def units_display(self, obj):
        return obj.units
