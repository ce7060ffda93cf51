"""Points auctions (issue 11): ``Auction`` and its ``Bid`` rows. Imported by ``catalog.models``.

Only ``catalog.services.auctions`` writes these rows. Every bid holds its full amount in the
ledger (``points.Hold``); at most one bid of an auction is ``leading`` with an open hold, every
outbid bid's hold is released when it is outbid, and closing captures the leader's hold into a
``Redemption`` of the product (or releases it: below the reserve, no stock).
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuctionStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")
    NO_WINNER = "no_winner", _("No winner")


class Auction(models.Model):
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="auctions",
                                verbose_name=_("product"))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(
        _("ends at"), help_text=_("Moves later when a bid in the last minutes extends the auction."))
    start_price = models.PositiveIntegerField(_("start price"), validators=[MinValueValidator(1)],
                                              help_text=_("The lowest first bid, in points."))
    increment = models.PositiveIntegerField(
        _("increment"), validators=[MinValueValidator(1)],
        help_text=_("A bid must beat the current price by at least this."))
    reserve_price = models.PositiveIntegerField(
        _("reserve price"), null=True, blank=True,
        help_text=_("Below this final price nobody wins and every hold is released."))
    extend_minutes = models.PositiveIntegerField(
        _("anti-sniping minutes"), default=0,
        help_text=_("0: no extension. Otherwise a bid in the last N minutes extends the end by N minutes."))
    status = models.CharField(_("status"), max_length=16, choices=AuctionStatus.choices,
                              default=AuctionStatus.OPEN)
    leading_bid = models.ForeignKey("catalog.Bid", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("leading bid"))
    winner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="auctions_won", verbose_name=_("winner"))
    winning_bid = models.ForeignKey("catalog.Bid", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("winning bid"))
    redemption = models.OneToOneField("catalog.Redemption", on_delete=models.PROTECT, null=True,
                                      blank=True, related_name="auction", verbose_name=_("redemption"))
    close_note = models.CharField(_("close note"), max_length=255, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("auction")
        verbose_name_plural = _("auctions")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")),
                                   name="catalog_auction_ends_after_start"),
            models.CheckConstraint(condition=Q(increment__gte=1) & Q(start_price__gte=1),
                                   name="catalog_auction_prices_positive"),
        ]
        indexes = [models.Index(fields=["status", "ends_at"], name="catalog_auction_due")]

    def __str__(self):
        return f"#{self.pk} {self.product}"


class BidStatus(models.TextChoices):
    LEADING = "leading", _("Leading")
    OUTBID = "outbid", _("Outbid")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class Bid(models.Model):
    auction = models.ForeignKey(Auction, on_delete=models.PROTECT, related_name="bids",
                                verbose_name=_("auction"))
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bids",
                               verbose_name=_("member"))
    points = models.PositiveIntegerField(_("points"))
    key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    # (member_id, hold_id) -> points_hold (account_id, id) in the database (points 0013).
    hold = models.OneToOneField("points.Hold", on_delete=models.PROTECT, related_name="bid",
                                verbose_name=_("hold"), db_constraint=False)
    status = models.CharField(_("status"), max_length=16, choices=BidStatus.choices,
                              default=BidStatus.LEADING)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("bid")
        verbose_name_plural = _("bids")
        ordering = ["-id"]
        constraints = [
            # At most one leading bid per auction (the auction lock serializes bids; this is the backstop).
            models.UniqueConstraint(fields=["auction"], condition=Q(status="leading"),
                                    name="catalog_bid_one_leader"),
        ]
        indexes = [models.Index(fields=["auction", "member"], name="catalog_bid_auction_member")]

    def __str__(self):
        return f"{self.auction_id}: {self.points}"
