"""The points mall in the admin: categories, products with their stock and coupon pools, and
redemption orders, one module each (``categories``, ``products``, ``coupon_codes``,
``redemptions``), with their list filters in ``filters`` and what they share in ``base``.
Importing this package registers them all; channels (import
and stock sync) are in ``channels``.

Every write of a product, its stock, its codes or a redemption goes through ``catalog.services``:
the product form saves with ``save_product`` (stock and sold are read-only there), new stock
adjustments typed into the product page are applied with ``adjust_stock``, imports go through the
resources in ``catalog.resources``, and redemptions move with ``fulfil``/``complete``/``cancel``.
A service refusal is shown as a form error or a message, never a 500. Categories have no service
(they hold no invariant); saving one invalidates the catalog cache after the commit.

Permissions. Products and categories: the model permissions; import needs add and change. Stock
adjustments: ``add_stockmovement``. Coupon-code import: ``add_couponcode``. Redemptions are never
edited as a form: ``change_redemption`` allows fulfilling and completing them, and
``cancel_redemption`` (created by the staff-groups migration, for customer service) cancelling.
"""

from catalog.admin import (  # noqa: F401 (registers)
    auctions,
    categories,
    channels,
    coupon_codes,
    lotteries,
    payments,
    products,
    redemptions,
    supply,
)
