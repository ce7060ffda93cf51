"""Rule sets: versioned bundles of earning and spending rules that staff edit in the admin.

A rule set is edited as a *draft*, may run as the *candidate* for a gray cohort (a stable
percentage of members and/or chosen tiers), is *published* to everyone, and is *retired* when
another version replaces it. Partial unique indexes keep at most one published and one candidate
version. Only drafts can be edited; ``rules.services`` moves versions through their life cycle and
writes the history rows.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rules.segments import Segment

slug_validator = RegexValidator(r"^[a-z0-9_]{1,32}$", _("Use 1-32 lower-case letters, digits or _."))
# A tier's code is stored on members, products and gray releases (16 characters there).
tier_code_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,15}$", _("Use 1-16 lower-case letters, digits or _, starting with a letter."),
)


class RuleSetStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    CANDIDATE = "candidate", _("Gray release")
    PUBLISHED = "published", _("Published")
    RETIRED = "retired", _("Retired")


def validate_reminder_days(value: str) -> None:
    try:
        days = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise ValidationError(_("Enter whole numbers of days separated by commas, e.g. 30,7.")) from None
    if any(day <= 0 or day > 365 for day in days):
        raise ValidationError(_("Each reminder must be 1 to 365 days before expiry."))


class RuleSet(models.Model):
    version = models.PositiveIntegerField(_("version"), unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100)
    status = models.CharField(
        _("status"), max_length=16, choices=RuleSetStatus.choices, default=RuleSetStatus.DRAFT,
        editable=False,
    )
    notes = models.TextField(_("notes"), blank=True, help_text=_("What changed and why."))
    gray_percent = models.PositiveSmallIntegerField(
        _("gray percentage"), default=0, editable=False,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Share of members (stable buckets 0-99) who earn under this candidate."),
    )
    gray_tiers = ArrayField(
        models.CharField(max_length=16), default=list, blank=True,
        editable=False, verbose_name=_("gray tiers"),
        help_text=_("Tiers who earn under this candidate regardless of their bucket."),
    )
    gray_segments = ArrayField(
        models.CharField(max_length=24, choices=Segment.choices), default=list, blank=True,
        editable=False, verbose_name=_("gray RFM segments"),
        help_text=_("RFM segments who earn under this candidate regardless of their bucket."),
    )

    # Earning from orders.
    base_points_per_yuan = models.DecimalField(
        _("points per yuan"), max_digits=8, decimal_places=4, default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Base rate on each line's paid amount, after discounts; rounded down per line."),
    )
    max_points_per_order = models.PositiveIntegerField(
        _("max points per order"), null=True, blank=True,
        help_text=_("Cap on the points one order can earn (empty: no cap)."),
    )
    # Behaviours.
    daily_behaviour_cap = models.PositiveIntegerField(
        _("daily behaviour cap"), default=500,
        help_text=_("Most behaviour points a member can earn in one day (anti-farming)."),
    )
    # Pending, expiry and reminders.
    pending_days = models.PositiveSmallIntegerField(
        _("pending days"), default=7, validators=[MaxValueValidator(365)],
        help_text=_("Order points stay pending this many days (the refund window)."),
    )
    expiry_months = models.PositiveSmallIntegerField(
        _("validity in months"), default=12, validators=[MaxValueValidator(120)],
        help_text=_("Points expire at the end of the month this many months after earning; 0 = never."),
    )
    reminder_days = models.CharField(
        _("reminder days"), max_length=50, default="30,7", validators=[validate_reminder_days],
        help_text=_("Days before expiry to remind members, comma-separated."),
    )
    # Spending.
    redemption_points_per_yuan = models.PositiveIntegerField(
        _("points per yuan of deduction"), default=100, validators=[MinValueValidator(1)],
        help_text=_("How many points pay for 1 yuan at checkout."),
    )
    redemption_max_percent = models.PositiveSmallIntegerField(
        # xgettext:no-python-format
        _("max % of an order payable with points"), default=50,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    redemption_min_points = models.PositiveIntegerField(
        _("minimum points per deduction"), default=0,
    )
    # Lifecycle campaigns.
    new_member_days = models.PositiveSmallIntegerField(
        _("new-member window (days)"), default=7,
        help_text=_("Days after joining in which the first-redemption discount applies."),
    )
    new_member_redemption_discount = models.PositiveIntegerField(
        _("first-redemption discount (points)"), default=50,
    )
    inactive_days = models.PositiveSmallIntegerField(
        _("inactive after (days)"), default=60,
        help_text=_("Members inactive this long get a reminder and wake-up points."),
    )
    wakeup_points = models.PositiveIntegerField(_("wake-up points"), default=50)
    wakeup_cooldown_days = models.PositiveSmallIntegerField(
        _("wake-up cooldown (days)"), default=90,
    )
    # Tier qualification.
    tier_window_days = models.PositiveSmallIntegerField(
        _("tier window (days)"), default=365,
        help_text=_("Tiers qualify on points earned (not balance) over this rolling window."),
    )
    tier_grace_days = models.PositiveSmallIntegerField(
        _("downgrade grace (days)"), default=30,
        help_text=_("A member who falls below their tier keeps it this many days."),
    )

    cloned_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, editable=False,
        related_name="clones", verbose_name=_("cloned from"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", editable=False, verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", editable=False, verbose_name=_("last edited by"),
    )
    updated_at = models.DateTimeField(_("last edited at"), default=timezone.now, editable=False)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", editable=False, verbose_name=_("published by"),
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("rule set")
        verbose_name_plural = _("rule sets")
        ordering = ["-version"]
        permissions = [("publish_ruleset", _("Can publish, gray-release and roll back rule sets"))]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="published"), name="rules_one_published"
            ),
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="candidate"), name="rules_one_candidate"
            ),
            models.CheckConstraint(
                condition=Q(gray_percent__gte=0, gray_percent__lte=100), name="rules_gray_percent_range"
            ),
        ]

    def __str__(self):
        return f"v{self.version} {self.name} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        return self.status == RuleSetStatus.DRAFT


class TierRule(models.Model):
    """One tier of a rule set: its code (stored on members, products and gray releases), its
    names, its rank (1 = the lowest), its earning multiplier and the points earned within the
    tier window that qualify for it. The cross-row rules (the lowest tier qualifies at 0, higher
    ranks need more points and never earn less) are ``rules.tiers.table_errors``, checked by the
    admin form and again on release."""

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="tiers")
    code = models.CharField(
        _("code"), max_length=16, validators=[tier_code_validator],
        help_text=_("Stored on members and products, e.g. gold. Renaming a tier keeps its code."),
    )
    name = models.CharField(_("name (Chinese)"), max_length=32, help_text=_("e.g. 金卡会员"))
    name_en = models.CharField(_("name (English)"), max_length=32, blank=True,
                               help_text=_("e.g. Gold; empty: the Chinese name."))
    rank = models.PositiveSmallIntegerField(
        _("rank"), validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Order of the tiers: 1 is the lowest; a downgrade moves one rank down."),
    )
    multiplier = models.DecimalField(
        _("multiplier"), max_digits=5, decimal_places=2, default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("10"))],
        help_text=_("Multiplies the base points of order lines, e.g. 1.5 for gold."),
    )
    qualify_points = models.PositiveIntegerField(
        _("points to qualify"), default=0,
        help_text=_("Points earned within the tier window needed for this tier."),
    )

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "code"], name="rules_tier_once"),
            models.UniqueConstraint(fields=["rule_set", "rank"], name="rules_tier_rank_once"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="rules_tier_rank_positive"),
        ]

    def __str__(self):
        return f"{self.name} ({self.code}) ×{self.multiplier}"


class CategoryBonus(models.Model):
    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="category_bonuses")
    category = models.CharField(
        _("category"), max_length=32, validators=[slug_validator],
        help_text=_("Category code sent by the shop with each order line, e.g. imported."),
    )
    label = models.CharField(_("label"), max_length=50, blank=True)
    bonus_percent = models.DecimalField(
        _("bonus %"), max_digits=6, decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1000"))],
        # xgettext:no-python-format
        help_text=_("Extra points as a % of the line's base points; a line takes its highest bonus."),
    )

    class Meta:
        verbose_name = _("category bonus")
        verbose_name_plural = _("category bonuses")
        ordering = ["category"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "category"], name="rules_category_once")
        ]

    def __str__(self):
        return f"{self.label or self.category} +{self.bonus_percent}%"


class SpendTier(models.Model):
    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="spend_tiers")
    threshold = models.DecimalField(
        _("order amount from"), max_digits=12, decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    bonus_points = models.PositiveIntegerField(
        _("bonus points"), validators=[MinValueValidator(1)],
        help_text=_("满X返Y: an order reaching this amount gets these points once; only the "
                    "highest threshold reached counts."),
    )

    class Meta:
        verbose_name = _("spend tier")
        verbose_name_plural = _("spend tiers")
        ordering = ["threshold"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "threshold"], name="rules_threshold_once")
        ]

    def __str__(self):
        return f"满{self.threshold:g}返{self.bonus_points}"


class BehaviourRule(models.Model):
    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="behaviours")
    action = models.CharField(
        _("action"), max_length=32, validators=[slug_validator],
        help_text=_("Action code sent by the shop, e.g. review, share, register."),
    )
    label = models.CharField(_("label"), max_length=50, blank=True)
    points = models.PositiveIntegerField(_("points"), validators=[MinValueValidator(1)])
    photo_bonus_percent = models.DecimalField(
        _("photo bonus %"), max_digits=6, decimal_places=2, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1000"))],
        help_text=_("Extra % when the event carries a photo (e.g. reviews with pictures)."),
    )
    daily_limit = models.PositiveSmallIntegerField(
        _("times per day"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("Empty: no daily limit."),
    )
    lifetime_limit = models.PositiveIntegerField(
        _("times per member"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("Empty: no lifetime limit (register: 1)."),
    )

    class Meta:
        verbose_name = _("behaviour rule")
        verbose_name_plural = _("behaviour rules")
        ordering = ["action"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "action"], name="rules_action_once")
        ]

    def __str__(self):
        return f"{self.label or self.action}: {self.points}"


class CheckInStep(models.Model):
    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="check_in_steps")
    day = models.PositiveSmallIntegerField(
        _("streak day"), validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text=_("Day of the streak; the last day's points repeat for longer streaks."),
    )
    points = models.PositiveIntegerField(_("points"), validators=[MinValueValidator(1)])

    class Meta:
        verbose_name = _("check-in step")
        verbose_name_plural = _("check-in streak")
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["rule_set", "day"], name="rules_day_once")]

    def __str__(self):
        return f"day {self.day}: {self.points}"


class RuleSetEvent(models.Model):
    """History of a rule set: who did what, and when. Written by rules.services only."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        EDITED = "edited", _("Edited")
        CLONED = "cloned", _("Cloned as draft")
        GRAY_STARTED = "gray_started", _("Gray release started")
        GRAY_WIDENED = "gray_widened", _("Gray release widened")
        PUBLISHED = "published", _("Published to all")
        ROLLED_BACK = "rolled_back", _("Rolled back")
        RETIRED = "retired", _("Retired")
        IMPORTED = "imported", _("Imported")

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    detail = models.CharField(_("detail"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("rule set change")
        verbose_name_plural = _("rule set history")
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"v{self.rule_set.version} {self.action} {self.at:%Y-%m-%d %H:%M}"
