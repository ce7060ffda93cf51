import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from import_export.admin import ExportMixin
from unfold.contrib.import_export.forms import ExportForm
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from common import pii
from common.admin import (
    ModelAdmin,
    PersonalDataAdminMixin,
    PersonalDataExportMixin,
    ReadOnlyAdminMixin,
    TranslatedPermissionsMixin,
)
from mall import member_panels
from mall.models import BadgeAward, Member, TierChange
from mall.resources import MemberResource
from mall.services import tiers as tier_services
from points import selectors as points_selectors
from points import services as points_services
from points.errors import LedgerError
from points.models import Account
from points.services import MAX_POINTS
from referrals.admin.records import status_html
from referrals.models import Node
from referrals.selectors import reward_records
from referrals.services.plans import published_plan
from rules.segments import segment_label
from rules.tiers import name_expression, published_tiers, tier_choices, tier_info

RECENT_REWARDS = 20
RECENT_TIER_CHANGES = 20


class TierFilter(admin.SimpleListFilter):
    """The published tiers, by name (tiers are data: no fixed choices on the column)."""

    title = _("tier")
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        return tier_choices()

    def queryset(self, request, queryset):
        return queryset.filter(tier=self.value()) if self.value() else queryset


class UniquePhoneFormMixin:
    """The phone is unique through its blind index (the column is encrypted, so the model form's
    own unique check cannot see it): a taken phone is a field error, not a database error."""

    def clean_phone(self):
        phone = self.cleaned_data.get("phone") or None
        others = Member.objects.filter(phone_index=pii.index_for(Member, "phone", phone))
        if phone and others.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("This phone number is taken by another member."))
        return phone


class MemberCreationForm(UniquePhoneFormMixin, UserCreationForm):
    pass


class MemberChangeForm(UniquePhoneFormMixin, UserChangeForm):
    tier = forms.ChoiceField(label=_("tier"), choices=tier_choices,
                             help_text=_("A change made here is recorded as set by staff; the nightly "
                                         "re-evaluation then follows the member's earnings."))

    class Meta(UserChangeForm.Meta):
        model = Member


class AdjustPointsForm(forms.Form):
    delta = forms.IntegerField(
        label=_("Points"),
        min_value=-MAX_POINTS,
        max_value=MAX_POINTS,
        help_text=_("Positive to credit, negative to debit."),
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=255, help_text=_("Required; the member sees it in their history.")
    )
    # One token per rendered form: submitting the same form twice posts once.
    token = forms.UUIDField(widget=forms.HiddenInput)

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError(_("Enter a non-zero number of points."))
        return delta

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("A reason is required."))
        return reason


@admin.register(Member)
class MemberAdmin(PersonalDataAdminMixin, PersonalDataExportMixin, TranslatedPermissionsMixin, ExportMixin,
                  UserAdmin, ModelAdmin):
    form = MemberChangeForm
    add_form = MemberCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ("username", "nickname", "phone", "tier_display", "segment_display", "available_points",
                    "external_id", "is_staff", "date_joined")
    list_filter = (TierFilter, "segment", "is_staff", "is_active")
    search_fields = ("username", "nickname", "phone", "external_id", "email")
    search_help_text = _("Search by username, nickname, phone, external id or email.")
    # Masked for staff without mall.view_personal_data (common.admin.PersonalDataAdminMixin).
    pii_fields = {"phone": pii.mask_phone, "email": pii.mask_email}
    resource_classes = [MemberResource]  # masked the same way (PersonalDataExportMixin)
    export_form_class = ExportForm
    readonly_fields = ("last_login", "date_joined", "last_active_at", "tier_grace_until", "tier_history",
                       "segment_display",
                       "points_balance", "open_lots", "recent_points", "open_holds", "recent_redemptions",
                       "referral_position", "referral_rewards", "recent_messages", "badges_earned")
    actions = ["adjust_points"]
    # The member page for customer service: one tab per question a member asks (unfold renders
    # every tab's content on the server and shows one at a time).
    fieldsets = (
        (_("Profile"), {"classes": ["tab"], "fields": (
            "username", "password", "nickname", "phone", "email", "external_id",
            "tier", "tier_grace_until", "tier_history", "segment_display")}),
        (_("Balance"), {"classes": ["tab"], "fields": ("points_balance",)}),
        (_("Lots"), {"classes": ["tab"], "fields": ("open_lots",)}),
        (_("Entries"), {"classes": ["tab"], "fields": ("recent_points",)}),
        (_("Holds"), {"classes": ["tab"], "fields": ("open_holds",)}),
        (pgettext_lazy("member page tab", "Redemptions"),
         {"classes": ["tab"], "fields": ("recent_redemptions",)}),
        (_("Team"), {"classes": ["tab"], "fields": ("referral_position", "referral_rewards")}),
        (_("Messages"), {"classes": ["tab"], "fields": ("recent_messages",)}),
        (_("Badges"), {"classes": ["tab"], "fields": ("badges_earned",)}),
        (_("Permissions"), {"classes": ["tab"], "fields": (
            "is_active", "is_staff", "is_superuser", "groups", "user_permissions",
            "last_login", "date_joined", "last_active_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "phone", "nickname", "password1", "password2")}),
    )

    def get_queryset(self, request):
        # The balance joins the one-to-one account: one query for the whole list page.
        return super().get_queryset(request).annotate(
            tier_label=name_expression("tier"),
            balance_available=Coalesce("points_account__available", Value(0)),
        )

    @admin.display(description=_("available points"), ordering="balance_available")
    def available_points(self, obj):
        return getattr(obj, "balance_available", 0)

    @admin.display(description=_("open lots"))
    def open_lots(self, obj):
        return member_panels.lots(obj) if obj.pk else "-"

    @admin.display(description=_("open holds"))
    def open_holds(self, obj):
        return member_panels.holds(obj) if obj.pk else "-"

    @admin.display(description=_("latest redemptions"))
    def recent_redemptions(self, obj):
        return member_panels.redemptions(obj) if obj.pk else "-"

    @admin.display(description=_("latest messages"))
    def recent_messages(self, obj):
        return member_panels.messages(obj) if obj.pk else "-"

    @admin.display(description=_("tier"), ordering="tier")
    def tier_display(self, obj):
        return getattr(obj, "tier_label", obj.tier)

    @admin.display(description=_("RFM segment"), ordering="segment")
    def segment_display(self, obj):
        return segment_label(obj.segment)

    @admin.display(description=_("tier changes"))
    def tier_history(self, obj):
        if obj.pk is None:
            return "-"
        rows = list(tier_services.changes_of(obj).select_related("staff")[:RECENT_TIER_CHANGES])
        if not rows:
            return _("No tier changes yet.")
        table = published_tiers()

        def tier_name(code):
            info = tier_info(code, table)
            return info.label() if info is not None else code

        body = format_html_join("", "<tr><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (f"{timezone.localtime(change.at):%Y-%m-%d %H:%M}", tier_name(change.from_tier),
             tier_name(change.to_tier), change.get_reason_display(),
             "-" if change.earned_points is None else change.earned_points,
             f"{change.grace_until:%Y-%m-%d}" if change.grace_until else "-") for change in rows
        ))
        every = reverse("admin:mall_tierchange_changelist") + "?" + urlencode({"member": obj.pk})
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            '<tbody>{}</tbody></table><a href="{}">{}</a>',
            _("at"), _("tier"), _("why"), _("points earned in the window"), _("keeps the tier until"),
            body, every, _("All tier changes of this member"),
        )

    def save_model(self, request, obj, form, change):
        if not (change and "tier" in form.changed_data):
            return super().save_model(request, obj, form, change)
        # The other fields as the form has them; the tier through the service, recorded.
        tier, obj.tier = obj.tier, form.initial["tier"]
        super().save_model(request, obj, form, change)
        tier_services.set_tier(obj, tier, reason=TierChange.Reason.STAFF, staff=request.user)
        return None

    @admin.display(description=_("balance"))
    def points_balance(self, obj):
        if obj.pk is None:
            return "-"
        bal = points_selectors.balance(obj)
        expiring = ", ".join(f"{day:%Y-%m-%d}: {points}" for day, points in bal.expiring) or "-"
        return format_html(
            "{}: <b>{}</b> · {}: {} · {}: {} · {}: {}<br>{}: {}",
            _("available"), bal.available, _("pending"), bal.pending, _("held"), bal.held,
            _("debt"), bal.debt, _("expiring"), expiring,
        )

    @admin.display(description=_("recent entries"))
    def recent_points(self, obj):
        if obj.pk is None:
            return "-"
        rows = points_selectors.recent_entries(obj, limit=20)
        if not rows:
            return _("No entries yet.")
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f"{timezone.localtime(e.created_at):%Y-%m-%d %H:%M}", e.get_kind_display(),
              f"{e.delta:+d}", e.balance_after, points_selectors.reason_text(e)) for e in rows),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("time"), _("kind"), _("delta"), _("balance after"), _("reason"), body,
        )

    # Referrals: read-only here; the trees change only through referrals.services.tree.

    @admin.display(description=_("referral position"))
    def referral_position(self, obj):
        node = (Node.objects.filter(member_id=obj.pk).select_related("inviter", "leader").first()
                if obj.pk else None)
        if node is None:
            return _("No referral position yet (created on first use).")
        if node.is_leader:
            since = f"{timezone.localtime(node.leader_since):%Y-%m-%d}" if node.leader_since else "-"
            leader = _("leads their own team (since %(day)s)") % {"day": since}
            team = _("%(count)s members") % {"count": Node.objects.filter(leader_id=obj.pk).count()}
        else:
            leader = _member_link(node.leader) if node.leader else _("none")
            team = _("- (not a leader)")
        plan = published_plan()
        since_purchase = str(node.rewards_since_purchase)
        if plan is not None and plan.repurchase_points:
            since_purchase = _("%(points)s (rewards stop at %(limit)s until their own next order)") % {
                "points": node.rewards_since_purchase, "limit": plan.repurchase_points}
        rows = [
            (_("invite code"), format_html("<code>{}</code>", node.invite_code)),
            (_("inviter"), _member_link(node.inviter) if node.inviter else _("none (invited by no one)")),
            (_("team leader"), leader),
            (_("direct invitees"), format_html("{} ({} {})", node.direct_count, node.qualified_direct_count,
                                                _("with a paid order"))),
            (_("team size"), team),
            (_("rewards since own last order"), since_purchase),
        ]
        body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        link = reverse("admin:referrals_node_change", args=[node.pk])
        return format_html('<table>{}</table><a href="{}">{}</a>', body, link,
                           _("Open the referral position"))

    @admin.display(description=_("badges earned"))
    def badges_earned(self, obj):
        if obj.pk is None:
            return "-"
        awards = list(BadgeAward.objects.filter(member=obj).select_related("badge").order_by("-id")[:50])
        if not awards:
            return _("No badges yet.")
        every = reverse("admin:mall_badgeaward_changelist") + "?" + urlencode({"q": obj.username})
        return format_html("{}<br>{}", format_html_join(
            ", ", "{} ({}, {})",
            ((a.badge.name, a.period, f"{timezone.localtime(a.awarded_at):%Y-%m-%d}") for a in awards),
        ), format_html('<a href="{}">{}</a>', every, _("All badge awards of this member")))

    @admin.display(description=_("latest referral rewards"))
    def referral_rewards(self, obj):
        if obj.pk is None:
            return "-"
        records = list(reward_records(obj)[:RECENT_REWARDS])
        if not records:
            return _("No referral rewards yet.")
        now = timezone.now()
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((format_html('<span style="white-space:nowrap">{}</span>',
                          f"{timezone.localtime(r.created_at):%Y-%m-%d %H:%M}"),
              format_html('<a href="{}" style="white-space:nowrap">{}</a>',
                          reverse("admin:referrals_rewardrecord_change", args=[r.pk]), r.order.external_id),
              r.get_kind_display(), r.points, r.points_reversed or "-",
              status_html(r, now), r.explanation) for r in records),
        )
        every = reverse("admin:referrals_rewardrecord_changelist") + "?" + urlencode({"beneficiary": obj.pk})
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            '</tr></thead><tbody>{}</tbody></table><a href="{}">{}</a>',
            _("time"), _("order"), _("kind"), _("points"), _("reversed"), _("status"), _("explanation"),
            body, every, _("All reward records of this member"),
        )

    def has_adjust_points_permission(self, request):
        return request.user.has_perm("points.adjust_points")

    # "Adjust points" on the member page: the panel (change_form.html) posts to its own URL, through
    # the same service and idempotency key as the list's action.

    def get_urls(self):
        # Before the admin's own: its "<path:object_id>/" catch-all would take this one.
        return [
            path("<path:object_id>/adjust/", self.admin_site.admin_view(self.adjust_view),
                 name="mall_member_adjust"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if self.has_adjust_points_permission(request) and "adjust_form" not in extra_context:
            member = self.get_object(request, object_id)
            if member is not None:
                extra_context["adjust_form"] = self._adjust_form(member)
        if "adjust_form" in extra_context:
            extra_context["adjust_available"] = extra_context["adjust_form"].available
            extra_context["adjust_url"] = reverse("admin:mall_member_adjust", args=[object_id])
        return super().change_view(request, object_id, form_url, extra_context)

    def _adjust_form(self, member, data=None):
        account = Account.objects.filter(member_id=member.pk).values_list("available", flat=True)
        available = account.first() or 0
        return member_panels.MemberAdjustForm(data, available=available,
                                              initial=None if data else {"token": uuid.uuid4()})

    def adjust_view(self, request, object_id):
        if not (self.has_adjust_points_permission(request) and self.has_view_or_change_permission(request)):
            raise PermissionDenied
        member = self.get_object(request, object_id)
        if member is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        page = reverse("admin:mall_member_change", args=[member.pk])
        if request.method != "POST":
            return HttpResponseRedirect(page)
        form = self._adjust_form(member, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                entry = points_services.adjust(
                    member, data["delta"], key=f"admin-adjust:{data['token']}:{member.pk}",
                    reason=data["full_reason"], staff=request.user,
                )
            except LedgerError as error:
                form.add_error(None, error.message)
            else:
                done = _("Adjusted the points of %(member)s by %(delta)s: %(reason)s.") % {
                    "member": member, "delta": f"{entry.delta:+d}", "reason": entry.reason}
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(page)
        # The member page again, the form with its errors (a GET of the page: the member's own
        # form is not submitted).
        request.method = "GET"
        return self.change_view(request, object_id, extra_context={"adjust_form": form})

    @admin.action(description=_("Adjust points"), permissions=["adjust_points"])
    def adjust_points(self, request, queryset):
        if "apply" in request.POST:
            form = AdjustPointsForm(request.POST)
            if form.is_valid():
                self._apply_adjustment(request, queryset, form.cleaned_data)
                return None
        else:
            form = AdjustPointsForm(initial={"token": uuid.uuid4()})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Adjust points"),
            "form": form,
            "members": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/mall/member/adjust_points.html", context)

    def _apply_adjustment(self, request, queryset, data):
        done, refused = 0, []
        for member in queryset.order_by("pk"):
            try:
                points_services.adjust(
                    member, data["delta"], key=f"admin-adjust:{data['token']}:{member.pk}",
                    reason=data["reason"], staff=request.user,
                )
                done += 1
            except LedgerError as error:
                refused.append(f"{member}: {error.message}")
        if done:
            self.message_user(
                request, _("Adjusted the points of %(count)d member(s).") % {"count": done},
                messages.SUCCESS,
            )
        for line in refused:
            self.message_user(request, line, messages.ERROR)


def _member_link(member):
    url = reverse("admin:mall_member_change", args=[member.pk])
    return format_html('<a href="{}">{}</a>', url, member)


class ChangedMemberFilter(admin.SimpleListFilter):
    """One member's tier changes (the member page links here)."""

    title = _("member")
    parameter_name = "member"

    def lookups(self, request, model_admin):
        value = self.value()
        member = Member.objects.filter(pk=value).first() if value and value.isdigit() else None
        return [(value, str(member))] if member else []

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(member_id=value) if value and value.isdigit() else queryset


@admin.register(TierChange)
class TierChangeAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    """Every change of a member's tier (and of its grace), as ``mall.services.tiers`` wrote it."""

    list_display = ("at", "member", "from_name", "to_name", "reason", "earned_points", "grace_until",
                    "rule_version", "staff")
    list_filter = ("reason", ChangedMemberFilter, "at")
    list_select_related = ("member", "staff")
    search_fields = ("member__username", "member__nickname", "member__phone", "member__external_id")
    date_hierarchy = "at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(from_label=name_expression("from_tier"),
                                                      to_label=name_expression("to_tier"))

    @admin.display(description=_("from"), ordering="from_tier")
    def from_name(self, obj):
        return obj.from_label

    @admin.display(description=_("to"), ordering="to_tier")
    def to_name(self, obj):
        return obj.to_label


admin.site.unregister(Group)


@admin.register(Group)
class StaffGroupAdmin(TranslatedPermissionsMixin, GroupAdmin, ModelAdmin):
    """Django's group admin with the permissions named in the reader's language."""


from mall import (  # noqa: E402, F401 (they register their admins)
    audit_admin,
    messages_admin,
    play_admin,
    reports_admin,
    rfm_admin,
    staff_security,
    system_admin,
)

reports_admin.install(admin.site)  # 报表 / Reports at /admin/reports/
staff_security.install(admin.site)  # two-factor sign-in pages; has_permission wants the 2nd factor

admin.site.site_header = _("Points Mall")
admin.site.site_title = _("Points Mall console")
admin.site.index_title = _("Dashboards")  # the landing page (mall.console.dashboard)
