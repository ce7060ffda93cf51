"""The history of the rule sets in the admin: every change, written by ``rules.services`` only,
read-only on each rule set's page and in one list."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from common.admin import ModelAdmin, ReadOnlyAdminMixin
from rules.models import RuleSetEvent


class RuleSetEventInline(ReadOnlyAdminMixin, TabularInline):
    """The rule set's history, newest first; written by rules.services only."""

    model = RuleSetEvent
    fields = ("at", "action", "actor", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("history")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_view_permission(self, request, obj=None):
        # Whoever may see the rule set may see who changed it.
        return request.user.has_perm("rules.view_ruleset") or request.user.has_perm("rules.change_ruleset")


@admin.register(RuleSetEvent)
class RuleSetEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Every rule-set change in one list (each rule set's page shows its own)."""

    list_display = ("at", "rule_set", "action", "actor", "detail")
    list_filter = ("action",)
    list_select_related = ("rule_set", "actor")
    search_fields = ("detail", "rule_set__name", "actor__username")
    date_hierarchy = "at"
