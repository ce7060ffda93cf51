"""Purchasing errors (``catalog.services.purchasing``), next to ``catalog.errors``' own: each a
``CatalogError`` with its machine ``code`` — ``purchase_order_state`` when the order's status does
not allow the operation, ``over_receipt`` when a receipt would bring in more than a line still
awaits. Malformed input raises ``catalog.errors.InvalidArgument`` / ``InvalidQuantity``."""

from django.utils.translation import gettext_lazy as _

from catalog.errors import CatalogError


class PurchaseOrderState(CatalogError):
    """The purchase order's status does not allow this (e.g. receiving an order not yet sent)."""

    code = "purchase_order_state"
    default_message = _("This purchase order cannot be changed that way in its current status.")


class OverReceipt(CatalogError):
    """More units received on a line than it still awaits (ordered − received so far)."""

    code = "over_receipt"
    default_message = _("More units received than the purchase order line still awaits.")
