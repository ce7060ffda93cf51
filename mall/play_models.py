"""Daily tasks and badges (issue 11): staff define them, ``mall.services.play`` awards them.

They live in ``mall`` because their metrics span the apps below: check-ins, behaviours and orders
(``points``), redemptions (``catalog``) and invitees (``referrals``).
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from rules.segments import Segment


class Bilingual:
    """``name``/``name_en`` read in the reader's language (Chinese is the default)."""

    def display_name(self) -> str:
        if (get_language() or "").startswith("en") and self.name_en:
            return self.name_en
        return self.name


class TaskBehaviour(models.TextChoices):
    CHECK_IN = "check_in", _("Check in")
    SHARE = "share", _("Share")
    REVIEW = "review", _("Review")
    REDEEM = "redeem", _("Redeem a gift")
    ORDER = "order", _("Place an order")


# The behaviours the rule set prices (``record_behaviour``): their task rewards count against and
# are limited by the rule set's daily behaviour cap.
CAPPED_BEHAVIOURS = (TaskBehaviour.SHARE, TaskBehaviour.REVIEW)


class TaskPeriod(models.TextChoices):
    DAY = "day", _("Every day")
    WEEK = "week", _("Every week (Monday to Sunday)")


class Task(Bilingual, models.Model):
    """A challenge such as "share twice today": ``target`` times ``behaviour`` in one ``period``
    earns ``points``, once per member and period."""

    name = models.CharField(_("name"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=60, blank=True)
    behaviour = models.CharField(_("behaviour"), max_length=16, choices=TaskBehaviour.choices)
    period = models.CharField(_("period"), max_length=8, choices=TaskPeriod.choices,
                              default=TaskPeriod.DAY)
    target = models.PositiveSmallIntegerField(
        _("times"), default=1, validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("How many times the behaviour completes the task in one period."),
    )
    points = models.PositiveIntegerField(
        _("points on completion"), validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text=_("Posted once per member per period. Share and review tasks stay within the "
                    "rule set's daily behaviour cap."),
    )
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0,
                                                help_text=_("Smaller first on the member's page."))
    segments = ArrayField(
        models.CharField(max_length=24, choices=Segment.choices), default=list, blank=True,
        verbose_name=_("eligible RFM segments"),
        help_text=_("Only members of these segments are offered the task. Empty: every member."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("daily task")
        verbose_name_plural = _("daily tasks")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(target__gte=1), name="mall_task_target_positive"),
            models.CheckConstraint(condition=Q(points__gte=1), name="mall_task_points_positive"),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True)
                | Q(ends_at__gt=models.F("starts_at")),
                name="mall_task_window_ordered",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The end must be after the start.")})

    def is_open(self, now) -> bool:
        return (self.active and (self.starts_at is None or self.starts_at <= now)
                and (self.ends_at is None or self.ends_at > now))

    def admits(self, segment: str) -> bool:
        """Offered to a member of RFM ``segment``: the task names no segment, or this one."""
        return not self.segments or segment in self.segments


class TaskCompletion(models.Model):
    """A member completed a task in one period (``2026-12-02`` or ``2026-W49``); ``points`` is
    what was posted (less than the task's when the daily cap took the rest)."""

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="completions",
                             verbose_name=_("task"))
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="task_completions", verbose_name=_("member"))
    period = models.CharField(_("period"), max_length=10)
    points = models.PositiveIntegerField(_("points"))
    # (member_id, entry_id) -> points_entry (account_id, id) in the database (points 0013).
    entry = models.OneToOneField("points.Entry", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("earn entry"), db_constraint=False)
    completed_at = models.DateTimeField(_("completed at"), default=timezone.now)

    class Meta:
        verbose_name = _("task completion")
        verbose_name_plural = _("task completions")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "member", "period"], name="mall_task_once_a_period"),
        ]

    def __str__(self):
        return f"{self.task} {self.period}"


class BadgeMetric(models.TextChoices):
    POINTS_EARNED = "points_earned", _("Points earned")
    REDEMPTIONS = "redemptions", _("Redemptions made")
    CHECK_IN_STREAK = "check_in_streak", _("Check-in streak (days)")
    ORDERS = "orders", _("Orders placed")
    INVITEES = "invitees", _("Friends invited")


class BadgePeriod(models.TextChoices):
    ALL_TIME = "all_time", _("All time (awarded once)")
    ROLLING = "rolling", _("Within the last N days (awarded once)")
    MONTH = "month", _("Within a calendar month (awarded again every month)")


class Badge(Bilingual, models.Model):
    """An achievement: ``metric`` ≥ ``threshold`` within ``period`` earns it, with ``points``."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=40)
    name_en = models.CharField(_("name (English)"), max_length=40, blank=True)
    metric = models.CharField(_("metric"), max_length=20, choices=BadgeMetric.choices)
    threshold = models.PositiveIntegerField(_("threshold"), validators=[MinValueValidator(1)])
    period = models.CharField(_("period"), max_length=10, choices=BadgePeriod.choices,
                              default=BadgePeriod.ALL_TIME)
    period_days = models.PositiveSmallIntegerField(
        _("days"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text=_("For 'within the last N days' only."),
    )
    icon = models.ImageField(_("icon"), upload_to="badges/", blank=True,
                             help_text=_("A square image; a medal is shown without one."))
    points = models.PositiveIntegerField(_("points reward"), default=0,
                                         validators=[MaxValueValidator(100_000)])
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("badge")
        verbose_name_plural = _("badges")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gte=1), name="mall_badge_threshold_positive"),
            models.CheckConstraint(
                condition=(Q(period="rolling", period_days__isnull=False, period_days__gte=1)
                           | (~Q(period="rolling") & Q(period_days__isnull=True))),
                name="mall_badge_days_iff_rolling",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.period == BadgePeriod.ROLLING and not self.period_days:
            raise ValidationError({"period_days": _("Say how many days the window has.")})
        if self.period != BadgePeriod.ROLLING:
            self.period_days = None


class BadgeAward(models.Model):
    """A member earned a badge; ``period`` is ``all`` or the month (``2026-12``) it recurs in."""

    badge = models.ForeignKey(Badge, on_delete=models.PROTECT, related_name="awards",
                              verbose_name=_("badge"))
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="badge_awards", verbose_name=_("member"))
    period = models.CharField(_("period"), max_length=10)
    value = models.BigIntegerField(_("value reached"))
    points = models.PositiveIntegerField(_("points"), default=0)
    awarded_at = models.DateTimeField(_("awarded at"), default=timezone.now)

    class Meta:
        verbose_name = _("badge award")
        verbose_name_plural = _("badge awards")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["badge", "member", "period"], name="mall_badge_once_a_period"),
        ]

    def __str__(self):
        return f"{self.badge} {self.period}"
