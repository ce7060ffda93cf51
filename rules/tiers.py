"""Tier codes. Tiers are configured in the rule set (``rules.models.TierRule``: multiplier and
points to qualify per tier); the codes live here, beside that configuration, and every app that
stores or checks a member's tier (``mall.Member.tier``, product visibility, gray release) uses
these choices."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Tier(models.TextChoices):
    NORMAL = "normal", _("Normal")
    SILVER = "silver", _("Silver")
    GOLD = "gold", _("Gold")
