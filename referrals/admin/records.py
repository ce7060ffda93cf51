"""Reward records and rewarded orders in the admin: read-only (``referrals.services.orders``
writes them), filtered by kind, outcome, status and member, and exported as CSV/XLSX."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.formats import base_formats

from common.admin import ExportAdmin, ModelAdmin, PersonalDataAdminMixin, ReadOnlyAdminMixin
from referrals.models import Outcome, RewardedOrder, RewardRecord
from referrals.resources import RewardRecordResource
from referrals.selectors import RecordStatus, record_status, records_with_status


def admin_link(obj, label=None):
    """A link to ``obj``'s admin page (``-`` for none)."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label if label is not None else obj)


# The filter's labels say what each status means (the columns show the short ones, with these as
# their tooltips).
STATUS_MEANINGS = {
    RecordStatus.PENDING: _("Pending (not yet available)"),
    RecordStatus.SETTLED: _("Settled (available to spend)"),
    RecordStatus.REVERSED: _("Reversed in full (refunded)"),
    RecordStatus.LAPSED: _("Lapsed (nothing credited)"),
}


def status_html(record, now):
    """The record's status (``referrals.selectors.record_status``), short, its meaning as the
    tooltip; a pending one says until when. Shared with the member page."""
    status = record_status(record, now=now)
    label = format_html('<span title="{}">{}</span>', STATUS_MEANINGS[status], RecordStatus.labels[status])
    if status != RecordStatus.PENDING:
        return label
    until = gettext("until %(day)s") % {"day": f"{timezone.localtime(record.available_at):%Y-%m-%d}"}
    return format_html('{}<br><small style="white-space:nowrap">{}</small>', label, until)


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return list(STATUS_MEANINGS.items())

    def queryset(self, request, queryset):
        if self.value() in STATUS_MEANINGS:
            return records_with_status(queryset, self.value())
        return queryset


class BeneficiaryFilter(admin.SimpleListFilter):
    """One member's records (the member page links here); search finds members by name or phone."""

    title = _("beneficiary")
    parameter_name = "beneficiary"

    def lookups(self, request, model_admin):
        value = self.value()
        if not value or not value.isdigit():
            return []
        member = RewardRecord._meta.get_field("beneficiary").related_model.objects.filter(pk=value).first()
        return [(value, str(member))] if member else []

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(beneficiary_id=value)
        return queryset


RECORD_FIELDS = (
    (None, {"fields": ("order_link", "kind", "outcome", "explanation_display")}),
    (_("Who"), {"fields": ("beneficiary", "intended", "level")}),
    (_("Points"), {"fields": ("points", "points_reversed", "status_display", "available_at", "entry_link")}),
    (_("Plan and time"), {"fields": ("plan", "created_at")}),
)


@admin.register(RewardRecord)
class RewardRecordAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ExportAdmin):
    """Every reward of every order, read-only, with CSV/XLSX export of the filtered list."""

    resource_classes = [RewardRecordResource]
    formats = [base_formats.CSV, base_formats.XLSX]
    change_list_template = "admin/referrals/rewardrecord/change_list.html"
    # Ten facts in six columns, each with its detail in small type below: at 1280px beside the
    # admin's two sidebars, ten columns pushed the status and the explanation out of sight.
    list_display = ("order_and_time", "beneficiary_and_kind", "points_display", "status_display",
                    "explanation_display")
    list_filter = ("kind", "outcome", StatusFilter, BeneficiaryFilter)
    list_select_related = ("order", "beneficiary", "intended", "plan")
    search_fields = ("order__external_id", "beneficiary__username", "beneficiary__phone",
                     "beneficiary__nickname")
    search_help_text = _("Search by order id, or by the beneficiary's username, nickname or phone.")
    date_hierarchy = "created_at"
    fieldsets = RECORD_FIELDS
    readonly_fields = ("order_link", "kind", "outcome", "explanation_display", "beneficiary", "intended",
                       "level", "points", "points_reversed", "status_display", "available_at",
                       "entry_link", "plan", "created_at")

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    @admin.display(description=_("order / time"), ordering="created_at")
    def order_and_time(self, obj):
        return format_html("{}<br><small>{}</small>", obj.order.external_id,
                           f"{timezone.localtime(obj.created_at):%Y-%m-%d %H:%M}")

    @admin.display(description=_("beneficiary / kind"), ordering="beneficiary__username")
    def beneficiary_and_kind(self, obj):
        details = [obj.get_kind_display()]
        if obj.level == 0:
            details.append(gettext("the buyer"))
        elif obj.level is not None:
            details.append(gettext("level %(level)s") % {"level": obj.level})
        if obj.outcome != Outcome.PAID:
            details.append(obj.get_outcome_display())
        return format_html("{}<br><small>{}</small>", obj.beneficiary or "-", " · ".join(details))

    @admin.display(description=_("order"), ordering="order__external_id")
    def order_link(self, obj):
        return admin_link(obj.order, obj.order.external_id)

    @admin.display(description=_("points"), ordering="points")
    def points_display(self, obj):
        if not obj.points_reversed:
            return obj.points
        return format_html("{}<br><small>{}</small>", obj.points,
                           gettext("%(points)s reversed") % {"points": obj.points_reversed})

    @admin.display(description=_("status"))
    def status_display(self, obj):
        return status_html(obj, timezone.now())

    @admin.display(description=_("explanation"))
    def explanation_display(self, obj):
        return obj.explanation

    @admin.display(description=_("ledger entry"))
    def entry_link(self, obj):
        if obj.entry_id is None:
            return "-"
        url = reverse("admin:points_entry_change", args=[obj.entry_id])
        return format_html('<a href="{}">#{}</a>', url, obj.entry_id)


@admin.register(RewardedOrder)
class RewardedOrderAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Each rewarded order once: the plan and merchant it was rewarded under and its budget."""

    list_display = ("order", "plan", "merchant", "base_amount", "budget_percent", "budget_points",
                    "created_at")
    list_filter = ("plan", ("merchant", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("order", "plan", "merchant")
    search_fields = ("order__external_id", "merchant__code", "merchant__name", "order__member__username")
    search_help_text = _("Search by order id, merchant code or name, or the buyer's username.")
    date_hierarchy = "created_at"
    fields = readonly_fields = ("order_link", "buyer", "plan", "merchant", "base_amount", "budget_percent",
                                "budget_points", "created_at", "rewards")

    def get_queryset(self, request):
        records = Prefetch("order__rewards", queryset=RewardRecord.objects.select_related(
            "beneficiary", "intended", "plan").order_by("id"))
        return super().get_queryset(request).select_related("order__member").prefetch_related(records)

    @admin.display(description=_("order"))
    def order_link(self, obj):
        return admin_link(obj.order, obj.order.external_id)

    @admin.display(description=_("buyer"))
    def buyer(self, obj):
        return admin_link(obj.order.member)

    @admin.display(description=_("rewards"))
    def rewards(self, obj):
        records = list(obj.order.rewards.all())
        if not records:
            return gettext("No rewards.")
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("kind"), _("beneficiary"), _("points"), _("points reversed"), _("explanation"),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
                (admin_link(r, r.get_kind_display()), r.beneficiary or "-", r.points, r.points_reversed,
                 r.explanation) for r in records)),
        )
