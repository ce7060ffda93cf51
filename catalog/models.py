"""The points mall: categories, products, stock, coupon-code pools and redemption orders, and the
holds the shop's checkout placed (``CheckoutHold``).

What "on sale" and "visible to a tier" mean is written here once, on the product: in SQL as
``Product.objects.on_sale(now)`` / ``.visible_to(tier)`` and in Python as
``product.sale_state(now)`` / ``.is_on_sale(now)`` / ``.is_visible_to(tier)`` (the two halves are
kept side by side, and a test checks they agree). Listings, product pages, the API, the admin and
``catalog.services.redeem`` all use them.

Only ``catalog.services`` writes these rows (``catalog.checkout`` the checkout holds). The
database keeps stock non-negative and a coupon code given at most once (one redemption per code,
unique codes); a redemption's idempotency key is unique.
"""

from decimal import Decimal
from enum import StrEnum

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.pii import EncryptedTextField
from rules.segments import Segment


class Category(models.Model):
    name = models.CharField(_("name"), max_length=50)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children",
        verbose_name=_("parent category"),
    )
    sort_order = models.IntegerField(_("sort order"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["sort_order", "id"]

    def __str__(self):
        return f"{self.parent} / {self.name}" if self.parent_id else self.name


def tier_may_see(visible_tiers, tier) -> bool:
    """The tier rule of a product: an empty ``visible_tiers`` is every tier. Also applied to the
    cached product dicts of ``catalog.selectors``, which carry ``visible_tiers``."""
    return not visible_tiers or tier in visible_tiers


class SaleState(StrEnum):
    """Whether a product is on sale at a moment, and if not, why (``Product.sale_state``)."""

    ON_SALE = "on_sale"
    INACTIVE = "inactive"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    CATEGORY_CLOSED = "category_closed"


def _on_sale(now) -> Q:
    # The SQL twin of Product.sale_state(now) == ON_SALE: change both together.
    return (
        Q(active=True)
        & (Q(sale_starts_at__isnull=True) | Q(sale_starts_at__lte=now))
        & (Q(sale_ends_at__isnull=True) | Q(sale_ends_at__gt=now))
        & (Q(category__isnull=True) | Q(category__active=True))
    )


class ProductQuerySet(models.QuerySet):
    def on_sale(self, now=None):
        """Products members can redeem at ``now`` (default: now): active, inside their sale
        window, and in an active category (or none)."""
        return self.filter(_on_sale(now or timezone.now()))

    def off_sale(self, now=None):
        """Every product ``on_sale(now)`` leaves out."""
        return self.exclude(_on_sale(now or timezone.now()))

    def visible_to(self, tier: str):
        """Products a member of ``tier`` may see (``tier_may_see``)."""
        return self.filter(Q(visible_tiers=[]) | Q(visible_tiers__contains=[tier]))


class ProductKind(models.TextChoices):
    PHYSICAL = "physical", _("Physical goods")
    COUPON = "coupon", _("Coupon code")
    PRIVILEGE = "privilege", _("Privilege")


class Product(models.Model):
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=ProductKind.choices,
                            default=ProductKind.PHYSICAL)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, null=True, blank=True, related_name="products",
        verbose_name=_("category"),
    )
    points_price = models.PositiveIntegerField(
        _("points price"), validators=[MinValueValidator(1)],
        help_text=_("Points for one unit."),
    )
    cash_price = models.DecimalField(
        _("cash price"), max_digits=10, decimal_places=2, default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Cash paid on top of the points (points + cash); 0 for points only."),
    )
    stock = models.PositiveIntegerField(_("stock"), default=0)
    sold = models.PositiveIntegerField(_("sold"), default=0, editable=False)
    usage_instructions = models.TextField(
        _("how to use"), blank=True,
        help_text=_("Shown with a coupon's code in the member's wallet (where and how to use it)."),
    )
    coupon_valid_days = models.PositiveIntegerField(
        _("coupon valid for (days)"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("A coupon code is valid this many days after it is issued; empty: no expiry."),
    )
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("Most units one member can redeem over the product's lifetime; empty: no limit."),
    )
    visible_tiers = ArrayField(
        models.CharField(max_length=16), default=list, blank=True,
        verbose_name=_("visible to tiers"), help_text=_("Empty: every tier. Codes of the published tiers."),
    )
    sale_starts_at = models.DateTimeField(_("sale starts"), null=True, blank=True)
    sale_ends_at = models.DateTimeField(_("sale ends"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    sort_order = models.IntegerField(_("sort order"), default=0)
    supplier = models.ForeignKey(
        "catalog.Supplier", on_delete=models.PROTECT, null=True, blank=True, related_name="products",
        verbose_name=_("supplier"),
    )
    supplier_sku = models.CharField(_("supplier SKU"), max_length=64, blank=True, default="", db_default="")
    # The supply and channel columns have database defaults, so bulk SQL loads (the recommender's
    # evaluation, the benches) that predate them need not name them.
    # Where the goods come from (catalog.channel_models): the channel's import writes name,
    # description, image URL, category and cash price; never points price or stock.
    channel = models.ForeignKey(
        "catalog.Channel", on_delete=models.PROTECT, null=True, blank=True, related_name="products",
        verbose_name=_("goods channel"),
    )
    channel_sku = models.CharField(
        _("channel SKU"), max_length=64, blank=True, default="", db_default="",
        help_text=_("The product's SKU in the channel's feed; unique within the channel."),
    )
    stock_from_channel = models.BooleanField(
        _("stock from channel"), default=False, db_default=False,
        help_text=_("The stock sync sets the stock to the channel's figure minus the units "
                    "promised to open redemptions."),
    )
    image_url = models.URLField(_("image URL"), max_length=500, blank=True, default="", db_default="",
                                help_text=_("The picture's address in the channel's feed."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sort_order", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__gte=0), name="catalog_stock_non_negative"),
            models.CheckConstraint(condition=Q(points_price__gt=0), name="catalog_points_price_positive"),
            models.CheckConstraint(condition=Q(cash_price__gte=0), name="catalog_cash_price_non_negative"),
            models.CheckConstraint(
                condition=Q(sale_starts_at__isnull=True) | Q(sale_ends_at__isnull=True)
                | Q(sale_ends_at__gt=models.F("sale_starts_at")),
                name="catalog_sale_window_ordered",
            ),
            models.UniqueConstraint(
                fields=["channel", "channel_sku"], condition=Q(channel__isnull=False),
                name="catalog_one_product_per_channel_sku",
                violation_error_message=_("This channel already has a product with this SKU.")),
            # A channel product has its SKU; stock from a channel needs one (physical goods only:
            # a coupon's stock is its code pool).
            models.CheckConstraint(condition=Q(channel__isnull=True) | ~Q(channel_sku=""),
                                   name="catalog_channel_product_has_sku"),
            models.CheckConstraint(
                condition=Q(stock_from_channel=False) | Q(channel__isnull=False, kind="physical"),
                name="catalog_stock_from_channel_physical"),
        ]
        indexes = [models.Index(fields=["active", "category", "sort_order"], name="catalog_listing")]

    def __str__(self):
        return self.name

    def sale_state(self, now) -> SaleState:
        """``ON_SALE`` when members can redeem the product at ``now``, else the first reason it
        is not (the Python twin of ``ProductQuerySet.on_sale``). Reads the category's row unless
        it was selected with the product."""
        if not self.active:
            return SaleState.INACTIVE
        if self.sale_starts_at is not None and self.sale_starts_at > now:
            return SaleState.NOT_STARTED
        if self.sale_ends_at is not None and self.sale_ends_at <= now:
            return SaleState.ENDED
        if self.category_id is not None and not self.category.active:
            return SaleState.CATEGORY_CLOSED
        return SaleState.ON_SALE

    def is_on_sale(self, now) -> bool:
        return self.sale_state(now) == SaleState.ON_SALE

    def is_visible_to(self, tier: str) -> bool:
        return tier_may_see(self.visible_tiers, tier)


class ProductImage(models.Model):
    """One picture of a product, with its thumbnails (400 and 800 pixels wide, made on upload by
    ``catalog.images``). At most one per product is the cover (a partial unique index); written
    only by ``catalog.services.images``."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images",
                                verbose_name=_("product"))
    image = models.ImageField(_("image"), upload_to="products/", width_field="width",
                              height_field="height")
    thumbnail_400 = models.ImageField(_("thumbnail (400 px)"), upload_to="products/thumbs/",
                                      editable=False)
    thumbnail_800 = models.ImageField(_("thumbnail (800 px)"), upload_to="products/thumbs/",
                                      editable=False)
    width = models.PositiveIntegerField(_("width"), default=0, editable=False)
    height = models.PositiveIntegerField(_("height"), default=0, editable=False)
    is_cover = models.BooleanField(_("cover"), default=False)
    position = models.PositiveIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("product image")
        verbose_name_plural = _("product images")
        ordering = ["-is_cover", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["product"], condition=Q(is_cover=True),
                                    name="catalog_one_cover_per_product"),
        ]

    def __str__(self):
        return self.image.name

    def height_at(self, width: int) -> int:
        """The height of the picture scaled to ``width`` pixels (for ``<img height>``)."""
        if not self.width or not self.height:
            return width
        return max(1, round(self.height * min(width, self.width) / self.width))


class StockMovement(models.Model):
    """Every change of a product's stock, with its reason: staff adjustments, redemptions and
    purchase receipts (``receipt``)."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="stock_movements")
    delta = models.IntegerField(_("change"))
    stock_after = models.PositiveIntegerField(_("stock after"))
    reason = models.CharField(_("reason"), max_length=255)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("staff"),
    )
    redemption = models.ForeignKey(
        "Redemption", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
    )
    receipt = models.ForeignKey(
        "catalog.Receipt", on_delete=models.PROTECT, null=True, blank=True, related_name="stock_movements",
        verbose_name=_("receipt"),
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        ordering = ["-id"]

    def __str__(self):
        return f"{self.product} {self.delta:+d}"


class RedemptionStatus(models.TextChoices):
    CREATED = "created", _("Created")
    FULFILLED = "fulfilled", _("Fulfilled")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    # Points held and stock taken until the cash part is paid (catalog.payment_models.Payment).
    AWAITING_PAYMENT = "awaiting_payment", _("Awaiting payment")


class Redemption(models.Model):
    """A member's redemption order: created -> fulfilled -> completed, or cancelled."""

    key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="redemptions",
        verbose_name=_("member"),
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="redemptions",
                                verbose_name=_("product"))
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    points = models.PositiveIntegerField(_("points"))
    welcome_discount = models.PositiveIntegerField(
        _("welcome discount"), default=0,
        help_text=_("Points the new-member offer took off this redemption's price."),
    )
    cash = models.DecimalField(_("cash"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    status = models.CharField(_("status"), max_length=16, choices=RedemptionStatus.choices,
                              default=RedemptionStatus.CREATED)
    # SM4-encrypted (common.pii), like the saved addresses.
    address = EncryptedTextField(_("shipping address"), blank=True)
    shipping_address = models.ForeignKey(
        "catalog.Address", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("saved address"),
        help_text=_("The saved address chosen; the text above is what ships (a snapshot)."),
    )
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True)
    entry = models.ForeignKey(
        "points.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("spend entry"),
        help_text=_("Empty when the redemption cost no points (the welcome offer covered it)."),
        # The ledger is partitioned by account: (member_id, entry_id) -> points_entry
        # (account_id, id) in the database (points migration 0013), which Django cannot express.
        db_constraint=False,
    )
    refund_entry = models.ForeignKey(
        "points.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("refund entry"),
        db_constraint=False,  # (member_id, refund_entry_id), points migration 0013
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    fulfilled_at = models.DateTimeField(_("fulfilled at"), null=True, blank=True)
    fulfilled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("fulfilled by"),
        help_text=_("The staff member who shipped it; empty when it was fulfilled on redemption."),
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("completed by"),
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-id"]
        permissions = [("cancel_redemption", _("Can cancel redemption"))]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="catalog_redemption_quantity"),
            # The ledger posts no 0-point spend: a free redemption has no entry, any other one has
            # (once paid: awaiting payment the points are held, and a payment never made leaves
            # the redemption cancelled without one).
            models.CheckConstraint(
                condition=Q(points=0, entry__isnull=True) | Q(points__gt=0, entry__isnull=False)
                | Q(entry__isnull=True, status__in=["awaiting_payment", "cancelled"]),
                name="catalog_redemption_entry_iff_points",
            ),
            # The welcome offer once per member (catalog.pricing): a cancelled redemption gives it back.
            models.UniqueConstraint(
                fields=["member"], condition=Q(welcome_discount__gt=0) & ~Q(status="cancelled"),
                name="catalog_redemption_one_welcome",
            ),
        ]
        indexes = [models.Index(fields=["member", "product", "status"], name="catalog_member_product")]

    def __str__(self):
        return f"#{self.pk} {self.product} ×{self.quantity} ({self.get_status_display()})"

    def status_label(self) -> str:
        """The status in the member's words for this kind of product: a coupon is issued and a
        privilege activated, not shipped."""
        if self.status == RedemptionStatus.FULFILLED:
            kind = self.product.kind
            if kind == ProductKind.COUPON:
                return str(_("Issued"))
            if kind == ProductKind.PRIVILEGE:
                return str(_("Activated"))
            return str(_("Shipped"))
        return self.get_status_display()


class CouponCode(models.Model):
    """One code of a coupon product's imported pool; given to at most one redemption."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="codes",
                                verbose_name=_("product"))
    code = models.CharField(_("code"), max_length=64, unique=True)
    redemption = models.ForeignKey(
        Redemption, on_delete=models.PROTECT, null=True, blank=True, related_name="codes",
        verbose_name=_("redemption"),
    )
    imported_at = models.DateTimeField(_("imported at"), default=timezone.now)
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    valid_until = models.DateTimeField(
        _("valid until"), null=True, blank=True,
        help_text=_("Set when the code is issued, from the product's validity; empty: no expiry."),
    )
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("coupon code")
        verbose_name_plural = _("coupon codes")
        indexes = [
            models.Index(fields=["product", "id"], name="catalog_free_codes",
                         condition=Q(redemption__isnull=True)),
        ]

    def __str__(self):
        return self.code


class CheckoutHold(models.Model):
    """A ``points.Hold`` placed through the shop's checkout (``catalog.checkout``), with what it
    was quoted at: its capture is valued at ``points_per_yuan``, whatever the rules say by then.

    Written in the same transaction as the hold itself and never changed; the hold's own row
    tracks its status. Only holds listed here can be captured or released through the checkout.
    """

    hold = models.OneToOneField(
        "points.Hold", on_delete=models.PROTECT, related_name="checkout", verbose_name=_("hold"),
        db_constraint=False,  # (member_id, hold_id) -> points_hold (account_id, id), points 0013
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="checkout_holds",
        verbose_name=_("member"),
    )
    order_id = models.CharField(_("order id"), max_length=64, db_index=True)
    order_amount = models.DecimalField(_("order amount"), max_digits=12, decimal_places=2)
    points_per_yuan = models.PositiveIntegerField(
        _("points per yuan"), help_text=_("The redemption rate the hold was quoted at."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("checkout hold")
        verbose_name_plural = _("checkout holds")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(points_per_yuan__gt=0),
                                   name="catalog_checkout_hold_rate_positive"),
            models.CheckConstraint(condition=Q(order_amount__gt=0),
                                   name="catalog_checkout_hold_amount_positive"),
        ]

    def __str__(self):
        return f"{self.order_id}: hold {self.hold_id}"


# --------------------------------------------------------------------------- lottery


class Lottery(models.Model):
    """A points lottery: each draw costs ``cost_points`` (0 for free draws, e.g. a check-in
    streak's) and picks one of its prizes by weight among those in stock
    (``catalog.services.draw``)."""

    name = models.CharField(_("name"), max_length=100)
    cost_points = models.PositiveIntegerField(
        _("points per draw"), default=0, help_text=_("0 for free draws (e.g. a check-in streak's)."),
    )
    daily_limit = models.PositiveIntegerField(
        _("draws per member per day"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("Empty: no limit."),
    )
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    tickets_only = models.BooleanField(
        _("free draws only"), default=False,
        help_text=_("Members draw only with a free draw they earned (e.g. a check-in streak's)."),
    )
    streak_days = models.PositiveSmallIntegerField(
        _("check-in streak for a free draw"), null=True, blank=True,
        validators=[MinValueValidator(2), MaxValueValidator(366)],
        help_text=_("A member whose check-in streak reaches this many consecutive days earns one "
                    "free draw, once per streak, while the lottery is open. Empty: none."),
    )
    segments = ArrayField(
        models.CharField(max_length=24, choices=Segment.choices), default=list, blank=True,
        verbose_name=_("eligible RFM segments"),
        help_text=_("Only members of these segments may draw. Empty: every member."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("lottery")
        verbose_name_plural = _("lotteries")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True)
                | Q(ends_at__gt=models.F("starts_at")),
                name="catalog_lottery_window_ordered",
            ),
            models.CheckConstraint(condition=Q(streak_days__isnull=True) | Q(streak_days__gte=2),
                                   name="catalog_lottery_streak_days_min"),
        ]

    def __str__(self):
        return self.name

    def admits(self, member) -> bool:
        """``member`` may draw it: it names no RFM segment, or theirs (``Member.segment``)."""
        return not self.segments or getattr(member, "segment", "") in self.segments

    def is_open(self, now) -> bool:
        """Members can draw at ``now``: active and inside its window."""
        return (self.active and (self.starts_at is None or self.starts_at <= now)
                and (self.ends_at is None or self.ends_at > now))


class PrizeKind(models.TextChoices):
    POINTS = "points", _("Points")
    PRODUCT = "product", _("Product")
    COUPON = "coupon", _("Coupon")
    NOTHING = "nothing", _("Nothing")


class Prize(models.Model):
    """One prize of a lottery. ``stock`` empty is unlimited (the usual for "nothing" and small
    points prizes); a prize with stock 0 is out of the draw and out of the odds."""

    lottery = models.ForeignKey(Lottery, on_delete=models.PROTECT, related_name="prizes",
                                verbose_name=_("lottery"))
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=PrizeKind.choices)
    weight = models.PositiveIntegerField(_("weight"), validators=[MinValueValidator(1)])
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True,
                                        help_text=_("Empty: unlimited."))
    points = models.PositiveIntegerField(_("points"), null=True, blank=True,
                                         help_text=_("Points won, for a points prize."))
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, null=True, blank=True, related_name="prizes",
        verbose_name=_("product"), help_text=_("For a product or coupon prize."),
    )

    class Meta:
        verbose_name = _("prize")
        verbose_name_plural = _("prizes")
        ordering = ["lottery", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gt=0), name="catalog_prize_weight_positive"),
            models.CheckConstraint(condition=Q(stock__isnull=True) | Q(stock__gte=0),
                                   name="catalog_prize_stock_non_negative"),
            models.CheckConstraint(
                # points__isnull=False: a NULL points would make the CHECK pass (NULL > 0 is NULL).
                condition=(Q(kind="points", points__isnull=False, points__gt=0, product__isnull=True)
                           | Q(kind__in=["product", "coupon"], product__isnull=False,
                               points__isnull=True)
                           | Q(kind="nothing", product__isnull=True, points__isnull=True)),
                name="catalog_prize_kind_fields",
            ),
        ]

    def __str__(self):
        return self.name


class Draw(models.Model):
    """One draw of a lottery by a member; written once, never changed. ``entry`` is the spend of
    the cost (empty for a free draw), ``prize_entry`` the earning of a points prize,
    ``redemption`` the (0-point) redemption of a product or coupon prize."""

    key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="draws", verbose_name=_("member"))
    lottery = models.ForeignKey(Lottery, on_delete=models.PROTECT, related_name="draws",
                                verbose_name=_("lottery"))
    prize = models.ForeignKey(Prize, on_delete=models.PROTECT, related_name="draws",
                              verbose_name=_("prize"))
    points_spent = models.PositiveIntegerField(_("points spent"))
    entry = models.ForeignKey(
        "points.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("spend entry"),
        db_constraint=False,  # (member_id, entry_id), points migration 0013
    )
    prize_entry = models.ForeignKey(
        "points.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("prize entry"),
        db_constraint=False,  # (member_id, prize_entry_id), points migration 0013
    )
    redemption = models.OneToOneField(
        Redemption, on_delete=models.PROTECT, null=True, blank=True, related_name="draw",
        verbose_name=_("redemption"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("draw")
        verbose_name_plural = _("draws")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_spent=0, entry__isnull=True)
                | Q(points_spent__gt=0, entry__isnull=False),
                name="catalog_draw_entry_iff_points",
            ),
        ]
        indexes = [models.Index(fields=["member", "lottery", "created_at"],
                                name="catalog_draw_member_day")]

    def __str__(self):
        return f"#{self.pk} {self.lottery}: {self.prize}"


class DrawTicket(models.Model):
    """A free draw a member earned (a check-in streak's, say): the next draw of ``lottery`` by the
    member uses it and costs nothing. ``key`` makes the earning once-only (one per streak)."""

    key = models.CharField(_("key"), max_length=200, unique=True)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="draw_tickets", verbose_name=_("member"))
    lottery = models.ForeignKey(Lottery, on_delete=models.PROTECT, related_name="tickets",
                                verbose_name=_("lottery"))
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    granted_at = models.DateTimeField(_("granted at"), default=timezone.now)
    draw = models.OneToOneField(Draw, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="ticket", verbose_name=_("used by draw"))

    class Meta:
        verbose_name = _("free draw")
        verbose_name_plural = _("free draws")
        ordering = ["-id"]
        indexes = [models.Index(fields=["member", "lottery"], condition=Q(draw__isnull=True),
                                name="catalog_ticket_unused")]

    def __str__(self):
        return f"{self.lottery} / {self.member}"


# Points auctions live in their own module; imported here so Django registers them.
from catalog.auction_models import Auction, AuctionStatus, Bid, BidStatus  # noqa: E402, F401

# Channels the goods come from (import and stock sync).
from catalog.channel_models import Channel, ChannelKind  # noqa: E402,F401

# Points + cash payments and saved addresses (a module of their own, part of these models).
from catalog.payment_models import Address, Payment, PaymentStatus  # noqa: E402,F401

# What the nightly recommendations job writes (catalog.recommendations).
from catalog.recommendation_models import (  # noqa: E402,F401
    CategoryNeighbour,
    ProductNeighbour,
    SegmentPopularity,
)

# Suppliers, purchase orders and receipts (issue 15).
from catalog.supply_models import (  # noqa: E402,F401
    OPEN_STATUSES,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    Receipt,
    ReceiptLine,
    Supplier,
)
