import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from mall.models import Member
from points import selectors as points_selectors
from points import services as points_services
from points.errors import LedgerError
from points.services import MAX_POINTS
from referrals.admin.records import status_html
from referrals.models import Node
from referrals.selectors import reward_records
from referrals.services.plans import published_plan

RECENT_REWARDS = 20


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
class MemberAdmin(UserAdmin):
    list_display = ("username", "nickname", "phone", "tier", "external_id", "is_staff", "date_joined")
    list_filter = ("tier", "is_staff", "is_active")
    search_fields = ("username", "nickname", "phone", "external_id", "email")
    readonly_fields = ("last_login", "date_joined", "last_active_at", "points_balance", "recent_points",
                       "referral_position", "referral_rewards")
    actions = ["adjust_points"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Profile"), {"fields": ("nickname", "phone", "email", "tier", "external_id")}),
        (_("Points"), {"fields": ("points_balance", "recent_points")}),
        (_("Referrals"), {"fields": ("referral_position", "referral_rewards")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Activity"), {"fields": ("last_login", "date_joined", "last_active_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "phone", "nickname", "password1", "password2")}),
    )

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
              f"{e.delta:+d}", e.balance_after, e.reason) for e in rows),
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
from mall import messages_admin  # noqa: E402, F401 (registers the message admins)
