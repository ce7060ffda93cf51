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


class PersonalDataAdminMixin:
    """Personal data (``common.pii``'s encrypted fields) in an admin.

    - Search: a search field naming an encrypted field (``phone``, ``member__phone``) matches the
      whole search text exactly through the field's blind index; the ciphertext is never searched.
    - ``pii_fields`` (field name -> mask function) are shown masked in the list and, read-only,
      on the change page, unless the user holds ``mall.view_personal_data``. With it they are
      shown (and editable on the change page), and every such view is an ACCESS audit record:
      one per change page, one per list page naming the rows shown.
    """

    pii_fields: dict = {}

    # -- search

    def _encrypted_search_paths(self, request):
        from django.contrib.admin.utils import get_fields_from_path

        from common import pii

        paths = []
        for name in super().get_search_fields(request):
            if name[:1] in "=^@":
                continue
            try:
                fields = get_fields_from_path(self.model, name)
            except Exception:  # noqa: BLE001 - not a field path: left to the admin
                continue
            field = fields[-1]
            if isinstance(field, pii.EncryptedFieldMixin):
                index = pii.index_field_name(field.model, field.name)
                if index:
                    prefix = name.rpartition("__")[0]
                    paths.append((f"{prefix}__{index}" if prefix else index, field))
                else:
                    paths.append((None, field))
        return paths

    def get_search_fields(self, request):
        encrypted = {field for _path, field in self._encrypted_search_paths(request)}
        if not encrypted:
            return super().get_search_fields(request)
        from django.contrib.admin.utils import get_fields_from_path

        kept = []
        for name in super().get_search_fields(request):
            try:
                last = get_fields_from_path(self.model, name.lstrip("=^@"))[-1]
            except Exception:  # noqa: BLE001
                last = None
            if last not in encrypted:
                kept.append(name)
        return kept

    def get_search_results(self, request, queryset, search_term):
        from django.db.models import Q

        from common import pii

        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return results, may_have_duplicates
        query = Q()
        for index_path, field in self._encrypted_search_paths(request):
            if index_path:
                query |= Q(**{index_path: pii.index_for(field.model, field.name, term)})
        if query:
            # With no other search field, Django's search filters nothing: the index alone.
            matched = queryset.filter(query)
            results = results | matched if self.get_search_fields(request) else matched
            may_have_duplicates = True
        return results, may_have_duplicates

    # -- masking

    def _pii_display(self, name, unmask: bool):
        from django.contrib import admin

        field = self.model._meta.get_field(name)
        mask = self.pii_fields[name]

        @admin.display(description=field.verbose_name)
        def display(obj):
            value = getattr(obj, name)
            if unmask:
                return value or "-"
            return mask(value) or "-"

        return display

    def get_list_display(self, request):
        from common import pii

        unmask = pii.can_view(request.user)
        return [self._pii_display(name, unmask) if isinstance(name, str) and name in self.pii_fields
                else name for name in super().get_list_display(request)]

    def get_list_display_links(self, request, list_display):
        links = super().get_list_display_links(request, list_display)
        if links and not any(link in list_display for link in links):
            return list_display[:1]
        return links

    def _masked_name(self, name):
        return f"{name}_masked"

    def _masked_fieldsets(self, fieldsets):
        masked = []
        for title, options in fieldsets:
            fields = [tuple(self._masked_name(n) if n in self.pii_fields else n for n in f)
                      if isinstance(f, list | tuple) else
                      (self._masked_name(f) if f in self.pii_fields else f)
                      for f in options.get("fields", ())]
            masked.append((title, {**options, "fields": fields}))
        return masked

    def __getattr__(self, name):
        # ``<field>_masked``: the read-only masked display of a personal field on a change page.
        if name.endswith("_masked") and name[:-len("_masked")] in type(self).pii_fields:
            return self._pii_display(name[:-len("_masked")], False)
        raise AttributeError(name)

    def get_fieldsets(self, request, obj=None):
        from common import pii

        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or pii.can_view(request.user):
            return fieldsets
        return self._masked_fieldsets(fieldsets)

    def get_readonly_fields(self, request, obj=None):
        from common import pii

        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and not pii.can_view(request.user):
            readonly += [self._masked_name(name) for name in self.pii_fields]
        return readonly

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from django.contrib.admin.utils import unquote

        from common import audit, pii

        response = super().change_view(request, object_id, form_url, extra_context)
        shown = request.method == "GET" and getattr(response, "status_code", 0) == 200
        if shown and self.pii_fields and pii.can_view(request.user):
            obj = self.get_object(request, unquote(object_id))
            if obj is not None:
                audit.record_access(obj, list(self.pii_fields), actor=request.user,
                                    purpose="admin change page")
        return response

    def changelist_view(self, request, extra_context=None):
        from common import audit, pii

        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        changelist = context.get("cl")
        shown = [name for name in super().get_list_display(request) if name in self.pii_fields]
        if changelist is not None and shown and pii.can_view(request.user):
            pks = [str(obj.pk) for obj in changelist.result_list]
            if pks:
                audit.record("pii.view", self.model, action=audit.Action.ACCESS, actor=request.user,
                             data={"fields": shown, "objects": pks, "purpose": "admin list"})
        return response


def guard_personal_data_search(site) -> None:
    """Give every admin of ``site`` whose search fields reach an encrypted field (also the
    packages' own, such as django-otp's devices searching ``user__email``) the blind-index search
    of ``PersonalDataAdminMixin``: a lookup on ciphertext would be an error page. Called once the
    admins are registered (``mall.apps``)."""
    from django.contrib.admin.utils import get_fields_from_path

    from common import pii

    for model, model_admin in site._registry.items():
        if isinstance(model_admin, PersonalDataAdminMixin):
            continue
        for name in model_admin.search_fields:
            try:
                field = get_fields_from_path(model, name.lstrip("=^@"))[-1]
            except Exception:  # noqa: BLE001 - not a field path: left to the admin
                continue
            if isinstance(field, pii.EncryptedFieldMixin):
                cls = type(model_admin)
                model_admin.__class__ = type(cls.__name__, (PersonalDataAdminMixin, cls),
                                             {"__module__": cls.__module__})
                break


class PersonalDataResourceMixin:
    """A django-import-export resource whose ``pii_fields`` (column -> mask function) are
    exported masked unless it is made with ``unmask=True`` (``PersonalDataExportMixin`` does so
    for staff holding ``mall.view_personal_data``)."""

    pii_fields: dict = {}

    def __init__(self, *args, unmask: bool = False, **kwargs):
        self.unmask = unmask
        super().__init__(*args, **kwargs)

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        mask = self.pii_fields.get(self.get_field_name(field))
        if mask is not None and not self.unmask:
            return mask(value)
        return value


class PersonalDataExportMixin:
    """An export (django-import-export's ``ExportMixin``) of a ``PersonalDataResourceMixin``
    resource: unmasked for staff with ``mall.view_personal_data``, and then an ACCESS audit
    record naming the rows exported."""

    def get_export_resource_kwargs(self, request, **kwargs):
        from common import pii

        return {**super().get_export_resource_kwargs(request, **kwargs), "unmask": pii.can_view(request.user)}

    def get_data_for_export(self, request, queryset, **kwargs):
        from common import audit, pii

        data = super().get_data_for_export(request, queryset, **kwargs)
        fields = sorted({name for resource in self.get_export_resource_classes(request)
                         for name in getattr(resource, "pii_fields", {})})
        if fields and pii.can_view(request.user):
            pks = [str(pk) for pk in queryset.values_list("pk", flat=True)]
            audit.record("pii.view", self.model, action=audit.Action.ACCESS, actor=request.user,
                         data={"fields": fields, "objects": pks, "purpose": "admin export"})
        return data
