"""The rule-set page: one page per version with its tables as inlines, its history, the release
actions and buttons, and the links to the preview pages (``rules.preview``).

Saving goes through ``rules.services`` (``create_draft``, ``save_rows``, ``save_draft``); the
release actions need ``rules.publish_ruleset`` and show the services' refusals as messages.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from common.admin import ModelAdmin
from rules import services, simulation
from rules.admin.history import RuleSetEventInline
from rules.admin.tables import (
    BehaviourRuleInline,
    CategoryBonusInline,
    CheckInStepInline,
    SpendTierInline,
    TierRuleInline,
)
from rules.diff import diff_rule_sets
from rules.errors import RuleSetError, RuleSetLocked
from rules.forms import GrayReleaseForm, RuleSetForm, RuleTableFormSet
from rules.models import RuleSet, RuleSetStatus
from rules.resources import RESOURCES
from rules.segments import segment_label
from rules.tiers import tier_name

PREVIEWABLE = (RuleSetStatus.DRAFT, RuleSetStatus.CANDIDATE)


POLICY_FIELDSETS = (
    (None, {"fields": ("name", "notes")}),
    (_("Earning"), {"fields": ("base_points_per_yuan", "max_points_per_order"),
                    "description": _("Tier multipliers, category bonuses and spend tiers are in the "
                                     "tables below.")}),
    (_("Behaviours and caps"), {"fields": ("daily_behaviour_cap",),
                                "description": _("Points per action and the check-in streak are in the "
                                                 "tables below.")}),
    (_("Pending, expiry and reminders"), {"fields": ("pending_days", "expiry_months", "reminder_days")}),
    (_("Redemption"), {"fields": ("redemption_points_per_yuan", "redemption_max_percent",
                                  "redemption_min_points")}),
    (_("Lifecycle campaigns"), {"fields": ("new_member_days", "new_member_redemption_discount",
                                           "inactive_days", "wakeup_points", "wakeup_cooldown_days")}),
    (_("Tiers"), {"fields": ("tier_window_days", "tier_grace_days")}),
)
RELEASE_FIELDSET = (_("Version and release"), {
    "fields": ("version", "status", "gray_percent_display", "gray_tiers_display", "cloned_from"),
})
AUDIT_FIELDSET = (_("Who and when"), {
    "fields": (("created_by", "created_at"), ("updated_by", "updated_at"), ("published_by", "published_at")),
})


def _short_date(moment) -> str:
    return date_format(timezone.localtime(moment), "SHORT_DATE_FORMAT") if moment else "-"


@admin.register(RuleSet)
class RuleSetAdmin(ModelAdmin):
    form = RuleSetForm
    change_form_template = "admin/rules/ruleset/change_form.html"
    # Fits 1280 px: the gray cohort in one column, who published or edited last without the times
    # of day (the page has them).
    list_display = ("version", "name", "status", "gray_display", "published_by", "published_on",
                    "updated_by", "updated_on")
    list_display_links = ("version", "name")
    list_filter = ("status",)
    list_select_related = ("published_by", "updated_by")
    search_fields = ("name", "notes")
    readonly_fields = ("version", "status", "gray_percent_display", "gray_tiers_display", "cloned_from",
                       "created_by", "created_at", "updated_by", "updated_at", "published_by", "published_at")
    inlines = [TierRuleInline, CategoryBonusInline, SpendTierInline, BehaviourRuleInline, CheckInStepInline,
               RuleSetEventInline]
    actions = ["clone_as_draft", "start_gray_release", "widen_gray_release", "publish_to_all",
               "stop_gray_release", "roll_back"]

    # Columns and read-only fields.

    @admin.display(description=_("gray percentage"))
    def gray_percent_display(self, obj):
        return f"{obj.gray_percent}%" if obj.status == RuleSetStatus.CANDIDATE else "-"

    @admin.display(description=_("gray tiers"))
    def gray_tiers_display(self, obj):
        """The cohort's tiers, then its RFM segments, by name."""
        names = [tier_name(tier) for tier in obj.gray_tiers]
        names += [segment_label(code) for code in obj.gray_segments]
        return ", ".join(str(name) for name in names) or "-"

    @admin.display(description=_("gray release"))
    def gray_display(self, obj):
        if obj.status != RuleSetStatus.CANDIDATE:
            return "-"
        tiers = self.gray_tiers_display(obj)
        return f"{obj.gray_percent}%" + (f" + {tiers}" if obj.gray_tiers or obj.gray_segments else "")

    @admin.display(description=_("published on"), ordering="published_at")
    def published_on(self, obj):
        return _short_date(obj.published_at)

    @admin.display(description=_("last edited on"), ordering="updated_at")
    def updated_on(self, obj):
        return _short_date(obj.updated_at)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return POLICY_FIELDSETS
        return (RELEASE_FIELDSET, *POLICY_FIELDSETS, AUDIT_FIELDSET)

    def get_inlines(self, request, obj):
        if obj is None:
            return [inline for inline in self.inlines if inline is not RuleSetEventInline]
        return self.inlines

    # Permissions: only drafts change; releasing is a separate permission.

    def has_change_permission(self, request, obj=None):
        if obj is not None and not services.is_editable(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not services.is_editable(obj):
            return False
        return super().has_delete_permission(request, obj)

    def has_publish_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.publish_ruleset")

    def get_actions(self, request):
        actions = super().get_actions(request)
        # The bulk delete does not look at each row's status; drafts are deleted one at a time.
        actions.pop("delete_selected", None)
        return actions

    # Saving: through rules.services.

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except RuleSetLocked as error:
            # Released by someone else between loading the page and saving it: nothing was saved
            # (the admin's transaction rolled back).
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.path)

    def save_model(self, request, obj, form, change):
        if change:
            return  # written with its rows by save_related, in one save_draft
        draft = services.create_draft(
            actor=request.user, **{name: getattr(obj, name) for name in form.cleaned_data
                                   if name in services.POLICY_FIELDS}
        )
        # The admin saves the inlines against ``obj``: make it the created draft.
        for field in RuleSet._meta.concrete_fields:
            setattr(obj, field.attname, getattr(draft, field.attname))
        obj._state.adding, obj._state.db = False, draft._state.db

    def save_related(self, request, form, formsets, change):
        form.save_m2m()
        rows, deleted = [], []
        for formset in formsets:
            if isinstance(formset, RuleTableFormSet):
                saved, removed = formset.changes()
                rows += saved
                deleted += removed
            else:  # the read-only history: nothing to save, nothing for the change message
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if not change:
            services.save_rows(form.instance, rows)  # create_draft wrote the history row
            return
        # Saving without a change writes nothing and is not an edit. A version released since
        # the page was loaded is refused here (RuleSetLocked, shown by changeform_view).
        services.save_draft(
            form.instance, actor=request.user, rows=rows, deleted=deleted,
            fields={name: getattr(form.instance, name) for name in form.changed_data
                    if name in services.POLICY_FIELDS},
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _page_context(self, request, obj):
        info = self.opts.app_label, self.opts.model_name

        def url(name, *args):
            return reverse(f"admin:{info[0]}_{info[1]}_{name}", args=[obj.pk, *args],
                           current_app=self.admin_site.name)

        buttons = []  # (label, url, method)
        if self.has_add_permission(request):
            buttons.append((_("Clone as draft"), url("release", "clone"), "post"))
        if self.has_publish_permission(request):
            if obj.status == RuleSetStatus.DRAFT:
                buttons.append((_("Start gray release…"), url("gray_release"), "get"))
            if obj.status == RuleSetStatus.CANDIDATE:
                buttons.append((_("Widen gray release…"), url("gray_release"), "get"))
            # Each leads to its confirmation page (what changes, its cost, the cohort).
            if obj.status in PREVIEWABLE:
                buttons.append((_("Publish to all…"), url("release", "publish"), "get"))
            if obj.status == RuleSetStatus.CANDIDATE:
                buttons.append((_("Stop gray release…"), url("release", "stop-gray"), "get"))
            if obj.status == RuleSetStatus.PUBLISHED:
                buttons.append((_("Roll back to the previous version…"), url("release", "roll-back"), "get"))
        previews = []
        if obj.status in PREVIEWABLE:
            previews = [(_("Try an order"), url("try_order")), (_("Simulate"), url("simulate"))]
        tables = [
            (model._meta.verbose_name_plural,
             reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist",
                     current_app=self.admin_site.name) + f"?rule_set__id__exact={obj.pk}")
            for model in RESOURCES
        ]
        return {
            "rule_set_buttons": buttons,
            "rule_set_previews": previews,
            "rule_set_tables": tables,
            "rule_set_gray_tiers": self.gray_tiers_display(obj),
            "rule_set_same_editor": obj.status in PREVIEWABLE and obj.updated_by_id == request.user.pk
            and self.has_publish_permission(request),
        }

    # Release operations, shared by the changelist actions and the buttons on the change page.

    def _attempt(self, request, call):
        """Run a service call; a refusal becomes an error message (never a 500)."""
        try:
            return call()
        except RuleSetError as error:
            self.message_user(request, gettext("Refused: %(reason)s") % {"reason": error.message},
                              messages.ERROR)
            return None

    def _clone(self, request, rule_set):
        draft = self._attempt(request, lambda: services.clone_as_draft(rule_set, actor=request.user))
        if draft is not None:
            self.message_user(request, gettext("Created draft v%(new)s from v%(old)s.")
                              % {"new": draft.version, "old": rule_set.version}, messages.SUCCESS)
        return draft

    def _publish(self, request, rule_set):
        done = self._attempt(request, lambda: services.publish(rule_set, actor=request.user))
        if done is not None:
            self.message_user(request, gettext("v%(version)s is now published to all members.")
                              % {"version": done.version}, messages.SUCCESS)
        return done

    def _stop_gray(self, request, rule_set):
        done = self._attempt(request, lambda: services.stop_gray(rule_set, actor=request.user))
        if done is not None:
            self.message_user(request, gettext("Stopped the gray release of v%(version)s.")
                              % {"version": done.version}, messages.SUCCESS)
        return done

    def _roll_back(self, request, rule_set):
        if rule_set.status != RuleSetStatus.PUBLISHED:
            self.message_user(request, gettext("Only the published version can be rolled back."),
                              messages.ERROR)
            return None
        restored = self._attempt(request, lambda: services.roll_back(actor=request.user))
        if restored is not None:
            self.message_user(request, gettext("Rolled back v%(old)s; v%(new)s is published again.")
                              % {"old": rule_set.version, "new": restored.version}, messages.SUCCESS)
        return restored

    def _one(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Select exactly one rule set for this action."),
                              messages.WARNING)
            return None
        return queryset.get()

    def _change_url(self, rule_set):
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[rule_set.pk],
                       current_app=self.admin_site.name)

    def _gray_url(self, rule_set):
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_gray_release",
                       args=[rule_set.pk], current_app=self.admin_site.name)

    @admin.action(description=_("Clone as draft"), permissions=["add"])
    def clone_as_draft(self, request, queryset):
        drafts = [self._clone(request, rule_set) for rule_set in queryset.order_by("version")]
        drafts = [draft for draft in drafts if draft is not None]
        if len(drafts) == 1:
            return HttpResponseRedirect(self._change_url(drafts[0]))
        return None

    @admin.action(description=_("Start gray release…"), permissions=["publish"])
    def start_gray_release(self, request, queryset):
        rule_set = self._one(request, queryset)
        if rule_set is None:
            return None
        if rule_set.status != RuleSetStatus.DRAFT:
            self.message_user(request, gettext("Only a draft can start a gray release."), messages.ERROR)
            return None
        return HttpResponseRedirect(self._gray_url(rule_set))

    @admin.action(description=_("Widen gray release…"), permissions=["publish"])
    def widen_gray_release(self, request, queryset):
        rule_set = self._one(request, queryset)
        if rule_set is None:
            return None
        if rule_set.status != RuleSetStatus.CANDIDATE:
            self.message_user(request, gettext("Only the version in gray release can be widened."),
                              messages.ERROR)
            return None
        return HttpResponseRedirect(self._gray_url(rule_set))

    def _confirm_url(self, rule_set, operation):
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_release",
                       args=[rule_set.pk, operation], current_app=self.admin_site.name)

    @admin.action(description=_("Publish to all…"), permissions=["publish"])
    def publish_to_all(self, request, queryset):
        rule_set = self._one(request, queryset)
        if rule_set is not None:
            return HttpResponseRedirect(self._confirm_url(rule_set, "publish"))
        return None

    @admin.action(description=_("Stop gray release…"), permissions=["publish"])
    def stop_gray_release(self, request, queryset):
        rule_set = self._one(request, queryset)
        if rule_set is not None:
            return HttpResponseRedirect(self._confirm_url(rule_set, "stop-gray"))
        return None

    @admin.action(description=_("Roll back to the previous version…"), permissions=["publish"])
    def roll_back(self, request, queryset):
        rule_set = self._one(request, queryset)
        if rule_set is not None:
            return HttpResponseRedirect(self._confirm_url(rule_set, "roll-back"))
        return None

    # Extra pages: the gray release form, the release buttons and the preview views.

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<int:rule_set_id>/try-order/", wrap(self._preview("try_order_view")),
                 name=f"{prefix}_try_order"),
            path("<int:rule_set_id>/simulate/", wrap(self._preview("simulate_view")),
                 name=f"{prefix}_simulate"),
            path("<int:rule_set_id>/gray-release/", wrap(self.gray_release_view),
                 name=f"{prefix}_gray_release"),
            path("<int:rule_set_id>/release/<slug:operation>/", wrap(self.release_view),
                 name=f"{prefix}_release"),
            *super().get_urls(),
        ]

    def _preview(self, name):
        def view(request, rule_set_id):
            if not self.has_view_permission(request):
                raise PermissionDenied
            # Imported here: rules.preview is written separately and may not exist yet.
            try:
                from rules import preview
            except ModuleNotFoundError as error:
                if error.name != "rules.preview":
                    raise
                raise Http404("rules.preview is not installed") from error
            return getattr(preview, name)(request, rule_set_id)

        view.__name__ = name
        return view

    def _rule_set(self, request, rule_set_id) -> RuleSet:
        rule_set = self.get_object(request, str(rule_set_id))
        if rule_set is None:
            raise Http404
        if not self.has_view_permission(request, rule_set):
            raise PermissionDenied
        return rule_set

    def release_view(self, request, rule_set_id, operation):
        """Clone (POST); publish, stop gray and roll back: GET shows the confirmation page, a POST
        with its confirm button does it (a POST without it shows the page again)."""
        rule_set = self._rule_set(request, rule_set_id)
        if operation == "clone":
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            if not self.has_add_permission(request):
                raise PermissionDenied
            result = self._clone(request, rule_set)
            return HttpResponseRedirect(self._change_url(result or rule_set))
        handler = {"publish": self._publish, "stop-gray": self._stop_gray,
                   "roll-back": self._roll_back}.get(operation)
        if handler is None:
            raise Http404
        if not self.has_publish_permission(request):
            raise PermissionDenied
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if request.method == "POST" and "confirm" in request.POST:
            result = handler(request, rule_set)
            return HttpResponseRedirect(self._change_url(result or rule_set))
        refusal = self._refusal(rule_set, operation)
        if refusal:
            self.message_user(request, refusal, messages.ERROR)
            return HttpResponseRedirect(self._change_url(rule_set))
        return self._confirmation(request, rule_set, operation)

    def _refusal(self, rule_set, operation) -> str:
        """Why the operation cannot even be confirmed (the services check again on POST)."""
        if operation == "publish" and rule_set.status not in PREVIEWABLE:
            return gettext("v%(version)s is %(status)s: it cannot be published.") % {
                "version": rule_set.version, "status": rule_set.get_status_display()}
        if operation == "stop-gray" and rule_set.status != RuleSetStatus.CANDIDATE:
            return gettext("Refused: %(reason)s") % {
                "reason": gettext("v%(version)s is not in gray release.") % {"version": rule_set.version}}
        if operation == "roll-back":
            if rule_set.status != RuleSetStatus.PUBLISHED:
                return gettext("Only the published version can be rolled back.")
            if services.roll_back_target() is None:
                return gettext("Refused: %(reason)s") % {
                    "reason": gettext("There is no earlier published version to roll back to.")}
        return ""

    def _confirmation(self, request, rule_set, operation, *, percent=None, tiers=(), segments=(),  # noqa: C901
                      form=None):
        """The confirmation page: what changes (the diff against the published version), the
        simulated cost over the last 30 days, the members concerned, and who releases it."""
        published = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()
        old, new, cost_of, reverse_cost, cohort = published, rule_set, rule_set, False, None
        if operation == "roll-back":
            new = cost_of = services.roll_back_target()
        elif operation == "stop-gray":
            # Its cohort goes back to the published version.
            old, new, reverse_cost = rule_set, published, True
            percent, tiers, segments = rule_set.gray_percent, rule_set.gray_tiers, rule_set.gray_segments
        gray = percent is not None
        if gray:
            inside, total = simulation.cohort_size(percent, tiers, segments)
            cohort = {"members": inside, "total": total, "percent": percent, "now": None,
                      "tiers": ", ".join([str(tier_name(tier)) for tier in tiers]
                                         + [segment_label(code) for code in segments])}
            if operation == "gray":
                was, _total = (simulation.cohort_size(rule_set.gray_percent, rule_set.gray_tiers,
                                                      rule_set.gray_segments)
                               if rule_set.status == RuleSetStatus.CANDIDATE else (0, total))
                cohort["now"] = was
        else:
            cohort = {"members": simulation.member_count(), "all": True, "now": None}
        cost = simulation.release_cost(cost_of, days=30, percent=percent if gray else None,
                                       tiers=tiers, segments=segments, reverse=reverse_cost)
        four_eyes = operation in ("publish", "gray") and rule_set.updated_by_id == request.user.pk
        titles = {
            "publish": gettext("Publish %(rule_set)s to all members?"),
            "stop-gray": gettext("Stop the gray release of %(rule_set)s?"),
            "roll-back": gettext("Roll back %(rule_set)s?"),
            "gray": (gettext("Widen the gray release of %(rule_set)s?")
                     if rule_set.status == RuleSetStatus.CANDIDATE
                     else gettext("Start a gray release of %(rule_set)s?")),
        }
        buttons = {
            "publish": gettext("Yes, publish to all"),
            "stop-gray": gettext("Yes, stop the gray release"),
            "roll-back": gettext("Yes, roll back"),
            "gray": (gettext("Yes, widen the gray release") if rule_set.status == RuleSetStatus.CANDIDATE
                     else gettext("Yes, start the gray release")),
        }
        context = {
            **self.admin_site.each_context(request),
            "title": titles[operation] % {"rule_set": rule_set},
            "rule_set": rule_set,
            "original": rule_set,
            "opts": self.opts,
            "operation": operation,
            "change_url": self._change_url(rule_set),
            "old": old,
            "new": new,
            "sections": diff_rule_sets(old, new) if new is not None else [],
            "cost": cost,
            "cohort": cohort,
            "publisher": request.user,
            "four_eyes": four_eyes,
            "confirm_label": buttons[operation],
            # The gray release form's values, sent again with the confirm button.
            "hidden": ([("percent", percent), *(("tiers", tier) for tier in tiers),
                        *(("segments", code) for code in segments)]
                       if form is not None else []),
        }
        return TemplateResponse(request, "admin/rules/ruleset/confirm_release.html", context)

    def gray_release_view(self, request, rule_set_id):
        rule_set = self._rule_set(request, rule_set_id)
        if not self.has_publish_permission(request):
            raise PermissionDenied
        if rule_set.status not in PREVIEWABLE:
            self.message_user(request, gettext("v%(version)s is %(status)s: it cannot be gray-released.")
                              % {"version": rule_set.version, "status": rule_set.get_status_display()},
                              messages.ERROR)
            return HttpResponseRedirect(self._change_url(rule_set))
        if request.method == "POST":
            form = GrayReleaseForm(request.POST, rule_set=rule_set)
            if form.is_valid() and "confirm" not in request.POST:
                return self._confirmation(request, rule_set, "gray", percent=form.cleaned_data["percent"],
                                          tiers=form.cleaned_data["tiers"],
                                          segments=form.cleaned_data["segments"], form=form)
            if form.is_valid():
                done = self._attempt(request, lambda: services.start_gray(
                    rule_set, actor=request.user, percent=form.cleaned_data["percent"],
                    tiers=form.cleaned_data["tiers"], segments=form.cleaned_data["segments"],
                ))
                if done is not None:
                    tiers = (f" + {self.gray_tiers_display(done)}" if done.gray_tiers or done.gray_segments
                             else "")
                    message = gettext("v%(version)s is in gray release: %(percent)s%% of members%(tiers)s.")
                    message %= {"version": done.version, "percent": done.gray_percent, "tiers": tiers}
                    self.message_user(request, message, messages.SUCCESS)
                    return HttpResponseRedirect(self._change_url(done))
        else:
            initial = {}
            if rule_set.status == RuleSetStatus.CANDIDATE:
                initial = {"percent": rule_set.gray_percent, "tiers": rule_set.gray_tiers,
                           "segments": rule_set.gray_segments}
            form = GrayReleaseForm(initial=initial, rule_set=rule_set)
        widen = rule_set.status == RuleSetStatus.CANDIDATE
        context = {
            **self.admin_site.each_context(request),
            "title": (gettext("Widen the gray release of %(rule_set)s") if widen
                      else gettext("Start a gray release of %(rule_set)s")) % {"rule_set": rule_set},
            "form": form,
            "rule_set": rule_set,
            "original": rule_set,
            "opts": self.opts,
            "change_url": self._change_url(rule_set),
            "widen": widen,
            "gray_tiers": self.gray_tiers_display(rule_set),
            "same_editor": rule_set.updated_by_id == request.user.pk,
        }
        return TemplateResponse(request, "admin/rules/ruleset/gray_release.html", context)
