"""RFM segments (issue 14): the staff-set thresholds and the nightly runs, written only by
``mall.rfm`` (the job) and ``mall.rfm.save_settings`` (the admin's form).

* ``RfmSettings``: one row (id 1). The window in days and the three high/low thresholds; a blank
  threshold means "the median of the population scored in that run".
* ``RfmRun``: one per Asia/Shanghai day (a re-run the same day replaces it): the thresholds it
  actually used, its segment counts and its movement from the previous run. Kept for good (a row
  a day).
* ``RfmScore``: one per member scored by a run; only the last ``mall.rfm.KEEP_RUNS`` runs keep
  theirs (the job deletes older ones), so the table stays at a few times the member count.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rules.segments import Segment


class RfmSettings(models.Model):
    window_days = models.PositiveIntegerField(
        _("window (days)"), default=365, validators=[MinValueValidator(1)],
        help_text=_("Orders and redemptions of the last this many days (Asia/Shanghai) are scored."))
    recency_days = models.PositiveIntegerField(
        _("recency threshold (days)"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("A member whose last order or redemption is at most this many days ago is recent. "
                    "Blank: the median of the members scored."))
    frequency = models.PositiveIntegerField(
        _("frequency threshold"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("A member with at least this many paid orders and redemptions in the window is "
                    "frequent. Blank: the median of the members scored."))
    monetary = models.DecimalField(
        _("monetary threshold (yuan)"), max_digits=14, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("A member whose paid orders in the window come to at least this amount is "
                    "valuable. Blank: the median of the members scored."))
    updated_at = models.DateTimeField(_("updated at"), null=True, blank=True, editable=False)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                   blank=True, editable=False, related_name="+",
                                   verbose_name=_("updated by"))

    class Meta:
        verbose_name = _("RFM settings")
        verbose_name_plural = _("RFM settings")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="mall_rfmsettings_single_row")]

    def __str__(self):
        return str(_("RFM settings"))


class RfmRun(models.Model):
    day = models.DateField(_("day"), unique=True)
    window_days = models.PositiveIntegerField(_("window (days)"))
    recency_threshold = models.DecimalField(_("recency threshold (days)"), max_digits=14,
                                            decimal_places=2, null=True)
    frequency_threshold = models.DecimalField(_("frequency threshold"), max_digits=14,
                                              decimal_places=2, null=True)
    monetary_threshold = models.DecimalField(_("monetary threshold (yuan)"), max_digits=14,
                                             decimal_places=2, null=True)
    # Which thresholds were medians (no staff value): {"recency": true, ...}.
    medians = models.JSONField(_("medians used"), default=dict)
    members_scored = models.PositiveIntegerField(_("members scored"), default=0)
    members_active = models.PositiveIntegerField(_("active in the window"), default=0)
    # {segment code: members}
    counts = models.JSONField(_("segment counts"), default=dict)
    # {from segment code ("" = not in the previous run): {to segment code: members}}
    movement = models.JSONField(_("movement"), default=dict)
    previous_day = models.DateField(_("previous run"), null=True)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True)

    class Meta:
        verbose_name = _("RFM run")
        verbose_name_plural = _("RFM runs")
        ordering = ["-day"]
        permissions = [("run_rfm", _("Can run the RFM scoring now"))]

    def __str__(self):
        return f"RFM {self.day}"


class RfmScore(models.Model):
    # The unique (run, member) and the (member, run) index cover both foreign keys: no index of
    # their own (two fewer index writes per member and run).
    run = models.ForeignKey(RfmRun, on_delete=models.CASCADE, related_name="scores",
                            verbose_name=_("run"), db_index=False)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                               verbose_name=_("member"), db_index=False)
    # NULL: no paid order nor redemption in the window.
    recency_days = models.PositiveIntegerField(_("days since last activity"), null=True)
    frequency = models.PositiveIntegerField(_("frequency"))
    monetary = models.DecimalField(_("monetary (yuan)"), max_digits=14, decimal_places=2)
    r_score = models.PositiveSmallIntegerField(_("R"))
    f_score = models.PositiveSmallIntegerField(_("F"))
    m_score = models.PositiveSmallIntegerField(_("M"))
    segment = models.CharField(_("RFM segment"), max_length=24, choices=Segment.choices)

    class Meta:
        verbose_name = _("RFM score")
        verbose_name_plural = _("RFM scores")
        constraints = [
            models.UniqueConstraint(fields=["run", "member"], name="mall_rfmscore_once_per_run"),
            models.CheckConstraint(
                condition=Q(r_score__range=(1, 5), f_score__range=(1, 5), m_score__range=(1, 5)),
                name="mall_rfmscore_quintiles"),
        ]
        indexes = [models.Index(fields=["member", "run"], name="mall_rfmscore_member")]

    def __str__(self):
        return f"{self.member_id} {self.r_score}{self.f_score}{self.m_score} {self.segment}"
