"""Points + cash: the payment of a redemption's cash part (``Payment``), and the member's saved
shipping addresses (``Address``). Imported at the end of ``catalog.models``; only
``catalog.services`` writes these rows (``payments`` and ``addresses``).

A redemption of a product with a cash price waits in ``awaiting_payment`` with its points held
(``points.Hold``) and its stock taken, until the payment provider's signed callback says paid
(the hold is captured and the redemption goes on as a points-only one) or failed, or the
``release_unpaid`` job finds it past ``expires_at`` (hold released, stock back, redemption
cancelled).
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.pii import BlindIndexField, EncryptedCharField, index_update_fields, mask_address

# A mainland China mobile number: 11 digits, 1 then 3-9.
MOBILE_RE = r"^1[3-9]\d{9}\Z"
mobile_validator = RegexValidator(MOBILE_RE, _("Enter a mobile number such as 13800138000."),
                                  code="invalid_phone")


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting payment")
    PAID = "paid", _("Paid")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


class Payment(models.Model):
    """The cash part of one redemption, paid through ``provider`` (``catalog.payments``)."""

    redemption = models.OneToOneField(
        "catalog.Redemption", on_delete=models.PROTECT, related_name="payment",
        verbose_name=_("redemption"),
    )
    provider = models.CharField(_("payment provider"), max_length=32)
    reference = models.CharField(_("payment reference"), max_length=64, unique=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    status = models.CharField(_("status"), max_length=16, choices=PaymentStatus.choices,
                              default=PaymentStatus.PENDING)
    hold = models.ForeignKey(
        "points.Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("points hold"),
        help_text=_("The points reserved until the payment; empty when the redemption costs no "
                    "points."),
        # No member on the row to reference the partitioned holds with: no foreign key
        # (docs/scaling.md: checked by the tests, not by the database).
        db_constraint=False,
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=Decimal("0")),
                                   name="catalog_payment_amount_positive"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="catalog_payment_pending",
                                condition=Q(status="pending"))]

    def __str__(self):
        return f"{self.reference} ¥{self.amount} ({self.get_status_display()})"


class Address(models.Model):
    """A member's saved shipping address; at most one is their default."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="addresses",
        verbose_name=_("member"),
    )
    # Personal data, stored SM4-encrypted (common.pii); the phone's blind index is for the
    # admin's search.
    recipient = EncryptedCharField(_("recipient"), max_length=50)
    phone = EncryptedCharField(_("mobile number"), max_length=11, validators=[mobile_validator])
    phone_index = BlindIndexField(source="phone", db_index=True)
    region = EncryptedCharField(_("region"), max_length=100,
                                help_text=_("Province, city and district."))
    detail = EncryptedCharField(_("street address"), max_length=200)
    is_default = models.BooleanField(_("default address"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["-is_default", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member"], condition=Q(is_default=True),
                                    name="catalog_address_one_default"),
        ]

    def __str__(self):
        # Masked: str() ends up in admin pages and audit records; the member's own pages
        # show ``snapshot()``.
        return mask_address(self.snapshot())

    def save(self, *args, **kwargs):
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = index_update_fields(self, kwargs["update_fields"])
        super().save(*args, **kwargs)

    def snapshot(self) -> str:
        """The text a redemption keeps (``Redemption.address``): later edits do not change it."""
        return f"{self.recipient} {self.phone}\n{self.region} {self.detail}"
