"""Suppliers and purchasing (issue 15): who delivers a product, the purchase orders sent to them
and the receipts that bring their goods into stock. Part of ``catalog.models`` (imported there).

Only ``catalog.services.purchasing`` writes these rows. The database keeps a line's running sums
honest: ``0 <= defective <= received <= quantity`` (nothing is received beyond what was ordered,
the services refuse it first as ``over_receipt``) and, per receipt line, defective <= received.
Stock itself only moves through the stock path of ``catalog.services`` (a ``StockMovement`` with
the receipt linked), never from here.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Supplier(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    contact = models.CharField(_("contact"), max_length=255, blank=True,
                               help_text=_("Person, phone or e-mail to order from."))
    lead_time_days = models.PositiveSmallIntegerField(
        _("lead time (days)"), default=7, validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("Days from sending a purchase order to receiving the goods."))
    review_days = models.PositiveSmallIntegerField(
        _("review period (days)"), default=7, validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("Days a replenishment order should last beyond its lead time."))
    service_level = models.DecimalField(
        _("service level"), max_digits=4, decimal_places=3, default=Decimal("0.950"),
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("0.999"))],
        help_text=_("Chance of not running out before the next delivery, e.g. 0.950 for 95%."))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(lead_time_days__gte=1) & Q(review_days__gte=1),
                                   name="catalog_supplier_days_positive"),
            models.CheckConstraint(condition=Q(service_level__gte=Decimal("0.5"))
                                   & Q(service_level__lt=Decimal("1")),
                                   name="catalog_supplier_service_level_range"),
        ]

    def __str__(self):
        return self.name


class PurchaseOrderStatus(models.TextChoices):
    SUGGESTED = "suggested", _("Suggested")
    CREATED = "created", _("Created")
    SENT = "sent", _("Sent")
    PARTLY_RECEIVED = "partly_received", _("Partly received")
    RECEIVED = "received", _("Received")
    CANCELLED = "cancelled", _("Cancelled")


# Orders whose outstanding units count as "open purchase quantity" (on their way).
OPEN_STATUSES = (PurchaseOrderStatus.CREATED, PurchaseOrderStatus.SENT, PurchaseOrderStatus.PARTLY_RECEIVED)


class PurchaseOrder(models.Model):
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders",
                                 verbose_name=_("supplier"))
    status = models.CharField(_("status"), max_length=16, choices=PurchaseOrderStatus.choices,
                              default=PurchaseOrderStatus.CREATED)
    expected_date = models.DateField(_("expected date"))
    note = models.CharField(_("note"), max_length=255, blank=True)
    reasoning = models.JSONField(
        _("reasoning"), default=dict, blank=True, editable=False,
        help_text=_("For a suggestion: the replenishment run that made it."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                   blank=True, related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    received_at = models.DateTimeField(_("fully received at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("purchase order")
        verbose_name_plural = _("purchase orders")
        ordering = ["-id"]
        indexes = [models.Index(fields=["supplier", "status"], name="catalog_po_supplier_status")]

    def __str__(self):
        return f"PO-{self.pk:05d}" if self.pk else "PO"


class PurchaseOrderLine(models.Model):
    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines",
                              verbose_name=_("purchase order"))
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT,
                                related_name="purchase_lines", verbose_name=_("product"))
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    unit_cost = models.DecimalField(_("unit cost"), max_digits=10, decimal_places=2,
                                    default=Decimal("0.00"), validators=[MinValueValidator(Decimal("0"))])
    received = models.PositiveIntegerField(_("received"), default=0, editable=False)
    defective = models.PositiveIntegerField(_("defective"), default=0, editable=False)
    reasoning = models.JSONField(_("reasoning"), default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("purchase order line")
        verbose_name_plural = _("purchase order lines")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="catalog_po_line_product_once"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="catalog_po_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="catalog_po_line_cost_non_negative"),
            models.CheckConstraint(condition=Q(received__lte=F("quantity")),
                                   name="catalog_po_line_received_at_most_ordered"),
            models.CheckConstraint(condition=Q(defective__lte=F("received")),
                                   name="catalog_po_line_defective_at_most_received"),
        ]

    def __str__(self):
        return f"{self.product} × {self.quantity}"

    @property
    def outstanding(self) -> int:
        return self.quantity - self.received


class Receipt(models.Model):
    """One delivery against a purchase order: what arrived, per line, and when."""

    order = models.ForeignKey(PurchaseOrder, on_delete=models.PROTECT, related_name="receipts",
                              verbose_name=_("purchase order"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                    blank=True, related_name="+", verbose_name=_("received by"))
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        ordering = ["-id"]

    def __str__(self):
        return f"GR-{self.pk:05d}" if self.pk else "GR"


class ReceiptLine(models.Model):
    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="lines",
                                verbose_name=_("receipt"))
    line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="receipt_lines",
                             verbose_name=_("purchase order line"))
    quantity_received = models.PositiveIntegerField(_("received"))
    quantity_defective = models.PositiveIntegerField(_("defective"), default=0)

    class Meta:
        verbose_name = _("receipt line")
        verbose_name_plural = _("receipt lines")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity_received__gt=0),
                                   name="catalog_receipt_line_received_positive"),
            models.CheckConstraint(condition=Q(quantity_defective__lte=F("quantity_received")),
                                   name="catalog_receipt_line_defective_at_most_received"),
        ]

    def __str__(self):
        return f"{self.line_id}: {self.quantity_received} ({self.quantity_defective})"

    @property
    def accepted(self) -> int:
        return self.quantity_received - self.quantity_defective
