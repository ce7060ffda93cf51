"""The recommendations job and what it recommends (``catalog.recommendations``)."""

import math
import re
from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone

from catalog import services
from catalog.models import (
    Category,
    CategoryNeighbour,
    ProductKind,
    ProductNeighbour,
    SegmentPopularity,
)
from catalog.recommendations import AFFORDABLE_BOOST, compute_neighbours, recommended_for, related_to
from points.services.earning import record_paid_order
from rules.segments import Segment
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory

_keys = count(1)


def product(name, **fields):
    fields.setdefault("kind", ProductKind.PHYSICAL)
    fields.setdefault("points_price", 10)
    return make_product(name=name, **fields)


def member(points=100_000, **fields):
    someone = MemberFactory(established=True, **fields)
    fund(someone, points)
    return someone


def redeem(someone, *products):
    return [services.redeem(someone, item, key=f"rec-{next(_keys)}", address="1 Tea Street")
            for item in products]


def neighbours():
    return [(row.product.name, row.neighbour.name, round(row.score, 6), row.co_count)
            for row in ProductNeighbour.objects.select_related("product", "neighbour")
            .order_by("product_id", "-score", "neighbour_id")]


def names(products):
    return [item.name for item in products]


@pytest.fixture
def trio(db):
    """p1..p3; a redeems p1 p2, b p1 p2 p3, c p1 p3 (and p2, cancelled: not counted)."""
    p1, p2, p3 = product("p1"), product("p2"), product("p3")
    a, b, c = member(), member(), member()
    redeem(a, p1, p2)
    redeem(b, p1, p2, p3)
    redeem(c, p1, p3)
    [cancelled] = redeem(c, p2)
    services.cancel(cancelled, reason="changed my mind")
    return {"p1": p1, "p2": p2, "p3": p3, "a": a, "b": b, "c": c}


def test_neighbours_are_the_exact_cosine_of_co_redemptions(trio):
    assert compute_neighbours() == {"neighbours": 6, "category_neighbours": 0, "popular": 3}
    both = round(2 / math.sqrt(3 * 2), 6)  # p1 by 3 members, p2 and p3 by 2 each
    # p1's two neighbours tie: the smaller id (p2) first.
    assert neighbours() == [
        ("p1", "p2", both, 2), ("p1", "p3", both, 2),
        ("p2", "p1", both, 2), ("p2", "p3", 0.5, 1),
        ("p3", "p1", both, 2), ("p3", "p2", 0.5, 1),
    ]
    assert sorted(SegmentPopularity.objects.values_list("segment", "product__name", "members")) == [
        ("", "p1", 3), ("", "p2", 2), ("", "p3", 2)]


def test_a_rerun_replaces_the_tables(trio):
    compute_neighbours()
    first = neighbours()
    redeem(trio["a"], trio["p3"])
    compute_neighbours()
    compute_neighbours()
    assert ProductNeighbour.objects.count() == 6
    assert neighbours() != first
    # Now p3 by all three: p1 and p3 were redeemed together by everyone.
    assert ("p1", "p3", 1.0, 3) in neighbours()


def test_only_the_top_twenty_neighbours_are_kept(db):
    products = [product(f"n{i}") for i in range(23)]
    for _ in range(3):
        redeem(member(), *products)
    compute_neighbours()
    assert ProductNeighbour.objects.filter(product=products[0]).count() == 20
    # All tie at 1.0: the twenty smallest ids.
    assert list(ProductNeighbour.objects.filter(product=products[0]).order_by("neighbour_id")
                .values_list("neighbour_id", flat=True)) == [p.pk for p in products[1:21]]


def test_recommends_unseen_products_most_similar_to_what_was_redeemed(trio):
    compute_neighbours()
    # a redeemed p1 and p2: p3 is similar to both (0.8165 + 0.5).
    assert names(recommended_for(trio["a"])) == ["p3"]
    assert recommended_for(trio["b"]) == []  # redeemed everything there is


@pytest.fixture
def hidden(db):
    """A member who redeemed ``seed``; one good match and one of each reason not to show one."""
    closed = Category.objects.create(name="closed", active=False)
    now = timezone.now()
    items = {
        "seed": product("seed"),
        "good": product("good"),
        "gold only": product("gold only"),
        "redeemed": product("redeemed"),
        "sold out": product("sold out"),
        "inactive": product("inactive"),
        "not started": product("not started"),
        "ended": product("ended"),
        "closed category": product("closed category"),
    }
    fan = member()
    redeem(fan, items["seed"], items["redeemed"])
    # Others redeem the seed with everything, so every product is a neighbour of the seed.
    for _ in range(2):
        redeem(member(), *items.values())
    # Then the reasons: changed the way staff would.
    from catalog.models import Product

    Product.objects.filter(pk=items["gold only"].pk).update(visible_tiers=["gold"])
    Product.objects.filter(pk=items["sold out"].pk).update(stock=0)
    Product.objects.filter(pk=items["inactive"].pk).update(active=False)
    Product.objects.filter(pk=items["not started"].pk).update(sale_starts_at=now + timedelta(days=1))
    Product.objects.filter(pk=items["ended"].pk).update(sale_ends_at=now - timedelta(seconds=1))
    Product.objects.filter(pk=items["closed category"].pk).update(category=closed)
    compute_neighbours()
    return fan, items


def test_never_a_product_the_member_cannot_see_has_redeemed_is_sold_out_or_off_sale(hidden):
    fan, items = hidden
    assert ProductNeighbour.objects.filter(product=items["seed"]).count() == 8
    assert fan.tier != "gold"
    assert names(recommended_for(fan)) == ["good"]
    assert names(related_to(items["seed"], fan)) == ["good"]
    # Anonymous: the lowest tier's view, and nothing to leave out as redeemed.
    # (redeemed: by all three members who redeemed the seed, a cosine of 1.)
    assert names(related_to(items["seed"])) == ["redeemed", "good"]


def test_the_fallback_obeys_the_same_filters(hidden):
    fan, items = hidden
    newcomer = member()
    # Popular among all: seed and redeemed by three members (the smaller id first), good by two.
    assert names(recommended_for(newcomer)) == ["seed", "redeemed", "good"]


def test_same_output_twice_and_a_stable_tie_order(db):
    seeds = [product(f"s{i}") for i in range(2)]
    ties = [product(f"t{i}") for i in range(6)]
    fan = member()
    redeem(fan, *seeds)
    for tie in reversed(ties):  # redeemed in the reverse of id order: ids still decide
        redeem(member(), *seeds, tie)
    compute_neighbours()
    first = names(recommended_for(fan, limit=4))
    assert first == ["t0", "t1", "t2", "t3"]
    compute_neighbours()
    assert names(recommended_for(fan, limit=4)) == first
    assert names(related_to(seeds[0], limit=3)) == ["s1", "t0", "t1"]


def test_only_the_chosen_products_are_loaded_whole(db):
    """Every scored product is a candidate, but only the ``limit`` chosen are read in full (with
    their pictures) for the cards: the candidates are filtered on two columns (the load test's
    home page read 60 whole products to show 4)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    seeds = [product(f"s{i}") for i in range(2)]
    others = [product(f"o{i}") for i in range(12)]
    fan = member()
    redeem(fan, *seeds)
    redeem(member(), *seeds, *others)
    compute_neighbours()
    def loaded_whole(queries) -> list[int]:
        [whole] = [q["sql"] for q in queries if '"catalog_product"."description"' in q["sql"]]
        return [int(pk) for pk in re.search(r'"catalog_product"."id" IN \(([^)]*)\)', whole)[1].split(",")]

    with CaptureQueriesContext(connection) as queries:
        chosen = recommended_for(fan, limit=3, available=0)
    assert names(chosen) == ["o0", "o1", "o2"]
    assert len(queries) == 4  # scores, candidates, the chosen products, their pictures
    assert sorted(loaded_whole(queries)) == [item.pk for item in chosen]
    with CaptureQueriesContext(connection) as queries:
        assert names(related_to(seeds[0], fan, limit=2)) == ["o0", "o1"]
    # neighbours, candidates, their next sale boundary, the member's redemptions, chosen, pictures
    assert len(queries) == 6
    assert sorted(loaded_whole(queries)) == [others[0].pk, others[1].pk]
    # The tier's shown neighbours are cached with the catalog; the member's redemptions are not.
    redeem(fan, others[0])
    with CaptureQueriesContext(connection) as queries:
        assert names(related_to(seeds[0], fan, limit=2)) == ["o1", "o2"]
    assert len(queries) == 3


def test_affordable_products_are_ranked_up(db):
    seed = product("seed")
    dear = product("dear", points_price=50_000)
    cheap = product("cheap", points_price=10)
    fan = member(points=1_000)
    redeem(fan, seed)
    # dear is the closer match (redeemed with the seed by three members: 3 / √(4 × 3)), cheap
    # by two (2 / √(4 × 2)).
    for _ in range(2):
        redeem(member(), seed, dear, cheap)
    redeem(member(), seed, dear)
    compute_neighbours()
    score = {row.neighbour.name: row.score for row in
             ProductNeighbour.objects.filter(product=seed).select_related("neighbour")}
    assert score["dear"] > score["cheap"] > score["dear"] / AFFORDABLE_BOOST
    # fan has 1,000 - 10 points: the cheap one fits, the dear one does not.
    assert names(recommended_for(fan)) == ["cheap", "dear"]
    fund(fan, 50_000, key="rich")
    assert names(recommended_for(fan)) == ["dear", "cheap"]


def test_a_cold_start_member_gets_their_segments_popular_products(db):
    a, b, c, d = (product(name) for name in "abcd")
    for _ in range(3):
        redeem(member(segment=Segment.IMPORTANT_VALUE), c, d)
    redeem(member(segment=Segment.IMPORTANT_VALUE), d)
    for _ in range(5):
        redeem(member(segment=Segment.GENERAL_RETAIN), a)
    redeem(member(), b)
    compute_neighbours()
    assert sorted(SegmentPopularity.objects.filter(segment=Segment.IMPORTANT_VALUE)
                  .values_list("product__name", "members")) == [("c", 3), ("d", 4)]
    newcomer = member(segment=Segment.IMPORTANT_VALUE)
    # The segment's own first (d, c), then everyone's (a: 5 members, b: 1).
    assert names(recommended_for(newcomer)) == ["d", "c", "a", "b"]
    assert names(recommended_for(newcomer, limit=1)) == ["d"]
    # Not scored yet: what is popular among all members.
    assert names(recommended_for(member())) == ["a", "d", "c", "b"]


def test_shop_categories_bought_recommend_what_their_buyers_redeem(db):
    tea, cup = product("tea"), product("cup")
    for i in range(2):
        buyer = member()
        record_paid_order(buyer, order_id=f"tea-{i}", amount=Decimal("50.00"),
                          lines=[{"sku": "t", "amount": Decimal("50.00"), "categories": ["tea"]}],
                          paid_at=timezone.now())
        redeem(buyer, tea)
    redeem(member(), cup)
    redeem(member(), cup)
    redeem(member(), cup)
    shopper = member()
    record_paid_order(shopper, order_id="tea-shopper", amount=Decimal("20.00"),
                      lines=[{"sku": "t", "amount": Decimal("20.00"), "categories": ["tea"]}],
                      paid_at=timezone.now())
    compute_neighbours()
    # tea bought by three members, redeemed by the two of them who redeemed tea.
    assert list(CategoryNeighbour.objects.values_list("category", "product__name", "co_count")) == [
        ("tea", "tea", 2)]
    assert CategoryNeighbour.objects.get().score == pytest.approx(2 / math.sqrt(3 * 2))
    # Without the category, popularity would put cup (3 members) first.
    assert names(recommended_for(shopper)) == ["tea", "cup"]


def test_the_task_runs_the_job(trio):
    from catalog.tasks import recommendations

    assert recommendations() == {"neighbours": 6, "category_neighbours": 0, "popular": 3}
