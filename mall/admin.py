import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from mall.models import Member
from points import selectors as points_selectors
from points import services as points_services
from points.errors import LedgerError
from points.services import MAX_POINTS


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
    readonly_fields = ("last_login", "date_joined", "last_active_at", "points_balance", "recent_points")
    actions = ["adjust_points"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Profile"), {"fields": ("nickname", "phone", "email", "tier", "external_id")}),
        (_("Points"), {"fields": ("points_balance", "recent_points")}),
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
