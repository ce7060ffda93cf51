"""The pure evaluator with the migrated default rule set: every default value of issue 3 and its
examples, exactly; explanations; no clock, no database; the explain=False fast path."""

import ast
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone, translation
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import evaluator
from rules.evaluator import (
    BehaviourCounters,
    BehaviourSpec,
    MemberContext,
    Order,
    OrderLine,
    RuleBook,
    UnknownAction,
    evaluate_behaviour,
    evaluate_check_in,
    evaluate_order,
    max_deduction,
)
from rules.selectors import active_rulebook


@pytest.fixture
def book(db):
    """The published default rule set, as the migration installed it."""
    return active_rulebook()


@pytest.fixture
def english():
    with translation.override("en"):
        yield


def order(*lines, amount=None):
    order_lines = tuple(OrderLine(sku=f"sku-{n}", amount=Decimal(line[0]), categories=tuple(line[1:]))
                        for n, line in enumerate(lines, start=1))
    total = Decimal(amount) if amount is not None else sum((line.amount for line in order_lines), Decimal(0))
    return Order(amount=total, lines=order_lines)


def points(book, tier, the_order):
    return evaluate_order(book, MemberContext(tier=tier), the_order).points


# --------------------------------------------------------------------------- default values


def test_default_rule_set_is_version_1_published(book):
    assert book.version == 1


def test_default_earn_rate_is_one_point_per_yuan(book):
    assert book.base_points_per_yuan == Decimal("1")
    assert points(book, "normal", order(("10.00",))) == 10


def test_default_tier_multipliers(book):
    assert book.tier_multipliers == {"normal": Decimal("1"), "silver": Decimal("1.2"), "gold": Decimal("1.5")}
    assert [points(book, tier, order(("50.00",))) for tier in ("normal", "silver", "gold")] == [50, 60, 75]


def test_default_category_bonuses(book):
    assert book.category_bonuses == {"imported": Decimal("50"), "seasonal": Decimal("30")}
    assert points(book, "normal", order(("50.00", "imported"))) == 75
    assert points(book, "normal", order(("50.00", "seasonal"))) == 65
    assert points(book, "normal", order(("50.00", "vegetables"))) == 50


def test_a_line_takes_the_highest_bonus_of_its_categories(book):
    assert points(book, "normal", order(("50.00", "seasonal", "imported"))) == 75
    assert points(book, "normal", order(("50.00", "imported", "seasonal"))) == 75
    assert points(book, "normal", order(("50.00", "vegetables", "seasonal"))) == 65


def test_default_spend_tiers(book):
    assert book.spend_tiers == ((Decimal("100"), 10), (Decimal("300"), 40))


def test_spend_tier_bonus_is_the_highest_reached_on_the_order_amount(book):
    assert points(book, "normal", order(("99.99",))) == 99
    assert points(book, "normal", order(("100.00",))) == 100 + 10
    assert points(book, "normal", order(("299.99",))) == 299 + 10
    assert points(book, "normal", order(("300.00",))) == 300 + 40
    assert points(book, "normal", order(("1000.00",))) == 1000 + 40
    # The order amount decides, not the sum of the lines (e.g. after an order-level discount).
    assert points(book, "normal", order(("60.00",), ("60.00",), amount="99.00")) == 120


def test_no_cap_per_order_by_default(book):
    assert book.max_points_per_order is None
    assert points(book, "gold", order(("100000.00", "imported"))) == 225000 + 40


def test_default_behaviours(book):
    assert book.behaviours == {
        "register": BehaviourSpec("register", 200, Decimal("0"), None, 1, "注册"),
        "review": BehaviourSpec("review", 20, Decimal("30"), None, None, "评价"),
        "share": BehaviourSpec("share", 50, Decimal("0"), 3, None, "分享"),
        "share_order": BehaviourSpec("share_order", 20, Decimal("0"), None, None, "晒单"),
        "invite": BehaviourSpec("invite", 100, Decimal("0"), None, None, "邀请好友"),
    }


def behaviour(book, action, *, today=0, lifetime=0, today_points=0, photo=False):
    counters = BehaviourCounters(today_count=today, lifetime_count=lifetime, today_points=today_points)
    return evaluate_behaviour(book, MemberContext(), action, counters, photo=photo).points


def test_register_earns_200_once(book):
    assert behaviour(book, "register") == 200
    assert behaviour(book, "register", lifetime=1) == 0


def test_review_earns_20_and_26_with_a_photo(book):
    assert behaviour(book, "review") == 20
    assert behaviour(book, "review", photo=True) == 26
    assert behaviour(book, "review", today=10, lifetime=100) == 20


def test_share_earns_50_at_most_3_times_a_day(book):
    assert [behaviour(book, "share", today=n, lifetime=n) for n in range(5)] == [50, 50, 50, 0, 0]
    assert behaviour(book, "share", today=0, lifetime=300) == 50


def test_share_order_and_invite(book):
    assert behaviour(book, "share_order") == 20
    assert behaviour(book, "invite") == 100
    assert behaviour(book, "invite", today=20, lifetime=20) == 100
    # A photo only counts where the rule has a photo bonus.
    assert behaviour(book, "share_order", photo=True) == 20


def test_unknown_behaviour_is_refused(book):
    with pytest.raises(UnknownAction):
        behaviour(book, "like")


def test_daily_behaviour_cap_is_500(book):
    assert book.daily_behaviour_cap == 500
    assert behaviour(book, "invite", today_points=400) == 100
    assert behaviour(book, "invite", today_points=450) == 50
    assert behaviour(book, "review", today_points=490, photo=True) == 10
    assert behaviour(book, "share", today_points=500) == 0
    assert behaviour(book, "share", today_points=700) == 0


def test_check_in_streak_5_to_20_then_20(book):
    assert book.check_in_steps == tuple(enumerate([5, 8, 10, 12, 15, 18, 20], start=1))
    days = [evaluate_check_in(book, day).points for day in range(1, 11)]
    assert days == [5, 8, 10, 12, 15, 18, 20, 20, 20, 20]
    assert evaluate_check_in(book, 365).points == 20
    # A missed day restarts the streak at day 1 (the caller counts the streak): 5 again.
    assert evaluate_check_in(book, 1).points == 5


def test_pending_expiry_and_reminders(book):
    assert book.pending_days == 7
    assert book.expiry_months == 12
    assert book.reminder_days == (30, 7)


def test_redemption_100_points_per_yuan_at_most_half_an_order(book):
    assert book.redemption_points_per_yuan == 100
    assert book.redemption_max_percent == 50
    assert book.redemption_min_points == 0
    assert max_deduction(book, Decimal("128.00")) == (6400, Decimal("64.00"))
    assert max_deduction(book, Decimal("99.99")) == (4999, Decimal("49.99"))
    assert max_deduction(book, Decimal("0.01")) == (0, Decimal("0.00"))


# --------------------------------------------------------------------------- the examples


def test_gold_member_one_imported_line_of_100_earns_235(book):
    assert points(book, "gold", order(("100.00", "imported"))) == 225 + 10


def test_silver_member_99_99_earns_119(book):
    assert points(book, "silver", order(("99.99",))) == 119


def test_normal_member_two_lines_of_150_earns_340(book):
    assert points(book, "normal", order(("150.00",), ("150.00",))) == 300 + 40


def test_299_99_gets_the_10_bonus_and_300_the_40(book):
    below = evaluate_order(book, MemberContext(tier="normal"), order(("299.99",)))
    at = evaluate_order(book, MemberContext(tier="normal"), order(("300.00",)))
    assert below.points == 309
    assert at.points == 340


def test_unknown_tier_earns_at_the_base_rate(book):
    assert points(book, "platinum", order(("50.00",))) == 50


def test_decision_carries_the_version(book):
    decision = evaluate_order(book, MemberContext(tier="gold"), order(("100.00", "imported")))
    assert decision.version == 1
    assert decision.as_json()["version"] == 1
    assert decision.as_json()["points"] == 235


# --------------------------------------------------------------------------- explanations


def test_explanation_mentions_each_step(book, english):
    decision = evaluate_order(book, MemberContext(tier="gold"),
                              order(("100.00", "imported"), ("20.00",), amount="120.00"))
    assert decision.points == 225 + 30 + 10
    assert decision.explanation == (
        "sku-1: 100.00 yuan × 1/yuan × gold ×1.5 × (1 + 进口水果 50%) = 225",
        "sku-2: 20.00 yuan × 1/yuan × gold ×1.5 = 30",
        "spend tier: order 120.00 ≥ 100, +10",
        "total 265 points (rules v1)",
    )
    assert decision.reason == "; ".join(decision.explanation)


def test_explanation_without_a_spend_tier(book, english):
    decision = evaluate_order(book, MemberContext(tier="silver"), order(("99.99",)))
    assert decision.explanation == (
        "sku-1: 99.99 yuan × 1/yuan × silver ×1.2 = 119",
        "total 119 points (rules v1)",
    )


def test_explanation_of_the_cap_per_order(english):
    capped = RuleBook(version=9, tier_multipliers={"normal": Decimal(1)}, max_points_per_order=100)
    decision = evaluate_order(capped, MemberContext(), order(("150.00",)))
    assert decision.points == 100
    assert decision.explanation[-2:] == ("capped at 100 points per order", "total 100 points (rules v9)")


def test_behaviour_explanations(book, english):
    counters = BehaviourCounters()
    review = evaluate_behaviour(book, MemberContext(), "review", counters, photo=True)
    assert review.explanation == ("评价: 20 + photo 30% = 26",)
    capped = evaluate_behaviour(book, MemberContext(), "invite", BehaviourCounters(today_points=450))
    assert capped.explanation == ("邀请好友: 100", "daily cap of 500 reached: 50 of 100")
    over = evaluate_behaviour(book, MemberContext(), "share", BehaviourCounters(today_count=3))
    assert over.explanation == ("分享: daily limit of 3 reached",)
    once = evaluate_behaviour(book, MemberContext(), "register", BehaviourCounters(lifetime_count=1))
    assert once.explanation == ("注册: already earned 1 time(s), the most allowed",)
    assert evaluate_check_in(book, 9).explanation == ("check-in day 9: 20",)


# --------------------------------------------------------------------------- purity


def test_the_evaluator_reads_no_clock_and_no_database(book, django_assert_num_queries, monkeypatch):
    def no_clock(*args, **kwargs):
        raise AssertionError("the evaluator read the clock")

    monkeypatch.setattr(timezone, "now", no_clock)
    monkeypatch.setattr(timezone, "localtime", no_clock)
    monkeypatch.setattr(time, "time", no_clock)
    context = MemberContext(tier="gold", member_id=42)
    with django_assert_num_queries(0):
        assert evaluate_order(book, context, order(("100.00", "imported"))).points == 235
        assert evaluate_order(book, context, order(("100.00", "imported")), explain=False).points == 235
        assert evaluate_behaviour(book, context, "review", BehaviourCounters(), photo=True).points == 26
        assert evaluate_check_in(book, 3).points == 10
        assert max_deduction(book, Decimal("10.00")) == (500, Decimal("5.00"))
        assert evaluator.gray_bucket(42) == evaluator.gray_bucket(42)


def test_the_evaluator_module_imports_no_clock_and_no_database():
    tree = ast.parse(Path(evaluator.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    forbidden = ("time", "datetime", "django.utils.timezone", "django.db", "django.core.cache",
                 "rules.models", "rules.selectors", "points", "mall")
    # "django.utils.timezone" is caught as an import of the module or of a name from it.
    assert not {name for name in imported for prefix in forbidden
                if name == prefix or name.startswith(f"{prefix}.")}
    assert "django.utils.translation" in imported  # the check does see the imports


# --------------------------------------------------------------------------- explain=False


def test_explain_false_gives_the_same_points_and_no_text(book):
    the_order = order(("100.00", "imported"), ("20.00", "seasonal"))
    fast = evaluate_order(book, MemberContext(tier="gold"), the_order, explain=False)
    full = evaluate_order(book, MemberContext(tier="gold"), the_order)
    assert (fast.points, fast.version, fast.explanation) == (full.points, 1, ())


CATEGORIES = ("imported", "seasonal", "vegetables", "frozen", "gift")
TIERS = ("normal", "silver", "gold", "vip")
money = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999999.99"), places=2,
                    allow_nan=False, allow_infinity=False)


@st.composite
def rule_books(draw):
    thresholds = draw(st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2),
                               max_size=4, unique=True))
    return RuleBook(
        version=draw(st.integers(1, 1000)),
        base_points_per_yuan=draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=4)),
        tier_multipliers=draw(st.dictionaries(
            st.sampled_from(TIERS), st.decimals(min_value=Decimal("0"), max_value=Decimal("10"), places=2))),
        category_bonuses=draw(st.dictionaries(
            st.sampled_from(CATEGORIES), st.decimals(min_value=Decimal("0"), max_value=Decimal("1000"),
                                                      places=2))),
        spend_tiers=tuple((threshold, draw(st.integers(1, 10_000))) for threshold in sorted(thresholds)),
        max_points_per_order=draw(st.none() | st.integers(0, 100_000)),
    )


@st.composite
def orders(draw):
    lines = tuple(
        OrderLine(sku=f"s{n}", amount=draw(money),
                  categories=tuple(draw(st.lists(st.sampled_from(CATEGORIES), max_size=3))))
        for n in range(draw(st.integers(0, 5)))
    )
    amount = draw(st.none() | money)
    return Order(amount=sum((line.amount for line in lines), Decimal(0)) if amount is None else amount,
                 lines=lines)


@settings(max_examples=500, deadline=None)
@given(book=rule_books(), tier=st.sampled_from(TIERS), the_order=orders())
def test_explain_false_and_explain_true_agree(book, tier, the_order):
    context = MemberContext(tier=tier)
    full = evaluate_order(book, context, the_order, explain=True)
    fast = evaluate_order(book, context, the_order, explain=False)
    assert fast.points == full.points
    assert fast.version == full.version
    # The last line names the rule version, whatever the active language ("v1)" or "v1）").
    assert full.explanation and full.explanation[-1].rstrip(")）").endswith(f"v{book.version}")
    assert fast.explanation == ()


@settings(max_examples=200, deadline=None)
@given(tier=st.sampled_from(TIERS), the_order=orders())
def test_explain_false_agrees_with_the_default_rule_set(tier, the_order):
    book = DEFAULT_BOOK
    context = MemberContext(tier=tier)
    assert evaluate_order(book, context, the_order, explain=False).points == \
        evaluate_order(book, context, the_order).points


def _default_book():
    from rules import defaults

    return RuleBook(
        version=1,
        base_points_per_yuan=defaults.RULE_SET["base_points_per_yuan"],
        tier_multipliers={code: mult for code, _name, _en, _rank, mult, _q in defaults.TIERS},
        category_bonuses={cat: pct for cat, _label, pct in defaults.CATEGORY_BONUSES},
        spend_tiers=tuple(defaults.SPEND_TIERS),
    )


DEFAULT_BOOK = _default_book()


def test_the_hypothesis_default_book_matches_the_migrated_one(book):
    for name in ("base_points_per_yuan", "tier_multipliers", "category_bonuses", "spend_tiers",
                 "max_points_per_order"):
        assert getattr(DEFAULT_BOOK, name) == getattr(book, name)
