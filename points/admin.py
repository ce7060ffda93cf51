"""Read-only ledger views for staff. Points only move through points.services (see the
"adjust points" action on members in mall/admin.py)."""


from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from common.admin import ModelAdmin, PersonalDataAdminMixin, ReadOnlyAdminMixin, RunTaskAdminMixin
from points.models import (
    Account,
    BehaviourRecord,
    CheckIn,
    Entry,
    Hold,
    Lot,
    Order,
    OrderLine,
    ReconciliationRun,
    Refund,
)


class ReadOnlyAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """The ledger is written by services only: no add, change or delete here."""



MEMBER_SEARCH = ("account__member__username", "account__member__phone",
                 "account__member__external_id", "account__member__nickname")


@admin.register(Account)
class AccountAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ("member", "available", "pending", "held", "debt", "lifetime_earned",
                    "lifetime_spent", "lifetime_expired")
    search_fields = ("member__username", "member__phone", "member__external_id", "member__nickname")
    list_select_related = ("member",)


@admin.register(Entry)
class EntryAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ("id", "member", "kind", "delta", "balance_after", "reason", "reference",
                    "rule_version", "staff", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = (*MEMBER_SEARCH, "key", "reference")
    list_select_related = ("account__member", "staff")
    date_hierarchy = "created_at"
    readonly_fields = ("account", "key", "kind", "delta", "balance_after", "reason", "reference",
                       "reverses", "hold", "rule_version", "explanation_lines", "staff", "created_at")
    exclude = ("fingerprint", "explanation")

    @admin.display(description=_("explanation"))
    def explanation_lines(self, obj):
        return explanation_html(obj.explanation)

    @admin.display(description=_("member"), ordering="account__member__username")
    def member(self, obj):
        return obj.account.member


@admin.register(Lot)
class LotAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ("id", "member", "amount", "remaining", "pending", "available_at", "expires_at",
                    "created_at")
    list_filter = ("pending", "expires_at", "created_at")
    search_fields = MEMBER_SEARCH
    list_select_related = ("account__member",)

    @admin.display(description=_("member"), ordering="account__member__username")
    def member(self, obj):
        return obj.account.member


@admin.register(Hold)
class HoldAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ("id", "member", "amount", "captured", "status", "reference", "expires_at",
                    "created_at", "resolved_at")
    list_filter = ("status", "created_at")
    search_fields = (*MEMBER_SEARCH, "reference")
    list_select_related = ("account__member",)

    @admin.display(description=_("member"), ordering="account__member__username")
    def member(self, obj):
        return obj.account.member


# --------------------------------------------------------------------------- earning


def explanation_html(explanation):
    """An earning's explanation snapshot as a numbered list of its lines (auto-escaped)."""
    if not explanation:
        return "-"
    if isinstance(explanation, dict) and isinstance(explanation.get("lines"), list):
        return format_html("<ol style=\"margin:0;padding-left:1.5em\">{}</ol>",
                           format_html_join("", "<li>{}</li>", ((line,) for line in explanation["lines"])))
    return str(explanation)


def entry_link(entry):
    if entry is None:
        return "-"
    url = reverse("admin:points_entry_change", args=[entry.pk])
    return format_html('<a href="{}">{} {} (v{})</a>', url, entry.get_kind_display(), f"{entry.delta:+d}",
                       entry.rule_version or "-")


class ReadOnlyInline(ReadOnlyAdminMixin, TabularInline):
    extra = 0
    can_delete = False



class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = readonly_fields = ("sku", "categories", "amount", "quantity")


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = readonly_fields = ("key", "amount", "applied_amount", "points_reversed", "reverse_entry",
                                "created_at")

    @admin.display(description=_("reverse entry"))
    def reverse_entry(self, obj):
        return entry_link(obj.entry)


@admin.register(Order)
class OrderAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    """Paid orders as the shop reported them; points move through the hooks only."""

    list_display = ("external_id", "member", "tier", "amount", "refunded_amount", "paid_at",
                    "points", "earn_entry", "created_at")
    list_filter = ("tier", "paid_at")
    search_fields = ("external_id", "member__username", "member__phone", "member__external_id",
                     "member__nickname")
    list_select_related = ("member", "entry")
    date_hierarchy = "paid_at"
    fields = readonly_fields = ("external_id", "member", "tier", "amount", "refunded_amount", "paid_at",
                                "earn_entry", "rule_version", "explanation", "created_at")
    inlines = [OrderLineInline, RefundInline]

    @admin.display(description=_("points"))
    def points(self, obj):
        return obj.entry.delta if obj.entry else 0

    @admin.display(description=_("earn entry"))
    def earn_entry(self, obj):
        return entry_link(obj.entry)

    @admin.display(description=_("rule version"))
    def rule_version(self, obj):
        return obj.entry.rule_version if obj.entry else "-"

    @admin.display(description=_("explanation"))
    def explanation(self, obj):
        return explanation_html(obj.entry.explanation if obj.entry else None)


@admin.register(BehaviourRecord)
class BehaviourRecordAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ("id", "member", "action", "day", "photo", "points", "reason", "occurred_at")
    list_filter = ("action", "day")
    search_fields = ("member__username", "member__phone", "member__external_id", "key")
    list_select_related = ("member",)
    date_hierarchy = "day"


@admin.register(CheckIn)
class CheckInAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ("id", "member", "day", "streak", "points", "created_at")
    list_filter = ("day",)
    search_fields = ("member__username", "member__phone", "member__external_id")
    list_select_related = ("member",)
    date_hierarchy = "day"


# --------------------------------------------------------------------------- reconciliation


STATUS_COLOURS = {"ok": "#2e7d32", "mismatch": "#c62828", "running": "#757575"}
STATUS_LABELS = {"ok": _("OK"), "mismatch": _("Mismatch"), "running": _("Running or stopped")}


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(RunTaskAdminMixin, ReadOnlyAdmin):
    """The nightly reconciliation's runs (``mall.jobs.reconcile_ledger``), newest first; a run's
    page lists the rows that did not add up, with links to the account and the member."""
    # "Run now": starts the job in the worker, never in the request (it reads the whole ledger).
    run_task = "mall.reconcile_ledger"
    run_permission = "points.run_reconciliation"
    run_failed_message = _("The reconciliation could not be started: the task queue is not reachable.")
    run_started_message = _("The reconciliation has started; its run appears here when it finishes.")

    list_display = ("id", "started_at", "finished_at", "accounts_checked", "mismatch_count",
                    "status_badge")
    list_display_links = ("id", "started_at")
    date_hierarchy = "started_at"
    fields = readonly_fields = ("started_at", "finished_at", "accounts_checked", "mismatch_count",
                                "status_badge", "mismatch_table")
    change_list_template = "admin/points/reconciliationrun/change_list.html"

    @admin.display(description=_("status"))
    def status_badge(self, obj):
        status = obj.status
        return format_html(
            '<span style="color:#fff;background:{};padding:1px 8px;border-radius:8px;'
            'white-space:nowrap">{}</span>', STATUS_COLOURS[status], STATUS_LABELS[status])

    @admin.display(description=_("mismatches found"))
    def mismatch_table(self, obj):
        rows = obj.mismatches or []
        if not rows:
            return "-"
        header = format_html("<tr>{}</tr>", format_html_join("", "<th>{}</th>", (
            (label,) for label in (_("account"), _("member"), _("check"), _("expected"), _("actual"),
                                   _("entry")))))
        body = format_html_join("", "<tr>" + "<td>{}</td>" * 6 + "</tr>", (
            (_admin_link(Account, row.get("account_id")),
             _admin_link(get_user_model(), row.get("member_id")),
             row.get("check", ""), row.get("expected", ""), row.get("actual", ""),
             _admin_link(Entry, row.get("entry_id")))
            for row in rows
        ))
        note = ""
        if obj.mismatch_count > len(rows):
            note = format_html("<p>{}</p>", gettext("The first %(shown)s of %(count)s are shown.")
                               % {"shown": len(rows), "count": obj.mismatch_count})
        return format_html("<table>{}{}</table>{}", header, body, note)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_run": self.has_run_permission(request)}
        return super().changelist_view(request, extra_context)


def _admin_link(model, pk):
    """A link to ``pk``'s admin page, or the bare id where there is none (or no ``pk``)."""
    if pk is None:
        return "-"
    opts = model._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])
    except NoReverseMatch:
        return str(pk)
    return format_html('<a href="{}">{}</a>', url, pk)
