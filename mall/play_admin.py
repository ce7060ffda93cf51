"""Daily tasks and badges in the admin (issue 11): staff define them; completions and awards are
read-only (``mall.services.play`` writes them), with filters by task or badge, period and member."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from common.admin import ModelAdmin, PersonalDataAdminMixin, ReadOnlyAdminMixin
from mall.models import Badge, BadgeAward, Task, TaskCompletion
from mall.services import play
from rules.segments import segments_form_field


class TaskForm(forms.ModelForm):
    segments = segments_form_field(
        label=_("eligible RFM segments"),
        help_text=_("None ticked: offered to every member. Ticked: only to members whose segment from "
                    "the last nightly RFM run is one of these."))

    class Meta:
        model = Task
        fields = ("name", "name_en", "behaviour", "period", "target", "points", "starts_at", "ends_at",
                  "active", "position", "segments")


@admin.register(Task)
class TaskAdmin(ModelAdmin):
    form = TaskForm
    list_display = ("name", "behaviour", "period", "target", "points", "starts_at", "ends_at", "active",
                    "position")
    list_editable = ("active", "position")
    list_filter = ("active", "behaviour", "period")
    search_fields = ("name", "name_en")
    fieldsets = (
        (None, {"fields": ("name", "name_en", "behaviour", "period", "target", "points")}),
        (_("When"), {"fields": ("starts_at", "ends_at", "active", "position")}),
        (_("Eligible members"), {"fields": ("segments",)}),
    )

    def has_delete_permission(self, request, obj=None):
        return False  # completions refer to tasks: switch one off instead


@admin.register(TaskCompletion)
class TaskCompletionAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("id", "task", "member", "period", "points", "completed_at")
    list_filter = (("task", admin.RelatedOnlyFieldListFilter), "completed_at")
    list_select_related = ("task", "member")
    search_fields = ("member__username", "member__nickname", "member__phone", "period")
    date_hierarchy = "completed_at"
    fields = ("task", "member", "period", "points", "entry", "completed_at")
    readonly_fields = fields


@admin.register(Badge)
class BadgeAdmin(ModelAdmin):
    list_display = ("icon_preview", "name", "code", "metric", "threshold", "period", "period_days",
                    "points", "active", "position")
    list_display_links = ("icon_preview", "name")
    list_filter = ("active", "metric", "period")
    search_fields = ("name", "name_en", "code")
    fieldsets = (
        (None, {"fields": ("code", "name", "name_en", "icon")}),
        (_("Condition"), {"fields": ("metric", "threshold", "period", "period_days"),
                          "description": _("Earned when the metric reaches the threshold within "
                                           "the period; checked at each activity and nightly.")}),
        (_("Reward"), {"fields": ("points", "active", "position")}),
    )
    actions = ["award_now"]

    @admin.display(description=_("icon"))
    def icon_preview(self, badge):
        if badge.icon:
            return format_html('<img src="{}" alt="" width="32" height="32">', badge.icon.url)
        return "★"

    def has_delete_permission(self, request, obj=None):
        return False  # awards refer to badges: switch one off instead

    @admin.action(description=_("Award the selected badges now to every member who qualifies"),
                  permissions=["change"])
    def award_now(self, request, queryset):
        summary = play.award_due_badges(badges=queryset)
        messages.success(request, _("%(awarded)s badge award(s) made.") % summary)


@admin.register(BadgeAward)
class BadgeAwardAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("id", "badge", "member", "period", "value", "points", "awarded_at")
    list_filter = (("badge", admin.RelatedOnlyFieldListFilter), "period", "awarded_at")
    list_select_related = ("badge", "member")
    search_fields = ("member__username", "member__nickname", "member__phone")
    date_hierarchy = "awarded_at"
    fields = ("badge", "member", "period", "value", "points", "awarded_at")
    readonly_fields = fields
