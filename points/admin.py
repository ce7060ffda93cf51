"""Read-only ledger views for staff. Points only move through points.services (see the
"adjust points" action on members in mall/admin.py)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from points.models import Account, Entry, Hold, Lot


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is written by services only: no add, change or delete here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


MEMBER_SEARCH = ("account__member__username", "account__member__phone",
                 "account__member__external_id", "account__member__nickname")


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("member", "available", "pending", "held", "debt", "lifetime_earned",
                    "lifetime_spent", "lifetime_expired")
    search_fields = ("member__username", "member__phone", "member__external_id", "member__nickname")
    list_select_related = ("member",)


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "member", "kind", "delta", "balance_after", "reason", "reference",
                    "rule_version", "staff", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = (*MEMBER_SEARCH, "key", "reference")
    list_select_related = ("account__member", "staff")
    date_hierarchy = "created_at"
    readonly_fields = ("account", "key", "kind", "delta", "balance_after", "reason", "reference",
                       "reverses", "hold", "rule_version", "explanation", "staff", "created_at")
    exclude = ("fingerprint",)

    @admin.display(description=_("member"), ordering="account__member__username")
    def member(self, obj):
        return obj.account.member


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ("id", "member", "amount", "remaining", "pending", "available_at", "expires_at",
                    "created_at")
    list_filter = ("pending", "expires_at", "created_at")
    search_fields = MEMBER_SEARCH
    list_select_related = ("account__member",)

    @admin.display(description=_("member"), ordering="account__member__username")
    def member(self, obj):
        return obj.account.member


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "member", "amount", "captured", "status", "reference", "expires_at",
                    "created_at", "resolved_at")
    list_filter = ("status", "created_at")
    search_fields = (*MEMBER_SEARCH, "reference")
    list_select_related = ("account__member",)

    @admin.display(description=_("member"), ordering="account__member__username")
    def member(self, obj):
        return obj.account.member
