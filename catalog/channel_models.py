"""Channels the mall takes goods from (``catalog.channels`` reads them, ``catalog.services.channels``
writes what they say): where a channel's feed is, in which format, whether the scheduled jobs
import its products and sync its stock, and what the last run did.

A product links to its channel by ``Product.channel`` and ``Product.channel_sku`` (unique per
channel); ``Product.stock_from_channel`` puts its stock in the channel's hands (the sync). Written
only by ``catalog.services.channels`` and the channel admin's form.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ChannelKind(models.TextChoices):
    CSV = "csv", _("CSV file")
    XLSX = "xlsx", _("XLSX file")
    JSON = "json", _("JSON HTTP feed")


class Channel(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("feed format"), max_length=8, choices=ChannelKind.choices,
                            default=ChannelKind.CSV)
    source = models.CharField(
        _("feed source"), max_length=500,
        help_text=_("An http(s) URL, or a file path under the feed folder (CHANNEL_FEED_ROOT)."),
    )
    active = models.BooleanField(_("active"), default=True)
    import_on_schedule = models.BooleanField(
        _("import on schedule"), default=False,
        help_text=_("The nightly job imports this channel's products."),
    )
    sync_on_schedule = models.BooleanField(
        _("sync stock on schedule"), default=False,
        help_text=_("The stock job (every 15 minutes) syncs the stock of products marked "
                    "“stock from channel”."),
    )
    last_import_at = models.DateTimeField(_("last import"), null=True, blank=True, editable=False)
    last_import_ok = models.BooleanField(_("last import succeeded"), null=True, editable=False)
    last_import_summary = models.TextField(_("last import result"), blank=True, editable=False)
    last_sync_at = models.DateTimeField(_("last stock sync"), null=True, blank=True, editable=False)
    last_sync_ok = models.BooleanField(_("last stock sync succeeded"), null=True, editable=False)
    last_sync_summary = models.TextField(_("last stock sync result"), blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("goods channel")
        verbose_name_plural = _("goods channels")
        ordering = ["name", "id"]
        permissions = [
            ("import_channel", _("Can import products from a channel")),
            ("sync_channel", _("Can sync stock from a channel")),
        ]

    def __str__(self):
        return self.name
