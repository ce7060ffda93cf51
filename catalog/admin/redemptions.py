"""Redemption orders in the admin: read-only, moved by the actions and the buttons on a
redemption's page through ``catalog.services.fulfil``/``complete``/``cancel``, each refusal a
message. ``change_redemption`` allows fulfilling and completing, ``cancel_redemption`` cancelling."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from catalog import selectors, services
from catalog.admin.base import admin_url
from catalog.errors import CatalogError
from catalog.forms import (
    CancelRedemptionForm,
    TrackingNumbersForm,
)
from catalog.models import (
    CouponCode,
    Redemption,
    RedemptionStatus,
)
from common import pii
from common.admin import ModelAdmin, PersonalDataAdminMixin, ReadOnlyAdminMixin
from points.errors import LedgerError

REDEMPTION_FIELDS = (
    (None, {"fields": ("member", "product", "quantity", "points", "welcome_discount", "cash", "status",
                       "codes_display")}),
    (_("Shipping"), {"fields": ("address", "tracking_number")}),
    (_("Timeline"), {"fields": ("created_at", ("fulfilled_at", "fulfilled_by"),
                                ("completed_at", "completed_by"), "cancelled_at", "cancel_reason")}),
    (_("Ledger"), {"fields": ("key", "entry", "refund_entry")}),
)


class PriorityFilter(admin.SimpleListFilter):
    """High-value members' physical redemptions waiting to ship (``selectors.with_priority``)."""

    title = _("priority")
    parameter_name = "priority"

    def lookups(self, request, model_admin):
        return [("yes", _("Priority")), ("no", _("Not priority"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(priority=self.value() == "yes")
        return queryset


@admin.register(Redemption)
class RedemptionAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    """Redemption orders, read-only; staff move them with the actions and the buttons on a
    redemption's page (``catalog.services.fulfil``/``complete``/``cancel``)."""

    change_form_template = "admin/catalog/redemption/change_form.html"
    list_display = ("id", "priority_display", "member", "product", "quantity", "points", "status",
                    "codes_display", "created_at")
    list_display_links = ("id", "product")
    list_filter = (PriorityFilter, "status", ("product", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("member", "product")
    search_fields = ("member__username", "member__nickname", "member__phone", "member__external_id")
    search_help_text = _("Search by member: username, nickname, phone or shop user id.")
    pii_fields = {"address": pii.mask_address}
    date_hierarchy = "created_at"
    fieldsets = REDEMPTION_FIELDS
    readonly_fields = [name for _title, options in REDEMPTION_FIELDS for entry in options["fields"]
                       for name in ((entry,) if isinstance(entry, str) else entry)]
    actions = ["fulfil_redemptions", "complete_redemptions", "cancel_redemptions"]

    def get_queryset(self, request):
        codes = Prefetch("codes", queryset=CouponCode.objects.order_by("id"))
        return selectors.with_priority(super().get_queryset(request).prefetch_related(codes))

    def get_ordering(self, request):
        # The fulfilment queue: high-value members' parcels first, then oldest first. An
        # expression, not the annotation's name: other admins order their redemption choices
        # with it too.
        return (selectors.priority().desc(), "created_at", "id")

    @admin.display(description=_("priority"), ordering="priority")
    def priority_display(self, obj):
        if not obj.priority:
            return ""
        return format_html('<span style="background:#ba2121;color:#fff;border-radius:3px;padding:1px 6px;'
                           'white-space:nowrap">{}</span>', _("priority"))

    @admin.display(description=_("code(s)"))
    def codes_display(self, obj):
        return ", ".join(code.code for code in obj.codes.all()) or "-"

    # Permissions: never edited as a form; moving states has its own permissions.


    def has_fulfil_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.change_redemption")

    def has_cancel_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.cancel_redemption")

    # The transitions, shared by the actions and the buttons.

    def _move(self, request, redemptions, call, done_message) -> int:
        """Apply ``call(redemption)`` to each; refusals become error messages (never a 500)."""
        done = 0
        for redemption in redemptions:
            try:
                call(redemption)
            except (CatalogError, LedgerError) as error:
                self.message_user(request, gettext("#%(id)s: %(reason)s") % {"id": redemption.pk,
                                                                             "reason": error.message},
                                  messages.ERROR)
                continue
            done += 1
            self.log_change(request, redemption, done_message(redemption))
        return done

    def _fulfil(self, request, pairs) -> int:
        def call(redemption):
            tracking = dict(pairs)[redemption]
            services.fulfil(redemption, staff=request.user, tracking_number=tracking)

        def log(redemption):
            tracking = dict(pairs)[redemption]
            if not tracking:
                return gettext("Marked fulfilled.")
            return gettext("Marked fulfilled, tracking number %(number)s.") % {"number": tracking}

        done = self._move(request, [redemption for redemption, _tracking in pairs], call, log)
        if done:
            self.message_user(request, ngettext("Marked %(count)d redemption fulfilled.",
                                                "Marked %(count)d redemptions fulfilled.", done)
                              % {"count": done}, messages.SUCCESS)
        return done

    def _complete(self, request, redemptions) -> int:
        done = self._move(request, redemptions,
                          lambda redemption: services.complete(redemption, staff=request.user),
                          lambda redemption: gettext("Completed."))
        if done:
            self.message_user(request, ngettext("Completed %(count)d redemption.",
                                                "Completed %(count)d redemptions.", done)
                              % {"count": done}, messages.SUCCESS)
        return done

    def _cancel(self, request, redemptions, reason) -> int:
        done = self._move(request, redemptions,
                          lambda redemption: services.cancel(redemption, reason=reason, staff=request.user),
                          lambda redemption: gettext("Cancelled: %(reason)s") % {"reason": reason})
        if done:
            self.message_user(request, ngettext(
                "Cancelled %(count)d redemption; the points and the stock are returned.",
                "Cancelled %(count)d redemptions; the points and the stock are returned.", done,
            ) % {"count": done}, messages.SUCCESS)
        return done

    def _transition_page(self, request, *, title, redemptions, form, submit, action=None, selected=(),
                         back=None):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "redemptions": redemptions,
            "form": form,
            "submit_label": submit,
            "action": action,  # set when the page posts back to the changelist's action
            "selected": selected,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "back_url": back or admin_url(Redemption, "changelist"),
        }
        return TemplateResponse(request, "admin/catalog/redemption/transition.html", context)

    # Changelist actions.

    @admin.action(description=_("Mark fulfilled (shipped, tracking number)…"), permissions=["fulfil"])
    def fulfil_redemptions(self, request, queryset):
        redemptions = list(queryset.order_by("id"))
        form = TrackingNumbersForm(request.POST if "apply" in request.POST else None, redemptions=redemptions)
        if form.is_bound and form.is_valid():
            self._fulfil(request, form.tracking_numbers())
            return None
        return self._transition_page(request, title=gettext("Mark redemptions fulfilled"), redemptions=[],
                                     form=form, submit=gettext("Mark fulfilled"), action="fulfil_redemptions",
                                     selected=redemptions)

    @admin.action(description=_("Complete"), permissions=["fulfil"])
    def complete_redemptions(self, request, queryset):
        self._complete(request, list(queryset.order_by("id")))

    @admin.action(description=_("Cancel (reason)…"), permissions=["cancel"])
    def cancel_redemptions(self, request, queryset):
        redemptions = list(queryset.order_by("id"))
        form = CancelRedemptionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._cancel(request, redemptions, form.cleaned_data["reason"])
            return None
        return self._transition_page(request, title=gettext("Cancel redemptions"), redemptions=redemptions,
                                     form=form, submit=gettext("Cancel the redemptions"),
                                     action="cancel_redemptions", selected=redemptions)

    # The buttons on a redemption's page.

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view(self.transition_view)
        return [
            path("<int:redemption_id>/move/<slug:operation>/", view, name=f"{prefix}_transition"),
            *super().get_urls(),
        ]

    def transition_view(self, request, redemption_id, operation):
        if operation not in ("fulfil", "complete", "cancel"):
            raise Http404
        allowed = self.has_cancel_permission(request) if operation == "cancel" else \
            self.has_fulfil_permission(request)
        if not allowed:
            raise PermissionDenied
        redemption = self.get_object(request, str(redemption_id))
        if redemption is None:
            raise Http404
        back = admin_url(Redemption, "change", redemption.pk)
        posted = request.POST if request.method == "POST" else None
        if operation == "fulfil":
            form = TrackingNumbersForm(posted, redemptions=[redemption])
            if posted is not None and form.is_valid():
                self._fulfil(request, form.tracking_numbers())
                return HttpResponseRedirect(back)
            title, submit = gettext("Mark redemption fulfilled"), gettext("Mark fulfilled")
            shown = []
        elif operation == "cancel":
            form = CancelRedemptionForm(posted)
            if posted is not None and form.is_valid():
                self._cancel(request, [redemption], form.cleaned_data["reason"])
                return HttpResponseRedirect(back)
            title, submit = gettext("Cancel redemption"), gettext("Cancel the redemption")
            shown = [redemption]
        else:
            form = None
            if posted is not None:
                self._complete(request, [redemption])
                return HttpResponseRedirect(back)
            title, submit = gettext("Complete redemption"), gettext("Complete")
            shown = [redemption]
        return self._transition_page(request, title=title, redemptions=shown, form=form, submit=submit,
                                     back=back)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            buttons = []  # (label, url)
            if obj.status == RedemptionStatus.CREATED and self.has_fulfil_permission(request):
                buttons.append((gettext("Mark fulfilled…"), self._transition_url(obj, "fulfil")))
            if obj.status == RedemptionStatus.FULFILLED and self.has_fulfil_permission(request):
                buttons.append((gettext("Complete…"), self._transition_url(obj, "complete")))
            if obj.status == RedemptionStatus.CREATED and self.has_cancel_permission(request):
                buttons.append((gettext("Cancel…"), self._transition_url(obj, "cancel")))
            context["redemption_buttons"] = buttons
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _transition_url(self, obj, operation):
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_transition",
                       args=[obj.pk, operation], current_app=self.admin_site.name)


