"""Admin mixins shared by every app's ``admin.py``."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext


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


class AllOrNothingImport:
    """django-import-export, all or nothing: invalid rows roll the whole file back at the
    confirm step too (the data may have changed between the preview and the confirmation),
    and a file with any row in error imports nothing. Shared by the rules and catalog admins."""

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
