"""Recommendations (issue 14): "people who redeemed this also redeemed" and "recommended for you".

The nightly job ``compute_neighbours`` (celery ``catalog.recommendations``, 01:00 Asia/Shanghai)
is item-to-item collaborative filtering in set-based SQL:

* interactions are the distinct (member, product) pairs of non-cancelled redemptions (a lottery
  prize is left out: the draw chose it, not the member);
* two products are similar by the cosine of their co-redemptions: members who redeemed both ÷
  √(members who redeemed one × members who redeemed the other), from one self-join on the member;
* a shop category (``points.OrderLine.categories``, the shop's codes, bought in the last
  ``ORDER_WINDOW_DAYS``) is treated as one more item, so a category is similar to the products its
  buyers redeem, and a member who only shops gets recommendations too;
* each product and each category keeps its top ``NEIGHBOURS`` (score descending, product id
  ascending on a tie), and the job counts per RFM segment (and over all members) how many members
  redeemed each product, for the cold-start fallback.

Each run replaces all three tables in one transaction (DELETE + INSERT … SELECT, so pages keep
reading the old rows until it commits and a re-run never duplicates a row). Its memory is
PostgreSQL's: every sort and hash is bounded by ``work_mem`` (spilling to temporary files past
it); Python holds nothing but the row counts.

Read side, a few queries per call:

* ``recommended_for(member)``: every product scores the sum of its similarities to what the
  member redeemed, plus ``CATEGORY_WEIGHT`` × its similarity to the shop categories they bought;
  products they already redeemed (non-cancelled) are left out, and so is anything they may not
  see (tier), not on sale or out of stock. A product they can pay for now (list points price at
  most their available points; the one-off welcome offer is not counted) has its score multiplied
  by ``AFFORDABLE_BOOST``: ranked up, not ahead of everything (a much better match they must save
  for still comes first). The fallback is in popularity order, without the boost. Fewer than ``limit``
  are topped up with what is popular in the member's RFM segment, then among all members.
* ``related_to(product)``: the product's neighbours, filtered the same way (for a member, also
  without what they already redeemed; anonymous visitors see what the lowest tier sees).

Both are deterministic for the same tables: scores are rounded before they are compared and every
tie goes to the smaller product id.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Prefetch
from django.utils import timezone

from catalog import cache as catalog_cache
from catalog.models import (
    CategoryNeighbour,
    Draw,
    Product,
    ProductImage,
    ProductNeighbour,
    Redemption,
    RedemptionStatus,
    SegmentPopularity,
)
from catalog.selectors import _next_boundary
from points import selectors as points_selectors
from points.models import Order, OrderLine
from rules.tiers import default_tier_code

logger = logging.getLogger(__name__)

NEIGHBOURS = 20
ORDER_WINDOW_DAYS = 365
# A bought category is a weaker sign of taste than a redeemed product.
CATEGORY_WEIGHT = 0.5
AFFORDABLE_BOOST = 1.5
# Popular products read per fallback source: enough to fill ``limit`` after the filters.
POPULAR_POOL = 60

T = {
    "redemption": Redemption._meta.db_table,
    "draw": Draw._meta.db_table,
    "order": Order._meta.db_table,
    "line": OrderLine._meta.db_table,
    "neighbour": ProductNeighbour._meta.db_table,
    "category": CategoryNeighbour._meta.db_table,
    "popular": SegmentPopularity._meta.db_table,
}
CANCELLED = RedemptionStatus.CANCELLED.value

# ---------------------------------------------------------------------------- the nightly job

_JOB = [
    # ON COMMIT DROP drops them, but inside an outer transaction (a test's) a second run meets them.
    "DROP TABLE IF EXISTS rec_redeemed, rec_counts, rec_bought",
    # Interactions: one row per member and product they redeemed (not a lottery prize).
    f"""CREATE TEMPORARY TABLE rec_redeemed ON COMMIT DROP AS
        SELECT DISTINCT r.member_id, r.product_id FROM {T['redemption']} r
        WHERE r.status <> '{CANCELLED}'
          AND NOT EXISTS (SELECT 1 FROM {T['draw']} d WHERE d.redemption_id = r.id)""",
    """CREATE TEMPORARY TABLE rec_counts ON COMMIT DROP AS
        SELECT product_id, COUNT(*) AS members FROM rec_redeemed GROUP BY product_id""",
    # The shop categories each member bought in the window (a fully refunded order is not a sale).
    f"""CREATE TEMPORARY TABLE rec_bought ON COMMIT DROP AS
        SELECT DISTINCT o.member_id, c.code AS category
        FROM {T['order']} o JOIN {T['line']} l ON l.order_id = o.id
        CROSS JOIN LATERAL unnest(l.categories) AS c(code)
        WHERE o.paid_at >= %(since)s AND (o.refunded_amount < o.amount OR o.amount = 0)""",
    "ANALYZE rec_redeemed",
    "ANALYZE rec_counts",
    "ANALYZE rec_bought",
    # Nobody else writes these tables; readers go on reading the old rows until the commit.
    f"LOCK TABLE {T['neighbour']}, {T['category']}, {T['popular']} IN EXCLUSIVE MODE",
    f"DELETE FROM {T['neighbour']}",
    f"DELETE FROM {T['category']}",
    f"DELETE FROM {T['popular']}",
    f"""INSERT INTO {T['neighbour']} (product_id, neighbour_id, score, co_count)
        SELECT product_id, neighbour_id, score, co_count FROM (
            SELECT pair.product_id, pair.neighbour_id, pair.co_count, pair.score,
                   row_number() OVER (PARTITION BY pair.product_id
                                      ORDER BY pair.score DESC, pair.neighbour_id) AS rank
            FROM (
                SELECT co.product_id, co.neighbour_id, co.co_count,
                       co.co_count / sqrt(p.members::float8 * q.members) AS score
                FROM (SELECT a.product_id, b.product_id AS neighbour_id, COUNT(*) AS co_count
                      FROM rec_redeemed a
                      JOIN rec_redeemed b ON b.member_id = a.member_id
                                         AND b.product_id <> a.product_id
                      GROUP BY a.product_id, b.product_id) co
                JOIN rec_counts p ON p.product_id = co.product_id
                JOIN rec_counts q ON q.product_id = co.neighbour_id
            ) pair
        ) ranked
        WHERE rank <= {NEIGHBOURS}""",
    f"""INSERT INTO {T['category']} (category, product_id, score, co_count)
        SELECT category, product_id, score, co_count FROM (
            SELECT pair.*, row_number() OVER (PARTITION BY pair.category
                                              ORDER BY pair.score DESC, pair.product_id) AS rank
            FROM (
                SELECT co.category, co.product_id, co.co_count,
                       co.co_count / sqrt(c.members::float8 * p.members) AS score
                FROM (SELECT b.category, r.product_id, COUNT(*) AS co_count
                      FROM rec_bought b JOIN rec_redeemed r ON r.member_id = b.member_id
                      GROUP BY b.category, r.product_id) co
                JOIN (SELECT category, COUNT(*) AS members FROM rec_bought GROUP BY category) c
                     ON c.category = co.category
                JOIN rec_counts p ON p.product_id = co.product_id
            ) pair
        ) ranked
        WHERE rank <= {NEIGHBOURS}""",
    f"""INSERT INTO {T['popular']} (segment, product_id, members)
        SELECT m.segment, r.product_id, COUNT(*) FROM rec_redeemed r
        JOIN {{member}} m ON m.id = r.member_id
        WHERE m.segment <> ''
        GROUP BY m.segment, r.product_id
        UNION ALL
        SELECT '', product_id, members FROM rec_counts""",
]


def _since(today: date) -> datetime:
    start = today - timedelta(days=ORDER_WINDOW_DAYS)
    return timezone.make_aware(datetime.combine(start, time.min))


def compute_neighbours(today: date | None = None) -> dict:
    """Rebuild ``ProductNeighbour``, ``CategoryNeighbour`` and ``SegmentPopularity`` from every
    non-cancelled redemption and the shop orders paid in the ``ORDER_WINDOW_DAYS`` before
    ``today`` (default: today in Asia/Shanghai). Idempotent: a second run on the same data writes
    the same rows. Returns the row counts written."""
    today = today or timezone.localdate()
    member_table = get_user_model()._meta.db_table
    params = {"since": _since(today)}
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        # Plain SQL over a few million rows: JIT compilation only adds seconds.
        cursor.execute("SET LOCAL jit = off")
        for statement in _JOB:
            cursor.execute(statement.replace("{member}", member_table),
                           params if "%(since)s" in statement else None)
        counts = {}
        for name, table in (("neighbours", T["neighbour"]), ("category_neighbours", T["category"]),
                            ("popular", T["popular"])):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            counts[name] = cursor.fetchone()[0]
    # Committed (durable): the pages' cached neighbour lists (related_ids) are stale now.
    catalog_cache.invalidate()
    logger.info("recommendations: %s", counts)
    return counts


# ---------------------------------------------------------------------------- reading

_SCORES = f"""
WITH mine AS (
    SELECT DISTINCT r.product_id FROM {T['redemption']} r
    WHERE r.member_id = %(member)s AND r.status <> '{CANCELLED}'
), taste AS (
    SELECT DISTINCT r.product_id FROM {T['redemption']} r
    WHERE r.member_id = %(member)s AND r.status <> '{CANCELLED}'
      AND NOT EXISTS (SELECT 1 FROM {T['draw']} d WHERE d.redemption_id = r.id)
), bought AS (
    SELECT DISTINCT c.code FROM {T['order']} o JOIN {T['line']} l ON l.order_id = o.id
    CROSS JOIN LATERAL unnest(l.categories) AS c(code)
    WHERE o.member_id = %(member)s AND o.paid_at >= %(since)s
      AND (o.refunded_amount < o.amount OR o.amount = 0)
), scored AS (
    SELECT n.neighbour_id AS product_id, n.score FROM {T['neighbour']} n
    JOIN taste t ON t.product_id = n.product_id
    UNION ALL
    SELECT c.product_id, %(category_weight)s * c.score FROM {T['category']} c
    JOIN bought b ON b.code = c.category
)
SELECT 0, product_id, SUM(score) FROM scored
WHERE product_id NOT IN (SELECT product_id FROM mine)
GROUP BY product_id
UNION ALL
(SELECT 1, product_id, members FROM {T['popular']}
 WHERE segment = %(segment)s AND %(segment)s <> '' AND product_id NOT IN (SELECT product_id FROM mine)
 ORDER BY members DESC, product_id LIMIT %(pool)s)
UNION ALL
(SELECT 2, product_id, members FROM {T['popular']}
 WHERE segment = '' AND product_id NOT IN (SELECT product_id FROM mine)
 ORDER BY members DESC, product_id LIMIT %(pool)s)
"""


def _shown(ids, tier: str, now) -> dict[int, int]:
    """Those of ``ids`` a member of ``tier`` may see that are on sale and in stock: their points
    prices by id. Only two columns: the candidates are many (every scored product), the cards
    few (``_cards`` loads those)."""
    if not ids:
        return {}
    return dict(Product.objects.on_sale(now).visible_to(tier).filter(pk__in=list(ids), stock__gt=0)
                .values_list("pk", "points_price"))


def _cards(chosen: list[int]) -> list[Product]:
    """The products ``chosen`` (ids, in that order) with what a product card needs (category,
    pictures)."""
    if not chosen:
        return []
    products = (
        Product.objects.filter(pk__in=chosen).select_related("category")
        .prefetch_related(Prefetch("images", queryset=ProductImage.objects.order_by(
            "-is_cover", "position", "id")))
    )
    found = {product.pk: product for product in products}
    return [found[pid] for pid in chosen if pid in found]


def recommended_for(member, limit: int = 10, *, now=None, available: int | None = None
                    ) -> list[Product]:
    """Up to ``limit`` products for ``member``, best first (see the module docstring).
    ``available``: the member's available points when the caller has read them already."""
    return _cards(recommended_ids(member, limit, now=now, available=available))


def recommended_ids(member, limit: int = 10, *, now=None, available: int | None = None) -> list[int]:
    """The ids of ``recommended_for``, for a page that shows them from the catalog cache."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_SCORES, {
            "member": member.pk, "since": _since(timezone.localdate(now)),
            "category_weight": CATEGORY_WEIGHT, "segment": getattr(member, "segment", "") or "",
            "pool": POPULAR_POOL + limit,
        })
        rows = cursor.fetchall()
    shown = _shown({product_id for _, product_id, _ in rows}, member.tier, now)
    if not shown:
        return []
    if available is None:
        available = points_selectors.balance(member, months=0).available

    def boosted(product_id, score) -> float:
        boost = AFFORDABLE_BOOST if shown[product_id] <= available else 1.0
        # Rounded: a sum of floats may differ in its last bits with the order it was added in.
        return round(float(score) * boost, 9)

    similar = sorted(((-boosted(pid, score), pid) for source, pid, score in rows
                      if source == 0 and pid in shown))
    chosen = [pid for _, pid in similar[:limit]]
    for fallback in (1, 2):
        popular = sorted((-members, pid) for source, pid, members in rows
                         if source == fallback and pid in shown)
        for _, pid in popular:
            if len(chosen) >= limit:
                break
            if pid not in chosen:
                chosen.append(pid)
    return chosen[:limit]


def related_to(product, member=None, limit: int = 10, *, now=None) -> list[Product]:
    """Up to ``limit`` of the products most similar to ``product`` (a ``Product`` or an id) that
    ``member`` may see, on sale and in stock, leaving out what ``member`` already redeemed. Without
    a member (an anonymous visitor): what the lowest tier may see."""
    return _cards(related_ids(product, member, limit, now=now))


def related_ids(product, member=None, limit: int = 10, *, now=None) -> list[int]:
    """The ids of ``related_to``. The product's neighbours a tier is shown are the same for every
    member of it: cached with the catalog (``catalog.cache``, so a stock or sale change shows as
    it does in the lists); only what this member redeemed is read each time."""
    now = now or timezone.now()
    product_id = getattr(product, "pk", product)
    authenticated = member is not None and getattr(member, "is_authenticated", False)
    tier = member.tier if authenticated else default_tier_code()

    def load():
        neighbours = list(
            ProductNeighbour.objects.filter(product_id=product_id)
            .order_by("-score", "neighbour_id").values_list("neighbour_id", flat=True)
        )
        shown = _shown(neighbours, tier, now)
        # Until the first sale window of a neighbour opens or closes.
        return [pid for pid in neighbours if pid in shown], _next_boundary(
            Product.objects.filter(pk__in=neighbours, active=True), now)

    neighbours = catalog_cache.cached("related", (product_id, tier), load)
    if authenticated and neighbours:
        redeemed = set(
            Redemption.objects.filter(member_id=member.pk, product_id__in=neighbours)
            .exclude(status=RedemptionStatus.CANCELLED).values_list("product_id", flat=True)
        )
        neighbours = [pid for pid in neighbours if pid not in redeemed]
    return neighbours[:limit]
