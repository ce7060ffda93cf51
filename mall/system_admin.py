"""系统 / System: django-celery-beat's schedule tables, re-registered in the console's theme
(its own admins extend Django's plain ``ModelAdmin``), and the audit log of staff changes."""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.utils.translation import gettext_lazy as _
from django_celery_beat.admin import ClockedScheduleAdmin as BaseClockedScheduleAdmin
from django_celery_beat.admin import CrontabScheduleAdmin as BaseCrontabScheduleAdmin
from django_celery_beat.admin import PeriodicTaskAdmin as BasePeriodicTaskAdmin
from django_celery_beat.admin import PeriodicTaskForm, TaskSelectWidget
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from common.admin import ModelAdmin, ReadOnlyAdminMixin

for model in (PeriodicTask, IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule):
    admin.site.unregister(model)


class ThemedTaskSelectWidget(UnfoldAdminSelectWidget, TaskSelectWidget):
    pass


class ThemedPeriodicTaskForm(PeriodicTaskForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["task"].widget = UnfoldAdminTextInputWidget()
        self.fields["regtask"].widget = ThemedTaskSelectWidget()


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BasePeriodicTaskAdmin, ModelAdmin):
    form = ThemedPeriodicTaskForm


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(ModelAdmin):
    pass


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(BaseCrontabScheduleAdmin, ModelAdmin):
    pass


@admin.register(SolarSchedule)
class SolarScheduleAdmin(ModelAdmin):
    pass


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(BaseClockedScheduleAdmin, ModelAdmin):
    pass


@admin.register(LogEntry)
class AuditLogAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Every change staff made through the console: who, when, what and the message Django wrote
    (in the reader's language: ``get_change_message`` translates the stored JSON)."""

    list_display = ("action_time", "user", "content_type", "object_repr", "action_flag", "change")
    list_filter = ("action_flag", "content_type", "action_time")
    search_fields = ("object_repr", "user__username", "change_message")
    date_hierarchy = "action_time"
    list_select_related = ("user", "content_type")

    @admin.display(description=_("change"))
    def change(self, entry):
        return entry.get_change_message()


# django-axes' sign-in records, in the theme too (when axes registered them: AXES_ENABLE_ADMIN).
for model, base in ((AccessAttempt, AccessAttemptAdmin), (AccessLog, AccessLogAdmin),
                    (AccessFailureLog, AccessFailureLogAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
        admin.site.register(model, type(base.__name__, (base, ModelAdmin), {}))
