"""Admin mixins shared by every app's ``admin.py``."""

from __future__ import annotations

import functools
import logging

from django.apps import apps
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_POST
from import_export.admin import ExportMixin, ImportExportModelAdmin
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.contrib.import_export.forms import ExportForm, ImportForm

from common import audit

AUDITED_IDS = 200  # object ids an action's audit record lists (and how many there were)


class ModelAdmin(UnfoldModelAdmin):
    """Every console admin's base: unfold's theme, and each admin action audited once here
    (``admin.action``: which action, on which objects, by whom, from where). An action that
    answers with an intermediate page (a form, a confirmation) has done nothing yet: the POST
    that carries it out is the one recorded."""

    def get_action(self, action):
        found = super().get_action(action)
        if found is None:
            return None
        func, name, description = found
        return _audited_action(func, name), name, description


def _audited_action(func, name):
    @functools.wraps(func)
    def run(modeladmin, request, queryset):
        ids = [str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True)[:AUDITED_IDS + 1]]
        response = func(modeladmin, request, queryset)
        if not isinstance(response, TemplateResponse):
            count = len(ids) if len(ids) <= AUDITED_IDS else queryset.count()
            audit.record("admin.action", queryset.model, message=str(_action_label(func, name)),
                         data={"action": name, "objects": ids[:AUDITED_IDS], "count": count})
        return response

    return run


def _action_label(func, name):
    return getattr(func, "short_description", name)


class ReadOnlyAdminMixin:
    """Rows that only services write (ledger, history, stock movements...): the admin shows them
    but never adds, changes or deletes one. Works for a ``ModelAdmin`` and an inline alike
    (inlines pass ``obj`` to ``has_add_permission``)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RunTaskAdminMixin:
    """A POST-only "run now" on a job's runs list (``<changelist>/run/``, URL name
    ``<app>_<model>_run``): it queues ``run_task`` in the worker, never runs it in the request,
    for staff with ``run_permission``; a broker that is down is a message, not a server error."""

    run_task: str
    run_permission: str  # "app_label.codename"
    run_started_message: str
    run_failed_message: str

    def has_run_permission(self, request):
        return request.user.has_perm(self.run_permission)

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_run"
        return [
            path("run/", self.admin_site.admin_view(require_POST(self.run_view)), name=name),
            *super().get_urls(),
        ]

    def run_view(self, request):
        if not self.has_run_permission(request):
            raise PermissionDenied
        from celery import current_app

        try:
            current_app.send_task(self.run_task)
        except Exception:  # the broker is down: say so instead of a server error
            logging.getLogger(type(self).__module__).exception("could not queue %s", self.run_task)
            self.message_user(request, self.run_failed_message, messages.ERROR)
        else:
            audit.record("admin.run_task", self.model, data={"task": self.run_task})
            self.message_user(request, self.run_started_message, messages.SUCCESS)
        return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))


class AuditedExportMixin:
    """Each CSV/XLSX export is audited (``admin.export``: model, rows, format): exports carry
    members' data out of the console."""

    def get_export_data(self, file_format, request, queryset, **kwargs):
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        audit.record("admin.export", self.model, action=audit.Action.ACCESS,
                     data={"rows": queryset.count(), "format": type(file_format).__name__.lower()})
        return data


class ImportExportAdmin(AuditedExportMixin, ModelAdmin, ImportExportModelAdmin):
    """An admin with CSV/XLSX import and export, in the console's theme (unfold's forms). Each
    import that went in is audited (``admin.import``: model, file name, rows new / updated /
    deleted / skipped)."""

    import_form_class = ImportForm
    export_form_class = ExportForm

    def process_dataset(self, dataset, form, request, **kwargs):
        result = super().process_dataset(dataset, form, request, **kwargs)
        if not (result.has_errors() or result.has_validation_errors()):
            totals = {kind: result.totals.get(kind, 0) for kind in ("new", "update", "delete", "skip")}
            audit.record("admin.import", self.model, action=audit.Action.CREATE,
                         message=form.cleaned_data.get("original_file_name") or "",
                         data={"file": form.cleaned_data.get("original_file_name") or "", **totals})
        return result


class ExportAdmin(AuditedExportMixin, ExportMixin, ModelAdmin):
    """An admin with CSV/XLSX export only, in the console's theme."""

    export_form_class = ExportForm


class AllOrNothingImport:
    """django-import-export, all or nothing: invalid rows roll the whole file back at the
    confirm step too (the data may have changed between the preview and the confirmation),
    and a file with any row in error imports nothing. Shared by the rules and catalog admins."""

    import_error_display = ("message",)  # the row's error, never a traceback, to an operator

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs["rollback_on_validation_errors"] = True
        return kwargs

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            self.message_user(request, gettext("Nothing was imported: the file has rows in error; "
                                               "import it again to see them."), messages.ERROR)
            return HttpResponseRedirect(reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_import", current_app=self.admin_site.name
            ))
        return super().process_result(result, request)


# Permission rows store their names in English when migrations create them; the admin shows them
# in the reader's language instead: Django's four per model, and our own (``Meta.permissions``,
# whose names are in the catalog).
_BUILT_IN_PERMISSIONS = {
    "add": gettext_noop("Can add %(model)s"),
    "change": gettext_noop("Can change %(model)s"),
    "delete": gettext_noop("Can delete %(model)s"),
    "view": gettext_noop("Can view %(model)s"),
}


def permission_label(permission) -> str:
    """``app | model | permission`` for a permission checkbox or list, in the active language."""
    content_type = permission.content_type
    model = content_type.model_class()
    model_name = str(model._meta.verbose_name) if model is not None else content_type.model
    try:
        app_name = str(apps.get_app_config(content_type.app_label).verbose_name)
    except LookupError:
        app_name = content_type.app_label
    action = permission.codename.split("_", 1)[0]
    if action in _BUILT_IN_PERMISSIONS and permission.codename == f"{action}_{content_type.model}":
        name = gettext(_BUILT_IN_PERMISSIONS[action]) % {"model": model_name}
    else:
        name = gettext(permission.name)
    return f"{app_name} | {model_name} | {name}"


class TranslatedPermissionsMixin:
    """Labels the ``permissions`` / ``user_permissions`` choices with ``permission_label``."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name in ("permissions", "user_permissions") and field is not None:
            field.queryset = field.queryset.select_related("content_type")
            field.label_from_instance = permission_label
        return field
