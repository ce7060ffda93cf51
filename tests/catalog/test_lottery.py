"""The points lottery: ``catalog.services.draw`` and ``catalog.selectors.lottery_odds``; real
threads on PostgreSQL for the races."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import selectors, services
from catalog.errors import DailyLimitReached, LotteryClosed, NoPrizeLeft
from catalog.models import (
    CouponCode,
    Draw,
    Lottery,
    Prize,
    PrizeKind,
    ProductKind,
    Redemption,
    RedemptionStatus,
)
from catalog.services.lottery import pick
from points.errors import IdempotencyConflict, InsufficientPoints
from points.models import Entry, Refusal
from tests.catalog.helpers import fund, make_product, snapshot, stock
from tests.factories import MemberFactory
from tests.points.ledger import totals
from tests.threads import run_together


def make_lottery(prizes, **fields):
    fields.setdefault("name", "Spring draw")
    fields.setdefault("cost_points", 10)
    lottery = Lottery.objects.create(**fields)
    for prize in prizes:
        Prize.objects.create(lottery=lottery, **prize)
    return lottery


NOTHING = {"name": "Thanks", "kind": PrizeKind.NOTHING, "weight": 1}


@pytest.mark.django_db
class TestDraw:
    def test_a_draw_spends_the_cost_and_wins_the_only_prize(self, member, ledger_invariants):
        fund(member, 100)
        lottery = make_lottery([{"name": "50 points", "kind": PrizeKind.POINTS, "weight": 1,
                                 "points": 50, "stock": 3}])
        draw = services.draw(member, lottery, key="k1")
        assert draw.prize.name == "50 points"
        assert draw.points_spent == 10
        assert draw.entry.delta == -10 and draw.prize_entry.delta == 50
        assert totals(member)["available"] == 140
        assert Prize.objects.get(lottery=lottery).stock == 2
        assert ledger_invariants() == []

    def test_the_same_key_returns_the_same_draw(self, member):
        fund(member, 100)
        lottery = make_lottery([{"name": "Thanks", "kind": PrizeKind.NOTHING, "weight": 1}])
        first = services.draw(member, lottery, key="k1")
        again = services.draw(member, lottery, key="k1")
        assert again.pk == first.pk
        assert Draw.objects.count() == 1
        assert totals(member)["available"] == 90

    def test_the_key_of_another_member_is_a_conflict(self, member):
        other = MemberFactory(established=True)
        fund(member, 100)
        fund(other, 100)
        lottery = make_lottery([NOTHING])
        services.draw(member, lottery, key="k1")
        with pytest.raises(IdempotencyConflict):
            services.draw(other, lottery, key="k1")
        assert totals(other)["available"] == 100

    def test_a_free_draw_posts_no_spend(self, member):
        lottery = make_lottery([NOTHING], cost_points=0)
        draw = services.draw(member, lottery, key="k1")
        assert draw.points_spent == 0 and draw.entry is None
        assert Entry.objects.count() == 0

    def test_too_few_points_is_refused_and_writes_nothing(self, member):
        fund(member, 5)
        lottery = make_lottery([NOTHING])
        before = snapshot()
        with pytest.raises(InsufficientPoints):
            services.draw(member, lottery, key="k1")
        assert snapshot() == before and Draw.objects.count() == 0
        assert Refusal.objects.count() == 0

    @pytest.mark.parametrize("fields", [
        {"active": False},
        {"starts_at": timezone.now() + timedelta(days=1)},
        {"ends_at": timezone.now() - timedelta(days=1),
         "starts_at": timezone.now() - timedelta(days=2)},
    ])
    def test_a_closed_lottery_is_refused(self, member, fields):
        fund(member, 100)
        lottery = make_lottery([NOTHING], **fields)
        with pytest.raises(LotteryClosed) as info:
            services.draw(member, lottery, key="k1")
        assert info.value.code == "lottery_closed"
        assert Draw.objects.count() == 0

    def test_the_daily_limit_counts_todays_draws(self, member):
        fund(member, 100)
        lottery = make_lottery([NOTHING], daily_limit=2)
        now = timezone.now()
        services.draw(member, lottery, key="k1", now=now)
        services.draw(member, lottery, key="k2", now=now)
        with pytest.raises(DailyLimitReached) as info:
            services.draw(member, lottery, key="k3", now=now)
        assert info.value.code == "daily_limit_reached"
        # A replay is not a new draw; tomorrow is a new day.
        assert services.draw(member, lottery, key="k1", now=now).prize.name == "Thanks"
        services.draw(member, lottery, key="k3", now=now + timedelta(days=1))
        assert Draw.objects.count() == 3

    def test_no_prize_in_stock_is_refused(self, member):
        fund(member, 100)
        lottery = make_lottery([{"name": "Tea", "kind": PrizeKind.POINTS, "weight": 1,
                                 "points": 5, "stock": 0}])
        before = snapshot()
        with pytest.raises(NoPrizeLeft) as info:
            services.draw(member, lottery, key="k1")
        assert info.value.code == "no_prize_left"
        assert snapshot() == before

    def test_an_exhausted_prize_is_never_drawn(self, member):
        fund(member, 1000)
        lottery = make_lottery([
            {"name": "Top", "kind": PrizeKind.POINTS, "weight": 1000, "points": 5, "stock": 1},
            NOTHING,
        ])
        names = [services.draw(member, lottery, key=f"k{i}").prize.name for i in range(20)]
        assert names.count("Top") <= 1
        assert Prize.objects.get(name="Top").stock >= 0

    def test_a_product_prize_becomes_a_free_redemption(self, member, ledger_invariants):
        fund(member, 100)
        product = make_product(points_price=500, stock=2)
        lottery = make_lottery([{"name": "Tea set", "kind": PrizeKind.PRODUCT, "weight": 1,
                                 "product": product, "stock": 5}])
        draw = services.draw(member, lottery, key="k1")
        redemption = draw.redemption
        assert redemption.product == product and redemption.points == 0
        assert redemption.entry is None and redemption.status == RedemptionStatus.CREATED
        assert stock(product) == (1, 1)
        assert totals(member)["available"] == 90
        assert ledger_invariants() == []

    def test_a_coupon_prize_gets_a_code(self, member):
        fund(member, 100)
        product = make_product(kind=ProductKind.COUPON, points_price=50, codes=["A1", "A2"])
        lottery = make_lottery([{"name": "Coupon", "kind": PrizeKind.COUPON, "weight": 1,
                                 "product": product}])
        draw = services.draw(member, lottery, key="k1")
        assert draw.redemption.status == RedemptionStatus.FULFILLED
        assert list(CouponCode.objects.filter(redemption=draw.redemption)
                    .values_list("code", flat=True)) == ["A1"]

    def test_a_prize_whose_product_ran_out_is_skipped(self, member):
        fund(member, 100)
        product = make_product(points_price=500, stock=0)
        lottery = make_lottery([
            {"name": "Tea set", "kind": PrizeKind.PRODUCT, "weight": 1000, "product": product,
             "stock": 5},
            NOTHING,
        ])
        draw = services.draw(member, lottery, key="k1")
        assert draw.prize.name == "Thanks"
        assert Prize.objects.get(name="Tea set").stock == 5  # the savepoint gave the unit back
        assert Redemption.objects.count() == 0


class TestPick:
    def test_pick_follows_the_weights(self):
        class P:
            def __init__(self, weight):
                self.weight = weight

        prizes = [P(1), P(3)]
        rng = random.Random(7)
        wins = sum(pick(prizes, rng) is prizes[1] for _ in range(10000))
        assert 7200 < wins < 7800
        assert pick([], rng) is None


@pytest.mark.django_db
def test_odds_are_weight_over_the_prizes_in_stock():
    lottery = make_lottery([
        {"name": "A", "kind": PrizeKind.POINTS, "weight": 1, "points": 5, "stock": 0},
        {"name": "B", "kind": PrizeKind.POINTS, "weight": 1, "points": 5, "stock": 3},
        {"name": "C", "kind": PrizeKind.NOTHING, "weight": 3},
    ])
    odds = {row["name"]: row["odds"] for row in selectors.lottery_odds(lottery)}
    assert odds == {"A": 0.0, "B": 0.25, "C": 0.75}


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_a_hundred_members_racing_for_five_top_prizes(self, ledger_invariants):
        members = [MemberFactory(established=True) for _ in range(100)]
        for member in members:
            fund(member, 100)
        lottery = make_lottery([
            {"name": "Top", "kind": PrizeKind.POINTS, "weight": 1_000_000, "points": 500, "stock": 5},
            NOTHING,
        ])

        # The server allows 100 connections (shared with other test runs): 50 threads released at
        # once, each drawing for two members.
        def two_draws(i):
            return [services.draw(members[n], lottery, key=f"d{n}") for n in (i, i + 50)]

        results = run_together(50, two_draws)

        errors = [r for r in results if not isinstance(r, list)]
        assert errors == []
        assert Draw.objects.count() == 100
        assert Draw.objects.filter(prize__name="Top").count() == 5
        assert Prize.objects.get(name="Top").stock == 0
        assert Entry.objects.filter(kind="spend").count() == 100
        assert Entry.objects.filter(kind="earn", reference__startswith="draw:").count() == 5
        winners = set(Draw.objects.filter(prize__name="Top").values_list("member_id", flat=True))
        for member in members:
            assert totals(member)["available"] == (590 if member.pk in winners else 90)
            assert totals(member)["lifetime_spent"] == 10
        assert ledger_invariants() == []

    def test_a_double_click_with_one_key_is_one_draw(self, ledger_invariants):
        member = MemberFactory(established=True)
        fund(member, 100)
        lottery = make_lottery([NOTHING])

        results = run_together(10, lambda i: services.draw(member, lottery, key="same"))

        assert all(isinstance(r, Draw) for r in results), results
        assert len({r.pk for r in results}) == 1
        assert Draw.objects.count() == 1
        assert totals(member)["available"] == 90
        assert Entry.objects.filter(kind="spend").count() == 1
        assert ledger_invariants() == []


@pytest.mark.django_db
def test_a_key_too_long_for_the_prize_posting_is_refused(member):
    from catalog.errors import InvalidArgument
    from catalog.services.lottery import MAX_DRAW_KEY

    lottery = make_lottery([NOTHING], cost_points=0)
    with pytest.raises(InvalidArgument):
        services.draw(member, lottery, key="k" * (MAX_DRAW_KEY + 1))
    assert services.draw(member, lottery, key="k" * MAX_DRAW_KEY).pk


class TestSimulation:
    def test_the_expected_cost_follows_the_weights(self):
        from catalog.lottery_sim import SimPrize, simulate

        prizes = [SimPrize("100", 1, None, 100), SimPrize("nothing", 3, None, 0)]
        result = simulate(prizes, 100_000, rng=random.Random(1))
        assert result.wins["100"] + result.wins["nothing"] == 100_000
        assert 24 < result.cost_per_draw() < 26  # 100 × 1/4
        assert Decimal("0.24") < result.cost_per_draw_yuan(100) < Decimal("0.26")

    def test_a_prize_runs_out_and_then_nothing_is_left(self):
        from catalog.lottery_sim import SimPrize, simulate

        result = simulate([SimPrize("top", 1_000, 5, 500), SimPrize("small", 1, 10, 1)], 100,
                          rng=random.Random(2))
        assert result.wins == {"top": 5, "small": 10}
        assert result.empty == 85
        assert result.prize_points == 5 * 500 + 10
