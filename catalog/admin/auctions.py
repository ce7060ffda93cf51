"""Points auctions in the admin. Staff create an auction and may edit it until its first bid;
from then on (and once closed) it is read-only: bids, holds and the close are written only by
``catalog.services.auctions``. Its bids are shown inline, read-only. The action "close due
auctions now" runs ``close_due_auctions`` (what the every-minute job does) on demand."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import TabularInline

from catalog import services
from catalog.models import Auction, AuctionStatus, Bid
from common.admin import ModelAdmin, ReadOnlyAdminMixin

RESULT_FIELDS = ("status", "leading_bid", "winner", "winning_bid", "redemption", "close_note",
                 "closed_at")
TERMS_FIELDS = ("product", "starts_at", "ends_at", "start_price", "increment", "reserve_price",
                "extend_minutes")


class BidInline(ReadOnlyAdminMixin, TabularInline):
    model = Bid
    fields = ("id", "member", "points", "status", "hold", "created_at")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    show_change_link = False


@admin.register(Auction)
class AuctionAdmin(ModelAdmin):
    list_display = ("id", "product", "status", "starts_at", "ends_at", "start_price", "winner",
                    "closed_at")
    list_filter = ("status", "ends_at")
    list_select_related = ("product", "winner")
    search_fields = ("product__name",)
    raw_id_fields = ("product",)
    fieldsets = (
        (_("Terms"), {"fields": TERMS_FIELDS}),
        (_("Result"), {"fields": RESULT_FIELDS}),
    )
    inlines = [BidInline]
    actions = ["close_due_auctions_now"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and (obj.status != AuctionStatus.OPEN or obj.bids.exists()):
            return TERMS_FIELDS + RESULT_FIELDS
        return RESULT_FIELDS

    def has_delete_permission(self, request, obj=None):
        # A bid holds points and a close writes a redemption: an auction is never deleted.
        return False

    @admin.action(description=_("Close due auctions now"), permissions=["change"])
    def close_due_auctions_now(self, request, queryset):
        # Every due auction, not only the selected ones: the same as the job, exactly once each.
        closed = services.close_due_auctions()
        self.message_user(request, ngettext("%(count)s auction closed.", "%(count)s auctions closed.",
                                            closed) % {"count": closed}, messages.SUCCESS)
