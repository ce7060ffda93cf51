"""The 报表 dashboards' materialised aggregates, written only by ``mall.report_jobs.materialise``
(nightly) and read by ``mall.reports``.

* ``DailyPoints``: per closed Asia/Shanghai day × entry kind × source, the sums of the entries'
  positive deltas (``credit``), of their negative deltas (``debit``, positive), of the points an
  activation moved from pending to available (``moved``) and the number of entries. Entries are
  append-only, so a (day, kind, source) row only grows; the job rewrites a day from its entries
  (``INSERT … SELECT … ON CONFLICT DO UPDATE``), which is idempotent.
* ``LotMaturity``: per expiry instant (lots expire at local midnights, so a few rows a month), the
  sum of the lots' amounts, which never change: breakage's "issued over matured cohorts".
* ``ReportWatermark``: one row; the aggregates hold exactly the entries with ``id <= max_entry_id``
  created before the day after ``through`` (and the lots with ``id <= max_lot_id``). Reports add
  the rest live from the raw tables, so their numbers are exact whenever the job last ran.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DailyPoints(models.Model):
    day = models.DateField(_("day"))
    kind = models.CharField(_("kind"), max_length=16)
    source = models.CharField(_("source"), max_length=16, blank=True)
    credit = models.BigIntegerField(default=0)
    debit = models.BigIntegerField(default=0)
    moved = models.BigIntegerField(default=0)
    entries = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("daily points aggregate")
        verbose_name_plural = _("daily points aggregates")
        constraints = [
            models.UniqueConstraint(fields=["day", "kind", "source"], name="mall_dailypoints_once"),
        ]

    def __str__(self):
        return f"{self.day} {self.kind} {self.source} +{self.credit} -{self.debit}"


class LotMaturity(models.Model):
    expires_at = models.DateTimeField(_("expires at"), unique=True)
    amount = models.BigIntegerField(default=0)
    lots = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("lot maturity aggregate")
        verbose_name_plural = _("lot maturity aggregates")

    def __str__(self):
        return f"{self.expires_at} {self.amount}"


class ReportWatermark(models.Model):
    through = models.DateField(null=True, blank=True)
    max_entry_id = models.BigIntegerField(default=0)
    max_lot_id = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("report watermark")
        verbose_name_plural = _("report watermarks")
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="mall_reportwatermark_one_row")]

    def __str__(self):
        return f"through {self.through} (entry {self.max_entry_id}, lot {self.max_lot_id})"
