"""Catalog reads that pages and the API share, as plain JSON-able dicts, cached (``catalog.cache``).

Only products on sale are shown (``Product.objects.on_sale``: active, inside their sale window, in
an active category or none), and to a member only those their tier may see. What is served may
lag a product save or a stock change by up to ``catalog.cache.LOCAL_TTL`` seconds in *other*
processes (never in the one that made the change); redemption never relies on it:
``catalog.services.redeem`` reads stock, limits and the balance from the database under row locks.

The cached dicts carry list prices only, the same for everyone. What one member pays (the welcome
offer, ``catalog.pricing``) is read per request, never cached: ``welcome_offer_for`` and
``price_for``, and ``with_member_prices`` to put it on the dicts of a page.
"""

from __future__ import annotations

import math

from django.db.models import BooleanField, Case, Count, Min, Prefetch, Q, Value, When
from django.utils import timezone

from catalog import cache, pricing
from catalog.errors import InvalidArgument
from catalog.models import (
    Category,
    CouponCode,
    DrawTicket,
    Lottery,
    Prize,
    Product,
    ProductImage,
    ProductKind,
    Redemption,
    RedemptionStatus,
    tier_may_see,
)
from rules.segments import HIGH_VALUE_SEGMENTS
from rules.tiers import top_tier

MAX_PAGE_SIZE = 100
MAX_SEARCH = 100

ORDERINGS = {
    "default": ("sort_order", "-id"),
    "points": ("points_price", "id"),
    "-points": ("-points_price", "-id"),
    "newest": ("-created_at", "-id"),
    "popular": ("-sold", "-id"),
}


def _iso(value):
    return timezone.localtime(value).isoformat() if value is not None else None


def _image_dict(image: ProductImage) -> dict:
    return {
        "id": image.pk,
        "url": image.image.url,
        "thumbnail": image.thumbnail_400.url if image.thumbnail_400 else image.image.url,
        "thumbnail_800": image.thumbnail_800.url if image.thumbnail_800 else image.image.url,
        "is_cover": image.is_cover,
        "width": 400,
        "height": image.height_at(400),
    }


def _images():
    return Prefetch("images", queryset=ProductImage.objects.order_by("-is_cover", "position", "id"))


def product_dict(product: Product) -> dict:
    """A product as pages and the API show it. Image URLs are as the storage gives them (relative
    to the site for the file system): the API makes them absolute. ``image`` is the cover's 400
    pixel thumbnail (or None); ``images`` every picture, the cover first; ``cover`` its dict."""
    category = product.category if product.category_id else None
    pictures = [_image_dict(image) for image in product.images.all()]
    cover = next((picture for picture in pictures if picture["is_cover"]),
                 pictures[0] if pictures else None)
    return {
        "id": product.pk,
        "name": product.name,
        "kind": product.kind,
        "category": (
            {"id": category.pk, "name": category.name, "parent_id": category.parent_id}
            if category is not None else None
        ),
        "points_price": product.points_price,
        "cash_price": f"{product.cash_price:.2f}",
        "stock": product.stock,
        "sold": product.sold,
        "in_stock": product.stock > 0,
        "image": cover["thumbnail"] if cover else None,
        "cover": cover,
        "images": pictures,
        "description": product.description,
        "per_member_limit": product.per_member_limit,
        "visible_tiers": list(product.visible_tiers),
        "sale_starts_at": _iso(product.sale_starts_at),
        "sale_ends_at": _iso(product.sale_ends_at),
        "sort_order": product.sort_order,
    }


def _next_boundary(queryset, now):
    """The earliest sale start or end after ``now`` among ``queryset``'s products, or None."""
    bounds = queryset.aggregate(
        starts=Min("sale_starts_at", filter=Q(sale_starts_at__gt=now)),
        ends=Min("sale_ends_at", filter=Q(sale_ends_at__gt=now)),
    )
    found = [value for value in bounds.values() if value is not None]
    return min(found) if found else None


def _int_or_none(name, value, *, minimum=0):
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be an integer, not {value!r}.") from None
    if isinstance(value, bool) or number < minimum:
        raise InvalidArgument(f"{name} must be an integer of at least {minimum}, not {value!r}.")
    return number


def product_list(*, category=None, search="", min_points=None, max_points=None, ordering="default",
                 page=1, page_size=20, tier=None) -> dict:
    """One page of products on sale: ``{"count", "page", "page_size", "num_pages", "results"}``.

    ``category`` (an id or a ``Category``) includes its sub-categories; ``search`` matches name
    or description (case-insensitive); ``min_points``/``max_points`` bound the points price;
    ``ordering`` is one of ``ORDERINGS``; ``tier`` (optional) keeps only products visible to that
    tier. Raises ``InvalidArgument`` for malformed filters. A page past the end has no results.
    """
    category_id = _int_or_none("category", getattr(category, "pk", category), minimum=1)
    search = (search or "").strip()[:MAX_SEARCH]
    min_points = _int_or_none("min_points", min_points)
    max_points = _int_or_none("max_points", max_points)
    if ordering not in ORDERINGS:
        raise InvalidArgument(f"ordering must be one of {', '.join(ORDERINGS)}, not {ordering!r}.")
    page = _int_or_none("page", page, minimum=1) or 1
    page_size = _int_or_none("page_size", page_size, minimum=1) or 20
    if page_size > MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be at most {MAX_PAGE_SIZE}.")
    tier = tier or None
    params = (category_id, search.lower(), min_points, max_points, ordering, page, page_size, tier)

    def load():
        now = timezone.now()
        base = Product.objects.filter(active=True)
        listed = base.on_sale(now)
        if category_id is not None:
            listed = listed.filter(Q(category_id=category_id) | Q(category__parent_id=category_id))
        if search:
            listed = listed.filter(Q(name__icontains=search) | Q(description__icontains=search))
        if min_points is not None:
            listed = listed.filter(points_price__gte=min_points)
        if max_points is not None:
            listed = listed.filter(points_price__lte=max_points)
        if tier is not None:
            listed = listed.visible_to(tier)
        count = listed.count()
        start = (page - 1) * page_size
        rows = (
            listed.select_related("category").prefetch_related(_images())
            .order_by(*ORDERINGS[ordering])[start:start + page_size]
            if start < count else []
        )
        value = {
            "count": count,
            "page": page,
            "page_size": page_size,
            "num_pages": max(1, math.ceil(count / page_size)),
            "results": [product_dict(product) for product in rows],
        }
        # Any active product's window opening or closing can change this page.
        return value, _next_boundary(base, now)

    return cache.cached("list", params, load)


def exclusive_count(tier: str) -> int:
    """How many products on sale only some tiers may see ``tier`` sees (the home page's tier
    card), cached as the lists are."""

    def load():
        now = timezone.now()
        base = Product.objects.filter(active=True)
        count = base.on_sale(now).exclude(visible_tiers=[]).filter(visible_tiers__contains=[tier]).count()
        return count, _next_boundary(base, now)

    return cache.cached("exclusive", (tier,), load)


def product_detail(product_id, *, tier=None) -> dict | None:
    """The product as a dict if it is on sale, else None ("not found" is cached as well).

    ``tier`` (optional, as for ``product_list``) also makes it None when that tier may not see
    the product: the member pages and the API pass the member's tier. The cached dict is the same
    for every tier (it carries ``visible_tiers``); the tier is applied to it on each read.
    """
    tier = tier or None
    found = _product_detail(product_id)
    if found is None or (tier is not None and not tier_may_see(found["visible_tiers"], tier)):
        return None
    return found


def _product_detail(product_id) -> dict | None:
    try:
        product_id = int(product_id)
    except (TypeError, ValueError):
        return None
    if isinstance(product_id, bool) or not 0 < product_id < 2**63:
        return None

    def load():
        now = timezone.now()
        product = (
            Product.objects.select_related("category").prefetch_related(_images())
            .filter(pk=product_id, active=True).first()
        )
        if product is None:
            return None, None
        upcoming = [moment for moment in (product.sale_starts_at, product.sale_ends_at)
                    if moment is not None and moment > now]
        until = min(upcoming) if upcoming else None
        if not product.is_on_sale(now):
            return None, until
        return product_dict(product), until

    return cache.cached("detail", (product_id,), load)


def welcome_offer_for(member, *, now=None) -> int:
    """The points the welcome offer takes off ``member``'s next redemption; 0 for an anonymous
    user, after the window, once they hold a non-cancelled redemption, or without a published
    rule set. A query for the rule book's versions and, inside the window only, one more."""
    if member is None or not getattr(member, "is_authenticated", False):
        return 0
    now = now or timezone.now()
    book = pricing.book_for(member)
    if not pricing.in_window(book, member.date_joined, now):
        return 0
    redeemed = (Redemption.objects.filter(member_id=member.pk)
                .exclude(status=RedemptionStatus.CANCELLED).exists())
    return pricing.welcome_offer(book, joined_at=member.date_joined, redeemed_before=redeemed,
                                 now=now)


def price_for(member, product, quantity: int = 1, *, now=None, offer: int | None = None
              ) -> pricing.Price:
    """What ``member`` would pay for ``quantity`` units of ``product`` (a ``Product`` or a
    product dict of this module) if they redeemed now, as ``catalog.services.redeem`` prices it.
    ``offer`` is ``welcome_offer_for(member)`` when the caller has read it already."""
    if offer is None:
        offer = welcome_offer_for(member, now=now)
    if isinstance(product, dict):
        points_price, cash_price = product["points_price"], product["cash_price"]
    else:
        points_price, cash_price = product.points_price, product.cash_price
    return pricing.price(points_price, cash_price, quantity, offer=offer)


def with_member_prices(products: list[dict], offer: int) -> list[dict]:
    """Copies of product dicts with what one member pays for one unit: ``member_points`` and
    ``welcome_discount`` (0 without an offer), for pages and the API (``offer`` from
    ``welcome_offer_for``). The cached dicts themselves stay the same for everyone."""
    priced = []
    for product in products:
        discount = pricing.price(product["points_price"], 0, offer=offer).welcome_discount
        priced.append({**product, "welcome_discount": discount,
                       "member_points": product["points_price"] - discount})
    return priced


def categories() -> list[Category]:
    """Active top-level categories, in the staff's order (cached: the mall page's chips)."""
    return cache.cached("categories", (), lambda: (
        list(Category.objects.filter(active=True, parent__isnull=True).order_by("sort_order", "id")), None))


def _codes():
    return Prefetch("codes", queryset=CouponCode.objects.order_by("id").only("id", "code", "redemption_id"))


def redemptions(member):
    """The member's redemptions, newest first, with product and coupon codes."""
    return (Redemption.objects.filter(member_id=member.pk).select_related("product", "payment")
            .prefetch_related(_codes(), Prefetch("product__images")).order_by("-id"))


def redemption(member, redemption_id: int) -> Redemption | None:
    """One of the member's redemptions; None for anyone else's (the pages answer 404)."""
    return redemptions(member).filter(pk=redemption_id).first()


# --------------------------------------------------------------------------- the fulfilment queue


def high_value_tiers() -> list[str]:
    """The tier codes whose members get high-value service: the published top-ranked tier.
    (Members of ``high_value_segments()`` get it too.)"""
    top = top_tier()
    return [top.code] if top is not None else []


def high_value_segments() -> list[str]:
    """The RFM segments whose members get high-value service whatever their tier
    (``rules.segments.HIGH_VALUE_SEGMENTS``: 重要价值)."""
    return [str(code) for code in HIGH_VALUE_SEGMENTS]


def priority():
    """Whether a redemption is a priority in the fulfilment queue: a physical redemption still
    waiting to ship whose member is in a high-value tier or RFM segment (as they are now: the
    segment is the last nightly run's). A ``CASE`` on the joined member row, to annotate or order
    any redemption queryset with (not a query per redemption)."""
    return Case(
        When(Q(product__kind=ProductKind.PHYSICAL, status=RedemptionStatus.CREATED)
             & (Q(member__tier__in=high_value_tiers()) | Q(member__segment__in=high_value_segments())),
             then=Value(True)),
        default=Value(False), output_field=BooleanField(),
    )


def with_priority(redemptions):
    """``redemptions`` annotated with ``priority`` (see ``priority``)."""
    return redemptions.annotate(priority=priority())


# --------------------------------------------------------------------------- lottery


def lottery_odds(lottery) -> list[dict]:
    """The lottery's prizes with the chance of each on the next draw: weight ÷ the total weight of
    the prizes in stock (a prize out of stock has odds 0). Read from the database, not cached:
    members see these before they draw."""
    prizes = sorted(lottery.prizes.all(), key=lambda p: p.pk)  # prefetched by open_lotteries
    total = sum(p.weight for p in prizes if p.stock != 0)
    return [
        {
            "id": p.pk,
            "name": p.name,
            "kind": p.kind,
            "points": p.points,
            "product_id": p.product_id,
            "weight": p.weight,
            "stock": p.stock,
            "odds": (p.weight / total) if total and p.stock != 0 else 0.0,
        }
        for p in prizes
    ]


def open_lotteries(now=None, *, member=None):
    """Lotteries members can draw at ``now`` (active, inside their window), newest first, with
    their prizes prefetched (``lottery_odds`` reads them) and, for ``member``, ``free_draws``: how
    many unused free draws of each they have."""
    now = now or timezone.now()
    lotteries = (
        Lottery.objects.filter(active=True)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .prefetch_related(Prefetch("prizes", queryset=Prize.objects.order_by("id")))
        .order_by("-id")
    )
    if member is not None:
        lotteries = lotteries.annotate(free_draws=Count(
            "tickets", filter=Q(tickets__member_id=member.pk, tickets__draw__isnull=True)))
    return lotteries


def free_draws(member, lottery) -> int:
    """The member's unused free draws of ``lottery``."""
    return DrawTicket.objects.filter(member_id=member.pk, lottery_id=lottery.pk, draw__isnull=True).count()


class CouponState:
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"


def coupon_state(code: CouponCode, now) -> str:
    if code.used_at is not None:
        return CouponState.USED
    if code.valid_until is not None and code.valid_until <= now:
        return CouponState.EXPIRED
    return CouponState.VALID


def coupon_wallet(member, *, state: str = "", now=None):
    """The member's coupon codes, newest first, with their product (for its how-to-use text);
    ``state``: only valid, used or expired ones."""
    now = now or timezone.now()
    codes = (CouponCode.objects.filter(redemption__member_id=member.pk)
             .exclude(redemption__status=RedemptionStatus.CANCELLED)
             .select_related("product", "redemption").order_by("-assigned_at", "-id"))
    if state == CouponState.USED:
        codes = codes.filter(used_at__isnull=False)
    elif state == CouponState.EXPIRED:
        codes = codes.filter(used_at__isnull=True, valid_until__lte=now)
    elif state == CouponState.VALID:
        codes = codes.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now), used_at__isnull=True)
    return codes
