"""RFM segments in the admin (issue 14): the settings page (one row: window and thresholds, blank =
the median), the runs list with the latest run's segment counts and the movement between the last
two runs above it, a "run now" button (POST, ``mall.run_rfm``; the job runs in the worker), and the
per-member scores (read-only, filtered by run and segment). Writes go through ``mall.rfm``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from common.admin import ModelAdmin, PersonalDataAdminMixin, ReadOnlyAdminMixin, RunTaskAdminMixin
from mall import rfm
from mall.rfm_models import RfmRun, RfmScore, RfmSettings
from rules.segments import Segment, segment_label


class RfmSettingsForm(forms.ModelForm):
    class Meta:
        model = RfmSettings
        fields = ("window_days", "recency_days", "frequency", "monetary")


@admin.register(RfmSettings)
class RfmSettingsAdmin(ModelAdmin):
    """One row: the list opens it."""

    form = RfmSettingsForm
    fieldsets = (
        (None, {"fields": ("window_days",)}),
        (_("Thresholds"), {"fields": ("recency_days", "frequency", "monetary"),
                           "description": _("Leave a threshold blank to use the median of the "
                                            "members scored in each run. Changes take effect at "
                                            "the next run.")}),
        (_("Last change"), {"fields": ("updated_at", "updated_by")}),
    )
    readonly_fields = ("updated_at", "updated_by")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        settings_row = rfm.current_settings()
        return HttpResponseRedirect(reverse("admin:mall_rfmsettings_change", args=[settings_row.pk]))

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = rfm.save_settings(actor=request.user, window_days=data["window_days"],
                                  recency_days=data["recency_days"], frequency=data["frequency"],
                                  monetary=data["monetary"])
        obj.updated_at, obj.updated_by = saved.updated_at, saved.updated_by

    def response_change(self, request, obj):
        self.message_user(request, gettext("The RFM settings are saved; the next run uses them."),
                          messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:mall_rfmrun_changelist"))


def _counts_html(counts: dict):
    return format_html_join(", ", "{}: {}", ((Segment(code).label, counts.get(code, 0))
                                            for code in Segment.values if counts.get(code)))


@admin.register(RfmRun)
class RfmRunAdmin(RunTaskAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    """Runs newest first; the dashboard above the list is the latest run."""
    run_task = "mall.rfm"
    run_permission = "mall.run_rfm"
    run_failed_message = _("The RFM scoring could not be started: the task queue is not reachable.")
    run_started_message = _("The RFM scoring has started; today's run appears here when it finishes.")

    list_display = ("day", "members_scored", "members_active", "recency_threshold", "frequency_threshold",
                    "monetary_threshold", "segment_counts", "finished_at")
    date_hierarchy = "day"
    fields = readonly_fields = ("day", "window_days", "recency_threshold", "frequency_threshold",
                                "monetary_threshold", "medians_used", "members_scored", "members_active",
                                "segment_counts", "previous_day", "started_at", "finished_at")
    change_list_template = "admin/mall/rfmrun/change_list.html"

    @admin.display(description=_("segment counts"))
    def segment_counts(self, obj):
        return _counts_html(obj.counts) or "-"

    @admin.display(description=_("medians used"))
    def medians_used(self, obj):
        names = {"recency": _("recency"), "frequency": _("frequency"), "monetary": _("monetary")}
        used = [str(names[key]) for key, median in obj.medians.items() if median and key in names]
        return ", ".join(used) or "-"

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            **segments_context(),
            "can_run": self.has_run_permission(request),
            "can_edit_settings": request.user.has_perm("mall.change_rfmsettings"),
        }
        return super().changelist_view(request, extra_context)


def segments_context() -> dict:
    """The latest run's counts by segment name and its movement from the run before, for
    ``admin/mall/_rfm_section.html`` (the RFM page and the landing dashboard)."""
    latest, previous = rfm.latest_runs()
    return {
        "latest": latest,
        "previous": previous,
        "latest_counts": [(Segment(code).label, latest.counts.get(code, 0)) for code in Segment.values]
        if latest else [],
        "movement": rfm.movement_table(latest) if latest and latest.previous_day else None,
    }


@admin.register(RfmScore)
class RfmScoreAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("member", "run", "recency_days", "frequency", "monetary", "r_score", "f_score",
                    "m_score", "segment_name")
    list_filter = (("run", admin.RelatedOnlyFieldListFilter), "segment", "r_score", "f_score", "m_score")
    list_select_related = ("member", "run")
    search_fields = ("member__username", "member__nickname", "member__phone")
    fields = readonly_fields = ("run", "member", "recency_days", "frequency", "monetary", "r_score",
                                "f_score", "m_score", "segment_name")

    @admin.display(description=_("RFM segment"), ordering="segment")
    def segment_name(self, obj):
        return segment_label(obj.segment)
