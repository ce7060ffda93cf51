from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rules.tiers import Tier

phone_validator = RegexValidator(r"^\+?[0-9]{6,20}$", _("Enter a phone number of 6 to 20 digits."))


class Member(AbstractUser):
    """A member of the loyalty programme; also the login for staff (is_staff)."""

    phone = models.CharField(
        _("phone"), max_length=20, unique=True, null=True, blank=True, validators=[phone_validator]
    )
    nickname = models.CharField(_("nickname"), max_length=64, blank=True)
    external_id = models.CharField(
        _("external id"),
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The member's user id in the shop's order system."),
    )
    tier = models.CharField(_("tier"), max_length=16, choices=Tier.choices, default=Tier.NORMAL)
    last_active_at = models.DateTimeField(_("last active at"), null=True, blank=True)

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

    def __str__(self):
        return self.nickname or self.username

    def save(self, *args, **kwargs):
        # Empty strings would collide on the unique columns; absent means NULL.
        self.phone = self.phone or None
        self.external_id = self.external_id or None
        super().save(*args, **kwargs)


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
