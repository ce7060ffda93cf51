"""Channels in the admin: the channel's settings and last results, and two buttons on its page.

"Import now…" shows the import's dry-run diff (``import_channel(dry_run=True)``: per row create /
update with the changed fields / unchanged, or every bad row), and its confirm button (POST, with
the preview's digest) applies exactly that diff or, when the feed changed meanwhile, shows the new
preview instead. "Sync stock now…" confirms, then runs ``sync_channel_stock``. Both need their own
permission (``catalog.import_channel``, ``catalog.sync_channel``: the catalog manager). Channels
have no service of their own (their form holds no invariant); they are deactivated, never deleted
(their products point at them).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from catalog.channel_errors import FeedChanged, FeedError, FeedInvalid
from catalog.forms import ChannelForm
from catalog.models import Channel, Product
from catalog.services import channels as service
from common.admin import ModelAdmin

FIELD_LABELS = {
    "name": _("name"), "description": _("description"), "image_url": _("image URL"),
    "category": _("category"), "cash_price": _("cash price"),
}
ACTION_LABELS = {"create": _("Create"), "update": _("Update"), "unchanged": _("Unchanged")}


@admin.register(Channel)
class ChannelAdmin(ModelAdmin):
    form = ChannelForm
    list_display = ("name", "kind", "source", "active", "import_on_schedule", "sync_on_schedule",
                    "product_count", "last_import", "last_sync")
    list_filter = ("kind", "active")
    search_fields = ("name", "source")
    readonly_fields = ("last_import_at", "last_import_ok", "last_import_summary", "last_sync_at",
                       "last_sync_ok", "last_sync_summary", "created_at")
    fieldsets = (
        (None, {"fields": ("name", "kind", "source", "active")}),
        (_("Schedule"), {"fields": ("import_on_schedule", "sync_on_schedule")}),
        (_("Last import"), {"fields": ("last_import_at", "last_import_ok", "last_import_summary")}),
        (_("Last stock sync"), {"fields": ("last_sync_at", "last_sync_ok", "last_sync_summary")}),
        (_("Who and when"), {"fields": ("created_at",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(product_count=Count("products"))

    @admin.display(description=_("products"), ordering="product_count")
    def product_count(self, obj):
        return obj.product_count

    @admin.display(description=_("last import"), ordering="last_import_at")
    def last_import(self, obj):
        return _when(obj.last_import_at, obj.last_import_ok)

    @admin.display(description=_("last stock sync"), ordering="last_sync_at")
    def last_sync(self, obj):
        return _when(obj.last_sync_at, obj.last_sync_ok)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_import_permission(self, request) -> bool:
        return request.user.has_perm("catalog.import_channel")

    def has_sync_permission(self, request) -> bool:
        return request.user.has_perm("catalog.sync_channel")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            buttons = []
            if self.has_import_permission(request):
                buttons.append((gettext("Import now…"), self._url("import", obj.pk), "download"))
            if self.has_sync_permission(request):
                buttons.append((gettext("Sync stock now…"), self._url("sync", obj.pk), "sync"))
            context["channel_buttons"] = buttons
        return super().render_change_form(request, context, add, change, form_url, obj)

    # The two buttons' pages.

    def get_urls(self):
        return [
            path("<int:channel_id>/import/", self.admin_site.admin_view(self.import_view),
                 name=self._name("import")),
            path("<int:channel_id>/sync/", self.admin_site.admin_view(self.sync_view),
                 name=self._name("sync")),
            *super().get_urls(),
        ]

    def _name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def _url(self, view: str, pk) -> str:
        return reverse(f"admin:{self._name(view)}", args=[pk], current_app=self.admin_site.name)

    def _channel(self, request, channel_id: int) -> Channel:
        channel = self.get_object(request, str(channel_id))
        if channel is None:
            raise Http404
        return channel

    def import_view(self, request, channel_id: int):
        if not (self.has_view_permission(request) and self.has_import_permission(request)):
            raise PermissionDenied
        channel = self._channel(request, channel_id)
        back = self._url("change", channel.pk) if self.has_change_permission(request) else \
            reverse("admin:catalog_channel_changelist")
        context = {"result": None, "errors": [], "feed_error": ""}
        if request.method == "POST":
            try:
                result = service.import_channel(channel, dry_run=False,
                                                expected_digest=request.POST.get("digest", ""))
            except FeedChanged as exc:
                self.message_user(request, exc.message, messages.WARNING)
            except FeedInvalid as exc:
                context["errors"] = exc.errors
                context["feed_error"] = exc.message
            except FeedError as exc:
                context["feed_error"] = exc.message
            else:
                self.log_change(request, channel, gettext("Imported: %(summary)s") % {
                    "summary": result.summary()})
                self.message_user(request, gettext("Imported from %(channel)s: %(summary)s.") % {
                    "channel": channel.name, "summary": result.summary()}, messages.SUCCESS)
                return HttpResponseRedirect(back)
        if not context["feed_error"]:
            try:
                context["result"] = service.import_channel(channel, dry_run=True)
            except FeedInvalid as exc:
                context["errors"] = exc.errors
                context["feed_error"] = exc.message
            except FeedError as exc:
                context["feed_error"] = exc.message
        result = context["result"]
        if result is not None:
            context["rows"] = [
                {"row": row.row, "sku": row.sku, "action": row.action,
                 "action_label": ACTION_LABELS[row.action], "product_id": row.product_id,
                 "changes": [(FIELD_LABELS[name], before, after)
                             for name, (before, after) in row.changes.items()]}
                for row in result.rows]
            context["counts"] = result.counts
            context["pending"] = result.count("create") + result.count("update")
        return TemplateResponse(request, "admin/catalog/channel/import.html", {
            **self.admin_site.each_context(request),
            **context,
            "title": gettext("Import from %(channel)s") % {"channel": channel.name},
            "opts": self.opts,
            "original": channel,
            "back_url": back,
            "new_product_points_price": service.NEW_PRODUCT_POINTS_PRICE,
        })

    def sync_view(self, request, channel_id: int):
        if not (self.has_view_permission(request) and self.has_sync_permission(request)):
            raise PermissionDenied
        channel = self._channel(request, channel_id)
        back = self._url("change", channel.pk) if self.has_change_permission(request) else \
            reverse("admin:catalog_channel_changelist")
        if request.method == "POST":
            try:
                result = service.sync_channel_stock(channel, staff=request.user)
            except (FeedError, FeedInvalid) as exc:
                self.message_user(request, service.failure_text(exc), messages.ERROR)
            else:
                self.log_change(request, channel, gettext("Stock synced: %(summary)s") % {
                    "summary": result.summary()})
                self.message_user(request, gettext("Stock synced from %(channel)s: %(summary)s.") % {
                    "channel": channel.name, "summary": result.summary()}, messages.SUCCESS)
            return HttpResponseRedirect(back)
        count = Product.objects.filter(channel=channel, stock_from_channel=True).count()
        return TemplateResponse(request, "admin/catalog/channel/sync.html", {
            **self.admin_site.each_context(request),
            "title": gettext("Sync stock from %(channel)s?") % {"channel": channel.name},
            "opts": self.opts,
            "original": channel,
            "count": count,
            "count_text": ngettext(
                "%(count)d product takes its stock from this channel.",
                "%(count)d products take their stock from this channel.", count) % {"count": count},
            "back_url": back,
        })


def _when(moment, ok) -> str:
    if moment is None:
        return "-"
    text = f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"
    if ok:
        return text
    return gettext("%(when)s (failed)") % {"when": text}
