"""The reward-plan page: one page per version, versioned like the rule sets (``rules.admin``).

Only drafts are edited; a published or retired plan is shown read-only (clone it to change it)
and no plan is deleted (its history and the orders rewarded under it keep referring to it).
Every write goes through ``referrals.services.plans``: adding creates a draft with
``create_draft``, saving a draft hands its changed fields to ``save_draft`` (which locks it,
refuses it if it was published meanwhile, validates it and records the edit), and the clone and
publish buttons and actions call ``clone_as_draft`` and ``publish``. The form checks the
guardrails first (``referrals.forms``), so a plan that breaks one is refused field by field.
Publishing needs ``referrals.publish_rewardplan``, and the person who last edited a draft cannot
publish it (four eyes): the services' refusals are shown as error messages, never a 500.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from common.admin import ModelAdmin, ReadOnlyAdminMixin
from referrals.errors import PlanError
from referrals.forms import RewardPlanForm
from referrals.models import SHARE_FIELDS, PlanStatus, RewardPlan, RewardPlanEvent
from referrals.services import plans

PLAN_FIELDSETS = (
    (None, {"fields": ("name", "notes")}),
    (_("Budget and shares"), {
        "fields": ("own_order_budget_percent", "direct_share", "team_share", "same_level_share",
                   "buyer_share", "merchant_share", "total_share_display"),
        # xgettext:no-python-format
        "description": _("Each order funds a reward budget: for a merchant's order, the merchant's "
                         "rebate (让利); for the mall's own orders, the budget % below. The shares are "
                         "percentages of this budget and add up to at most 100%."),
    }),
    (_("Levels and teams (链动3+1)"), {"fields": ("max_levels", "upgrade_threshold", "slide_keep")}),
    (_("Limits and exclusions"), {"fields": ("repurchase_points", "rotation", "daily_cap_per_member",
                                             "cap_per_order", "excluded_categories")}),
)
RELEASE_FIELDSET = (_("Version"), {"fields": ("version", "status")})
AUDIT_FIELDSET = (_("Who and when"), {
    "fields": (("created_by", "created_at"), ("updated_by", "updated_at"), ("published_by", "published_at")),
})
AUDIT_FIELDS = ("version", "status", "created_by", "created_at", "updated_by", "updated_at",
                "published_by", "published_at")
READONLY_FIELDS = (*AUDIT_FIELDS, "total_share_display")


def _percent(value) -> str:
    return f"{value.normalize():f}%"  # 30.00 -> "30%", 12.50 -> "12.5%"


def _when_by(moment, who):
    if moment is None:
        return "-"
    by = gettext("by %(name)s") % {"name": who} if who is not None else ""
    return format_html('{}<br><small>{}</small>', f"{timezone.localtime(moment):%Y-%m-%d %H:%M}", by)


class RewardPlanEventInline(ReadOnlyAdminMixin, TabularInline):
    """The plan's history, newest first; written by referrals.services.plans only."""

    model = RewardPlanEvent
    fields = readonly_fields = ("at", "action", "actor", "detail")
    extra = 0
    can_delete = False
    verbose_name_plural = _("history")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_view_permission(self, request, obj=None):
        # Whoever may see the plan may see who changed it.
        return (request.user.has_perm("referrals.view_rewardplan")
                or request.user.has_perm("referrals.change_rewardplan"))


@admin.register(RewardPlan)
class RewardPlanAdmin(ModelAdmin):
    form = RewardPlanForm
    change_form_template = "admin/referrals/rewardplan/change_form.html"
    list_display = ("version", "name", "status", "shares_display", "published", "last_edited")
    list_display_links = ("version", "name")
    list_filter = ("status",)
    list_select_related = ("published_by", "updated_by")
    search_fields = ("name", "notes")
    readonly_fields = READONLY_FIELDS
    inlines = [RewardPlanEventInline]
    actions = ["clone_as_draft", "publish_plan"]

    @admin.display(description=_("shares of the budget"))
    def shares_display(self, obj):
        return format_html(
            "{} {} · {} {} · {} {}<br><small>{} {} · {} {} · {} <b>{}</b></small>",
            gettext("direct"), _percent(obj.direct_share), gettext("team"), _percent(obj.team_share),
            gettext("same level"), _percent(obj.same_level_share), gettext("buyer"),
            _percent(obj.buyer_share), gettext("merchant"), _percent(obj.merchant_share), gettext("total"),
            _percent(obj.total_share),
        )

    @admin.display(description=_("published"), ordering="published_at")
    def published(self, obj):
        return _when_by(obj.published_at, obj.published_by)

    @admin.display(description=_("last edited"), ordering="updated_at")
    def last_edited(self, obj):
        return _when_by(obj.updated_at, obj.updated_by)

    @admin.display(description=_("shares in total"))
    def total_share_display(self, obj):
        if any(getattr(obj, name) is None for name in SHARE_FIELDS):
            return "-"
        return gettext("%(total)s of the budget (at most 100%%)") % {"total": _percent(obj.total_share)}

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return PLAN_FIELDSETS
        return (RELEASE_FIELDSET, *PLAN_FIELDSETS, AUDIT_FIELDSET)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    # Permissions: only drafts change; nothing is deleted; publishing is a separate permission.

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_publish_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.publish_rewardplan")

    # Saving: through referrals.services.plans.

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PlanError as error:
            # Published by someone else (or edited into breaking a guardrail together with this
            # edit) between loading the page and saving it: the admin's transaction rolled back.
            self.message_user(request, gettext("Not saved: %(reason)s") % {"reason": error.message},
                              messages.ERROR)
            return HttpResponseRedirect(request.path)

    def save_model(self, request, obj, form, change):
        if change:
            # Saving without a change writes nothing: the viewer does not become the last editor.
            obj._plan_changed = plans.save_draft(
                obj, actor=request.user,
                fields={name: getattr(obj, name) for name in form.changed_data if name in plans.PLAN_FIELDS},
            )
            return
        fields = {name: getattr(obj, name) for name in plans.PLAN_FIELDS if name != "name"}
        draft = plans.create_draft(actor=request.user, name=obj.name, **fields)
        # The admin logs and redirects to ``obj``: make it the created draft.
        for field in RewardPlan._meta.concrete_fields:
            setattr(obj, field.attname, getattr(draft, field.attname))
        obj._state.adding, obj._state.db = False, draft._state.db

    def save_related(self, request, form, formsets, change):
        # The only inline is the read-only history: nothing to save, nothing for the change message.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def response_change(self, request, obj):
        if getattr(obj, "_plan_changed", True):
            return super().response_change(request, obj)
        self.message_user(request, gettext("Nothing was changed, so nothing was saved."), messages.INFO)
        return HttpResponseRedirect(request.path)

    # The change page: the release box, the warnings and the buttons.

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _page_context(self, request, obj):
        buttons = []  # (label, operation, question to confirm or "")
        if self.has_add_permission(request):
            buttons.append((_("Clone as draft"), "clone", ""))
        is_draft = obj.status == PlanStatus.DRAFT
        if is_draft and self.has_publish_permission(request):
            question = gettext("Publish v%(version)s as last saved? Every new order will be rewarded "
                               "under it; changes not saved on this page are not part of it.")
            buttons.append((_("Publish"), "publish", question % {"version": obj.version}))
        # The saved plan (after a refused POST ``obj`` holds what was typed).
        stored = RewardPlan.objects.get(pk=obj.pk)
        return {
            "plan_buttons": [(label, self._url("release", obj, operation), confirm)
                             for label, operation, confirm in buttons],
            # What to read before publishing: drafts only.
            "plan_warnings": plans.warnings(stored) if is_draft else [],
            "plan_simulate_url": self._url("simulate", obj),
            "plan_same_editor": is_draft and stored.updated_by_id == request.user.pk
            and self.has_publish_permission(request),
            "plan_published": plans.published_plan(),
        }

    def _url(self, name, obj, *args):
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[obj.pk, *args],
                       current_app=self.admin_site.name)

    # Clone and publish, shared by the changelist actions and the buttons on the change page.

    def _attempt(self, request, call):
        """Run a service call; a refusal becomes an error message (never a 500)."""
        try:
            return call()
        except PlanError as error:
            self.message_user(request, gettext("Refused: %(reason)s") % {"reason": error.message},
                              messages.ERROR)
            return None

    def _clone(self, request, plan):
        draft = self._attempt(request, lambda: plans.clone_as_draft(plan, actor=request.user))
        if draft is not None:
            self.message_user(request, gettext("Created draft v%(new)s from v%(old)s. Another person "
                                               "must publish it.")
                              % {"new": draft.version, "old": plan.version}, messages.SUCCESS)
        return draft

    def _publish(self, request, plan):
        done = self._attempt(request, lambda: plans.publish(plan, actor=request.user))
        if done is not None:
            self.message_user(request, gettext("v%(version)s is published: new orders are rewarded under "
                                               "it. Orders already rewarded keep their version.")
                              % {"version": done.version}, messages.SUCCESS)
        return done

    @admin.action(description=_("Clone as draft"), permissions=["add"])
    def clone_as_draft(self, request, queryset):
        drafts = [self._clone(request, plan) for plan in queryset.order_by("version")]
        drafts = [draft for draft in drafts if draft is not None]
        if len(drafts) == 1:
            return HttpResponseRedirect(self._url("change", drafts[0]))
        return None

    @admin.action(description=_("Publish"), permissions=["publish"])
    def publish_plan(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Select exactly one plan to publish."), messages.WARNING)
            return
        self._publish(request, queryset.get())

    # Extra pages: the buttons, and the simulation (referrals.admin_simulation).

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/simulate/", wrap(self._simulate), name=f"{prefix}_simulate"),
            path("<path:object_id>/release/<slug:operation>/", wrap(self.release_view),
                 name=f"{prefix}_release"),
            *super().get_urls(),
        ]

    def _simulate(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        # Imported here: written separately (and only this page needs it); until it is there the
        # button leads to a 404, not a 500.
        try:
            from referrals.admin_simulation import simulate_view
        except ModuleNotFoundError as error:
            if error.name != "referrals.admin_simulation":
                raise
            raise Http404("referrals.admin_simulation is not installed") from error
        return simulate_view(self, request, object_id)

    def release_view(self, request, object_id, operation):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        plan = self.get_object(request, object_id)
        if plan is None:
            raise Http404
        if not self.has_view_permission(request, plan):
            raise PermissionDenied
        if operation == "clone":
            if not self.has_add_permission(request):
                raise PermissionDenied
            result = self._clone(request, plan)
        elif operation == "publish":
            if not self.has_publish_permission(request):
                raise PermissionDenied
            result = self._publish(request, plan)
        else:
            raise Http404
        return HttpResponseRedirect(self._url("change", result or plan))
