"""审计日志 / Audit trail: django-auditlog's ``LogEntry`` (``common.audit``) for the auditor group —
search, filter, read old -> new, export the filtered list as CSV. Nobody adds, changes or deletes a
record here, superusers included (the database refuses it anyway); the retention job
(``mall.jobs.purge_audit_trail``) is the only thing that deletes, past ``AUDIT_RETENTION_DAYS``.
Every export is itself recorded (``audit.export``).

The page is reached with the view permission (``auditlog.view_logentry``, which the auditor
group holds: ``mall.audit_registry.after_migrate``); the export needs nothing more.
"""

from __future__ import annotations

import csv
import json

from auditlog.models import LogEntry
from django.contrib import admin
from django.db.models import Max
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin  # not common.admin's: the export records itself (audit.export)

from common import audit
from mall.models import Member

if admin.site.is_registered(LogEntry):  # auditlog's own, in Django's plain theme
    admin.site.unregister(LogEntry)

ARROW = "→"
EXPORT_CHUNK = 2000


class EventFilter(admin.SimpleListFilter):
    title = _("event")
    parameter_name = "event"

    def lookups(self, request, model_admin):
        return list(audit.EVENTS.items())

    def queryset(self, request, queryset):
        return queryset.filter(additional_data__event=self.value()) if self.value() else queryset


class ActorFilter(admin.SimpleListFilter):
    """Staff accounts (members make no records of their own but views of their data)."""

    title = _("actor")
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        return [(str(pk), username) for pk, username in
                Member.objects.filter(is_staff=True).order_by("username").values_list("pk", "username")]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(actor_id=value) if value and value.isdigit() else queryset


def change_lines(entry: LogEntry) -> list[tuple[str, str]]:
    """(field, "old → new") per change of ``entry``; many-to-many changes as "+ a, b" / "− a, b"."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    lines = []
    for field, value in changes.items():
        if isinstance(value, dict) and value.get("type") == "m2m":
            sign = "+" if value.get("operation") == "add" else "−"
            lines.append((field, f"{sign} {', '.join(str(item) for item in value.get('objects', []))}"))
        elif isinstance(value, list | tuple) and len(value) == 2:
            old, new = ("∅" if item in (None, "None", "") else str(item) for item in value)
            lines.append((field, f"{old} {ARROW} {new}"))
        else:
            lines.append((field, json.dumps(value, ensure_ascii=False, default=str)))
    return lines


def event_of(entry: LogEntry) -> str:
    data = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    return str(data.get("event", ""))


class _Echo:
    def write(self, value):
        return value


@admin.register(LogEntry)
class AuditTrailAdmin(ModelAdmin):
    list_display = ("timestamp", "event_label", "action", "content_type", "object_repr", "actor_name",
                    "remote_addr", "changes_short")
    list_filter = ("action", EventFilter, "content_type", ActorFilter, "timestamp")
    search_fields = ("object_repr", "actor_email", "actor__username", "remote_addr", "additional_data__event")
    search_help_text = _("Search by object, actor (e-mail or username), address or event.")
    date_hierarchy = "timestamp"
    list_select_related = ("content_type", "actor")
    ordering = ("-timestamp", "-id")
    actions = ["export_csv"]
    fields = ("timestamp", "event_label", "action", "content_type", "object_pk", "object_repr", "actor_name",
              "remote_addr", "changes_table", "changes_text", "data")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("event"))
    def event_label(self, entry):
        event = event_of(entry)
        return audit.EVENTS.get(event, event)

    @admin.display(description=_("actor"), ordering="actor_email")
    def actor_name(self, entry):
        return entry.actor_email or (entry.actor.username if entry.actor_id else "-")

    @admin.display(description=_("changes"))
    def changes_short(self, entry):
        lines = change_lines(entry)
        return format_html_join(mark_safe("<br>"), "{}: {}", lines[:5]) if lines else "-"

    @admin.display(description=_("changes"))
    def changes_table(self, entry):
        lines = change_lines(entry)
        if not lines:
            return "-"
        return format_html("<table>{}</table>",
                           format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", lines))

    @admin.display(description=_("details"))
    def data(self, entry):
        return json.dumps(entry.additional_data or {}, ensure_ascii=False, indent=1, default=str)

    @admin.action(description=_("Export to CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        """The selected records (or, with "select all", every record the filters and search
        match), streamed as CSV; the export is recorded first with what was asked for."""
        last = queryset.aggregate(last=Max("pk"))["last"] or 0
        rows = queryset.filter(pk__lte=last)
        audit.record("audit.export", LogEntry, action=audit.Action.ACCESS, data={
            "query": request.GET.urlencode(), "select_across": request.POST.get("select_across") == "1",
            "rows": rows.count()})
        writer = csv.writer(_Echo())

        def lines():
            yield "\ufeff"  # Excel reads UTF-8 with a BOM
            yield writer.writerow([str(label) for label in (
                _("time"), _("event"), _("operation"), _("model"), _("object id"), _("object"), _("actor"),
                _("IP address"), _("changes"), _("note"), _("details"))])
            for entry in rows.select_related("content_type", "actor").order_by("-timestamp", "-id").iterator(
                    chunk_size=EXPORT_CHUNK):
                model = entry.content_type.app_labeled_name if entry.content_type_id else ""
                yield writer.writerow([
                    timezone.localtime(entry.timestamp).isoformat(), event_of(entry),
                    entry.get_action_display(), model, entry.object_pk, entry.object_repr,
                    self.actor_name(entry), entry.remote_addr or "",
                    "; ".join(f"{field}: {change}" for field, change in change_lines(entry)),
                    entry.changes_text,
                    json.dumps(entry.additional_data or {}, ensure_ascii=False, default=str),
                ])

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        name = f"audit-trail-{timezone.localtime():%Y%m%d-%H%M%S}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
