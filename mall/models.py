from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.pii import BlindIndexField, EncryptedCharField, index_update_fields
from rules.segments import Segment
from rules.tiers import FALLBACK_TIER, validate_tier_code

phone_validator = RegexValidator(r"^\+?[0-9]{6,20}$", _("Enter a phone number of 6 to 20 digits."))


class Member(AbstractUser):
    """A member of the loyalty programme; also the login for staff (is_staff)."""

    # Personal data is stored SM4-encrypted (common.pii); equality goes through the blind
    # indexes (phone login, the unique phone, admin search), never the ciphertext.
    phone = EncryptedCharField(
        _("phone"), max_length=20, null=True, blank=True, validators=[phone_validator]
    )
    phone_index = BlindIndexField(source="phone", unique=True)
    email = EncryptedCharField(_("email address"), max_length=254, blank=True)
    email_index = BlindIndexField(source="email", casefold=True, db_index=True)
    nickname = models.CharField(_("nickname"), max_length=64, blank=True)
    external_id = models.CharField(
        _("external id"),
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The member's user id in the shop's order system."),
    )
    # A code of the published rule set's tiers (``rules.tiers``), moved by mall.services.tiers.
    # The sign-up services start members at the published lowest tier; the static default
    # (no query when a Member is instantiated) is for rows made any other way.
    tier = models.CharField(_("tier"), max_length=16, default=FALLBACK_TIER,
                            validators=[validate_tier_code])
    tier_grace_until = models.DateField(
        _("keeps the tier until"), null=True, blank=True, editable=False,
        help_text=_("Set while the member's earnings are below their tier: the last day they keep "
                    "it (the nightly re-evaluation drops one tier after it)."),
    )
    last_active_at = models.DateTimeField(_("last active at"), null=True, blank=True)
    # Written by the nightly RFM job (mall.rfm); empty until the member's first scoring.
    segment = models.CharField(_("RFM segment"), max_length=24, blank=True, default="",
                               db_default="", choices=Segment.choices, db_index=True, editable=False)
    # Access tokens issued before this instant are refused (mall.authentication): a password
    # change or an account closing signs the member out of every app at once.
    tokens_valid_after = models.DateTimeField(null=True, blank=True, editable=False)
    # Set when the member closed their account (PIPL erasure): personal data is gone, the
    # ledger's entries stay under this anonymised row.
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)

    objects = UserManager()

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [
            # "Alice" and "alice" are one name: sign-up, the shop's hook and the admin all meet
            # this index (mall.services.members checks it first to report a field error).
            models.UniqueConstraint(Lower("username"), name="mall_member_username_ci_unique",
                                    violation_error_message=_("This username is taken by another member.")),
        ]
        permissions = [("view_personal_data", _("Can view personal data unmasked"))]

    def __str__(self):
        return self.nickname or self.username

    def save(self, *args, **kwargs):
        # Empty strings would collide on the unique columns; absent means NULL.
        self.phone = self.phone or None
        self.external_id = self.external_id or None
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = index_update_fields(self, kwargs["update_fields"])
        super().save(*args, **kwargs)


class TierChange(models.Model):
    """One change of a member's tier, or of its grace: who, from which tier to which, why, with
    the points they had earned in the tier window, and when. Written by ``mall.services.tiers``
    only (the nightly re-evaluation, the shop's hook, staff); shown in the admin and in the
    member's points history."""

    class Reason(models.TextChoices):
        UPGRADE = "upgrade", _("Upgrade")
        GRACE = "grace", _("Below the tier: grace started")
        RECOVERED = "recovered", _("Back above the tier: grace ended")
        DOWNGRADE = "downgrade", _("Downgrade after grace")
        SHOP = "shop", _("Set by the shop")
        STAFF = "staff", _("Set by staff")

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="tier_changes", verbose_name=_("member"))
    from_tier = models.CharField(_("from"), max_length=16)
    to_tier = models.CharField(_("to"), max_length=16)
    reason = models.CharField(_("why"), max_length=16, choices=Reason.choices)
    earned_points = models.BigIntegerField(
        _("points earned in the window"), null=True, blank=True,
        help_text=_("Earnings less their reversals within the tier window, at the re-evaluation."),
    )
    grace_until = models.DateField(_("keeps the tier until"), null=True, blank=True)
    rule_version = models.PositiveIntegerField(_("rule version"), null=True, blank=True)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                              blank=True, related_name="+", verbose_name=_("staff"))
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["member", "-at"], name="mall_tierchange_member")]

    def __str__(self):
        return f"{self.member_id}: {self.from_tier} → {self.to_tier} ({self.reason})"


class HookEvent(models.Model):
    """One event received on a signed hook, applied once per ``event_id``.

    Inserted first in the transaction that applies the event, so a concurrent duplicate waits on
    the unique index and then reads the stored response. Only applied events (2xx) are stored: a
    refused event rolls back with its row and is evaluated again on redelivery.
    """

    event_id = models.CharField(_("event id"), max_length=100, unique=True)
    endpoint = models.CharField(_("endpoint"), max_length=32)
    request_hash = models.CharField(_("request hash"), max_length=64)
    status = models.PositiveSmallIntegerField(_("status"), null=True, blank=True)
    response = models.JSONField(_("response"), null=True, blank=True)
    created_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("hook event")
        verbose_name_plural = _("hook events")
        indexes = [models.Index(fields=["created_at"], name="mall_hookevent_created")]

    def __str__(self):
        return f"{self.endpoint} {self.event_id}"


class MessageKind(models.TextChoices):
    POINTS = "points", _("Points")
    TIER = "tier", _("Tier")
    OFFER = "offer", _("Offers")
    NOTICE = "notice", _("Notice")
    SYSTEM = "system", _("System")


class MessageTemplate(models.Model):
    """The words of one purpose of message (``mall.services.messages.PURPOSES``), edited by staff.

    Title, body and link may use the purpose's placeholders, e.g. ``{points}`` and ``{date}``;
    the admin form refuses any other. Each language has its own title and body; the English ones
    may be left empty (the Chinese are used then).
    """

    purpose = models.CharField(_("purpose"), max_length=32, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=MessageKind.choices,
                            default=MessageKind.NOTICE)
    title = models.CharField(_("title (Chinese)"), max_length=120)
    body = models.TextField(_("body (Chinese)"), max_length=1000)
    title_en = models.CharField(_("title (English)"), max_length=120, blank=True)
    body_en = models.TextField(_("body (English)"), max_length=1000, blank=True)
    link = models.CharField(
        _("link"), max_length=200, blank=True,
        help_text=_("A page of the member site the message opens, e.g. /mall/ (optional)."),
    )
    email = models.BooleanField(_("also by e-mail"), default=False,
                                help_text=_("To members who gave an e-mail address."))
    sms = models.BooleanField(_("also by SMS"), default=False,
                              help_text=_("To members who gave a phone number."))
    push = models.BooleanField(_("also by app push"), default=False)
    updated_at = models.DateTimeField(_("last edited at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["purpose"]

    def __str__(self):
        return self.title


class Message(models.Model):
    """One message in a member's inbox, sent once per (member, purpose, period).

    ``period`` names the occasion (an expiry date and reminder day, a cooldown window, a
    broadcast id...); the unique key makes a second send of the same occasion (a job re-run, two
    workers at once) insert nothing. The text is rendered when sent, in Chinese and English, so
    a later edit of the template does not rewrite what members already received.
    """

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="messages", verbose_name=_("member"))
    purpose = models.CharField(_("purpose"), max_length=32)
    period = models.CharField(_("period"), max_length=64)
    kind = models.CharField(_("kind"), max_length=16, choices=MessageKind.choices)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"))
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    body_en = models.TextField(_("body (English)"), blank=True)
    link = models.CharField(_("link"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "purpose", "period"], name="mall_message_once"),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at", "-id"], name="mall_message_inbox"),
            models.Index(fields=["member"], condition=models.Q(read_at__isnull=True),
                         name="mall_message_unread"),
        ]

    def __str__(self):
        return self.title

    def text(self, language: str) -> tuple[str, str]:
        """(title, body) in ``language``; Chinese where no English was written."""
        if language.startswith("en") and self.title_en:
            return self.title_en, self.body_en or self.body
        return self.title, self.body


class Broadcast(models.Model):
    """A message staff send to a segment of members (e.g. a rule change announced in advance).

    Sent once: every recipient's message has the purpose ``broadcast`` and the period
    ``b{id}``, so sending again (a double click, a retry) reaches only members not reached yet.
    """

    title = models.CharField(_("title (Chinese)"), max_length=120)
    body = models.TextField(_("body (Chinese)"), max_length=1000)
    title_en = models.CharField(_("title (English)"), max_length=120, blank=True)
    body_en = models.TextField(_("body (English)"), max_length=1000, blank=True)
    link = models.CharField(_("link"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=MessageKind.choices,
                            default=MessageKind.NOTICE)
    tiers = ArrayField(models.CharField(max_length=16), default=list, blank=True,
                       verbose_name=_("tiers"), help_text=_("Empty: every tier."))
    segments = ArrayField(models.CharField(max_length=24, choices=Segment.choices), default=list,
                          blank=True, verbose_name=_("RFM segments"),
                          help_text=_("Empty: every segment (and members not scored yet)."))
    inactive_days = models.PositiveSmallIntegerField(
        _("inactive for at least (days)"), null=True, blank=True,
        help_text=_("Only members with no activity for this many days (empty: active or not)."),
    )
    email = models.BooleanField(_("also by e-mail"), default=False)
    sms = models.BooleanField(_("also by SMS"), default=False)
    push = models.BooleanField(_("also by app push"), default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                   blank=True, related_name="+", editable=False,
                                   verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True, editable=False)
    recipients = models.PositiveIntegerField(_("recipients"), default=0, editable=False)

    class Meta:
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        ordering = ["-created_at"]
        # Sending reaches members at once and cannot be taken back: a permission of its own,
        # apart from editing the draft (change_broadcast).
        permissions = [("send_broadcast", _("Can send broadcast"))]

    def __str__(self):
        return self.title


# Daily tasks and badges live in their own module; imported here so Django registers them.
from mall.play_models import (  # noqa: E402, F401
    Badge,
    BadgeAward,
    BadgeMetric,
    BadgePeriod,
    Task,
    TaskBehaviour,
    TaskCompletion,
    TaskPeriod,
)

# The dashboards' materialised aggregates (mall.report_jobs fills them).
from mall.report_models import DailyPoints, LotMaturity, ReportWatermark  # noqa: E402, F401

# RFM segments: settings, nightly runs and per-member scores (mall.rfm writes them).
from mall.rfm_models import RfmRun, RfmScore, RfmSettings  # noqa: E402, F401
