"""Merchants (众店) and referral positions in the admin.

Merchants are edited as plain forms: a merchant holds no invariant beyond its own fields, which
the model's validators and check constraints hold (the rebate is 3-20%), so there is no service
to go through (as with the catalog's categories). Its code is fixed once created: the shop's order
system sends it with each order, and orders naming an unknown code are refused.

Referral positions (``Node``) are read-only: the invite tree and the team tree change only
through ``referrals.services.tree`` (binding an invite code, an upgrade and its sliding).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from common.admin import ModelAdmin, PersonalDataAdminMixin, ReadOnlyAdminMixin
from referrals.admin.records import admin_link
from referrals.models import Merchant, Node


@admin.register(Merchant)
class MerchantAdmin(PersonalDataAdminMixin, ModelAdmin):
    list_display = ("code", "name", "owner", "rebate_percent", "active", "created_at")
    list_display_links = ("code", "name")
    list_filter = ("active",)
    list_select_related = ("owner",)
    search_fields = ("code", "name", "owner__username", "owner__phone")
    search_help_text = _("Search by merchant code or name, or the owner's username or phone.")
    autocomplete_fields = ("owner",)
    fields = ("code", "name", "owner", "rebate_percent", "active", "created_at")

    def get_readonly_fields(self, request, obj=None):
        return ("created_at",) if obj is None else ("code", "created_at")

    def has_delete_permission(self, request, obj=None):
        # Deactivate instead: rewarded orders keep referring to their merchant.
        return False


NODE_FIELDS = (
    (None, {"fields": ("member", "invite_code", "created_at")}),
    (_("Invite tree"), {"fields": ("inviter_link", "inviter_2", "inviter_3", "depth", "invited_at")}),
    (_("Team"), {"fields": ("leader_link", "is_leader", "leader_since")}),
    (_("Counters"), {"fields": ("qualified", "direct_count", "qualified_direct_count",
                                "rewards_since_purchase")}),
)


@admin.register(Node)
class NodeAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    """Who invited whom and who leads which team; changed only by referrals.services.tree."""

    list_display = ("member", "invite_code", "inviter", "depth", "leader", "leader_display", "invitees",
                    "qualified")
    list_filter = ("is_leader", "qualified")
    list_select_related = ("member", "inviter", "leader")
    search_fields = ("member__username", "member__phone", "invite_code")
    search_help_text = _("Search by member username or phone, or invite code.")
    fieldsets = NODE_FIELDS
    readonly_fields = ("member", "invite_code", "created_at", "inviter_link", "inviter_2", "inviter_3",
                       "depth", "invited_at", "leader_link", "is_leader", "leader_since", "qualified",
                       "direct_count", "qualified_direct_count", "rewards_since_purchase")

    @admin.display(description=_("leader"), ordering="leader_since")
    def leader_display(self, obj):
        if not obj.is_leader:
            return gettext("no")
        since = f"{timezone.localtime(obj.leader_since):%Y-%m-%d}" if obj.leader_since else "-"
        return format_html("{}<br><small>{}</small>", gettext("yes"),
                           gettext("since %(day)s") % {"day": since})

    @admin.display(description=_("invitees"), ordering="direct_count")
    def invitees(self, obj):
        # Qualified: with a paid order that is not fully refunded (what counts for an upgrade).
        return format_html("{}<br><small>{}</small>", obj.direct_count, gettext(
            "%(count)s qualified") % {"count": obj.qualified_direct_count})

    @admin.display(description=_("inviter"))
    def inviter_link(self, obj):
        return admin_link(obj.inviter)

    @admin.display(description=_("team leader"))
    def leader_link(self, obj):
        return admin_link(obj.leader)
