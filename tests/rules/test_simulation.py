"""Simulation of a rule set over the stored paid orders: exact figures, nothing written, no query
per order, and the management command."""

from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from points.models import Order, OrderLine
from rules import services
from rules.models import CategoryBonus, RuleSet, RuleSetStatus, TierRule
from rules.simulation import simulate_recent, summary_lines
from tests.factories import MemberFactory, StaffFactory

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
_order_numbers = iter(range(1, 10**9))


def paid_order(member, tier, lines, *, paid_at, amount=None):
    """Store a paid order as the order hook does (test setup, not a code path under test)."""
    total = Decimal(amount) if amount is not None else sum((Decimal(a) for a, *_c in lines), Decimal(0))
    order = Order.objects.create(external_id=f"T{next(_order_numbers)}", member=member, tier=tier,
                                 amount=total, paid_at=paid_at)
    OrderLine.objects.bulk_create(
        OrderLine(order=order, sku=f"sku-{n}", amount=Decimal(a), categories=list(categories))
        for n, (a, *categories) in enumerate(lines, start=1)
    )
    return order


def make_candidate(*, redemption_points_per_yuan=50):
    """A draft cloned from the default: silver ×1.1 (was 1.2), gold ×2 (was 1.5), imported +100%
    (was 50%), 50 points per yuan of deduction (was 100)."""
    editor = StaffFactory()
    draft = services.clone_as_draft(RuleSet.objects.get(status=RuleSetStatus.PUBLISHED), actor=editor)
    TierRule.objects.filter(rule_set=draft, code="silver").update(multiplier=Decimal("1.1"))
    TierRule.objects.filter(rule_set=draft, code="gold").update(multiplier=Decimal("2"))
    CategoryBonus.objects.filter(rule_set=draft, category="imported").update(bonus_percent=Decimal("100"))
    RuleSet.objects.filter(pk=draft.pk).update(redemption_points_per_yuan=redemption_points_per_yuan)
    services.record_edit(draft, actor=editor)
    return RuleSet.objects.get(pk=draft.pk)


@pytest.fixture
def candidate(db):
    return make_candidate()


@pytest.fixture
def orders(db):
    """Five members' paid orders; figures under the default (active) and the candidate:

    a gold imported 100.00            235 -> 410 (+175)
    a normal seasonal 50.00            65 -> 65
    b silver 150.00 + 150.00          400 -> 370 (-30)
    b 100.00 without lines             10 -> 10
    c gold 80.00                      120 -> 160 (+40)
    d normal imported 299.99          459 -> 609 (+150)
    e normal seasonal 20.00            26 -> 26
    and two orders outside the 30 days (c 31 days ago, d after now) that must not count.
    """
    a, b, c, d, e = (MemberFactory(username=name, nickname="") for name in "abcde")
    day = timedelta(days=1)
    paid_order(a, "gold", [("100.00", "imported")], paid_at=NOW - 2 * day)
    paid_order(a, "normal", [("50.00", "seasonal")], paid_at=NOW - 20 * day)
    paid_order(b, "silver", [("150.00",), ("150.00",)], paid_at=NOW - 3 * day)
    paid_order(b, "silver", [], amount="100.00", paid_at=NOW - 4 * day)
    paid_order(c, "gold", [("80.00",)], paid_at=NOW - 29 * day)
    paid_order(d, "normal", [("299.99", "imported")], paid_at=NOW - timedelta(hours=1))
    paid_order(e, "normal", [("20.00", "seasonal")], paid_at=NOW - 5 * day)
    paid_order(c, "gold", [("1000.00", "imported")], paid_at=NOW - 31 * day)
    paid_order(d, "gold", [("1000.00", "imported")], paid_at=NOW + timedelta(minutes=1))
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def test_simulation_figures_are_exact(candidate, orders):
    result = simulate_recent(candidate, days=30, now=NOW)
    assert (result.candidate_version, result.active_version, result.days) == (candidate.version, 1, 30)
    assert (result.since, result.until) == (NOW - timedelta(days=30), NOW)
    assert result.orders == 7
    assert result.orders_changed == 4
    assert result.active_points == 1315
    assert result.candidate_points == 1650
    assert result.difference == 335
    assert result.members == 5
    assert result.members_affected == 4
    # At the candidate's redemption rate: 335 points / 50 per yuan.
    assert result.redemption_points_per_yuan == 50
    assert result.cost_yuan == Decimal("6.70")
    assert [(c.member, c.orders, c.active_points, c.candidate_points, c.difference)
            for c in result.top_changes] == [
        ("a", 2, 300, 475, 175),
        ("d", 1, 459, 609, 150),
        ("c", 1, 120, 160, 40),
        ("b", 2, 410, 380, -30),
    ]
    assert [c.member_id for c in result.top_changes] == [orders[n].pk for n in "adcb"]


def test_top_limits_the_list_to_the_largest_changes(candidate, orders):
    result = simulate_recent(candidate, days=30, now=NOW, top=2)
    assert [c.member for c in result.top_changes] == ["a", "d"]
    assert result.members_affected == 4
    assert simulate_recent(candidate, days=30, now=NOW, top=0).top_changes == ()


def test_the_window_is_the_last_n_days_before_now(candidate, orders):
    result = simulate_recent(candidate, days=3, now=NOW)
    # a's gold order (2 days ago) and d's (1 hour ago); b's order 3 days ago is exactly on the edge.
    assert (result.orders, result.active_points, result.candidate_points) == (3, 235 + 459 + 400,
                                                                             410 + 609 + 370)
    result = simulate_recent(candidate, days=31, now=NOW)
    assert (result.orders, result.active_points) == (8, 1315 + 2250 + 40)


def test_window_edges(candidate):
    member = MemberFactory()
    since = NOW - timedelta(days=30)
    for paid_at in (since - timedelta(microseconds=1), since, NOW - timedelta(microseconds=1), NOW):
        paid_order(member, "normal", [("10.00",)], paid_at=paid_at)
    assert simulate_recent(candidate, days=30, now=NOW).orders == 2


def test_simulating_the_active_version_changes_nothing(orders):
    published = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    result = simulate_recent(published, days=30, now=NOW)
    assert (result.orders, result.active_points, result.candidate_points) == (7, 1315, 1315)
    assert (result.difference, result.members_affected, result.orders_changed) == (0, 0, 0)
    assert result.cost_yuan == Decimal("0.00")
    assert result.top_changes == ()


def test_a_cheaper_candidate_has_a_negative_cost(orders):
    editor = StaffFactory()
    draft = services.clone_as_draft(RuleSet.objects.get(status=RuleSetStatus.PUBLISHED), actor=editor)
    TierRule.objects.filter(rule_set=draft, code="gold").update(multiplier=Decimal("1"))
    result = simulate_recent(RuleSet.objects.get(pk=draft.pk), days=30, now=NOW)
    # a's 225 -> 150 (+10 tier bonus kept), c's 120 -> 80.
    assert result.difference == -75 - 40
    assert result.cost_yuan == Decimal("-1.15")
    assert [c.difference for c in result.top_changes] == [-75, -40]


def test_no_orders(candidate):
    result = simulate_recent(candidate, days=30, now=NOW)
    assert (result.orders, result.members, result.active_points, result.candidate_points) == (0, 0, 0, 0)
    assert result.cost_yuan == Decimal("0.00")


@pytest.mark.parametrize("days", [0, -1, 3661, 1.5, True])
def test_days_out_of_range_are_refused(candidate, days):
    with pytest.raises(ValueError):
        simulate_recent(candidate, days=days, now=NOW)


def _row_counts():
    tables = [t for t in connection.introspection.table_names() if t.startswith(("points_", "rules_"))]
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def test_simulation_writes_nothing(candidate, orders):
    before = _row_counts()
    assert before["points_order"] == 9 and before["rules_ruleset"] == 2
    with CaptureQueriesContext(connection) as queries:
        simulate_recent(candidate, days=30, now=NOW)
    assert _row_counts() == before
    writes = [q["sql"] for q in queries.captured_queries
              if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []


def test_simulation_does_not_query_per_order(candidate, django_assert_max_num_queries):
    members = MemberFactory.create_batch(20)
    orders = Order.objects.bulk_create(
        Order(external_id=f"B{n}", member=members[n % 20], tier=("normal", "silver", "gold")[n % 3],
              amount=Decimal("120.00"), paid_at=NOW - timedelta(hours=n + 1))
        for n in range(300)
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=order, sku=f"s{k}", amount=Decimal("60.00"), categories=["imported"])
        for order in orders for k in range(2)
    )
    simulate_recent(candidate, days=1, now=NOW)  # warm the published version's cached rule book
    with CaptureQueriesContext(connection) as few:
        small = simulate_recent(candidate, days=1, now=NOW)
    with django_assert_max_num_queries(len(few.captured_queries)):
        large = simulate_recent(candidate, days=30, now=NOW)
    assert (small.orders, large.orders) == (24, 300)
    assert len(few.captured_queries) <= 10
    # An order of 2 imported lines of 60.00 (amount 120.00, +10) earns, active / candidate:
    # normal 2×90+10 / 2×120+10, silver 2×108+10 / 2×132+10, gold 2×135+10 / 2×240+10.
    assert large.active_points == 100 * (190 + 226 + 280)
    assert large.candidate_points == 100 * (250 + 274 + 490)


# --------------------------------------------------------------------------- summary and command


def test_summary_lines_show_the_figures(candidate, orders):
    with translation.override("en"):
        text = "\n".join(summary_lines(simulate_recent(candidate, days=30, now=NOW)))
    assert f"Rules v{candidate.version} against the active v1, paid orders of the last 30 days " \
           "(2026-03-01 12:00 to 2026-03-31 12:00)" in text
    assert "Orders re-evaluated: 7 (4 with different points)" in text
    assert "Points under the active v1: 1315" in text
    assert f"Points under v{candidate.version}: 1650" in text
    assert "Difference: +335 points" in text
    assert "Members affected: 4 of 5" in text
    assert "Cost of the difference: 6.70 yuan (at 50 points per yuan)" in text
    assert "  a: 300 -> 475 (+175) in 2 order(s)\n  d: 459 -> 609 (+150) in 1 order(s)\n" \
           "  c: 120 -> 160 (+40) in 1 order(s)\n  b: 410 -> 380 (-30) in 2 order(s)" in text


def test_management_command_prints_the_figures(candidate):
    """The command simulates up to the real now: the orders are placed relative to it."""
    a, b = MemberFactory(username="a", nickname=""), MemberFactory(username="b", nickname="Bee")
    now = timezone.now()
    paid_order(a, "gold", [("100.00", "imported")], paid_at=now - timedelta(days=1))
    paid_order(b, "silver", [("150.00",), ("150.00",)], paid_at=now - timedelta(days=6))
    paid_order(b, "gold", [("500.00",)], paid_at=now - timedelta(days=8))
    out = StringIO()
    with translation.override("en"):
        call_command("simulate_rules", str(candidate.version), "--days", "7", stdout=out)
    text = out.getvalue()
    assert "Orders re-evaluated: 2 (2 with different points)" in text
    assert "Points under the active v1: 635" in text
    assert f"Points under v{candidate.version}: 780" in text
    assert "Difference: +145 points" in text
    assert "Members affected: 2 of 2" in text
    assert "Cost of the difference: 2.90 yuan (at 50 points per yuan)" in text
    assert "a: 235 -> 410 (+175)" in text
    assert "b (Bee): 400 -> 370 (-30)" in text
    assert "nothing was written" in text

    out = StringIO()
    with translation.override("en"):
        call_command("simulate_rules", str(candidate.version), "--days", "30", "--top", "1", stdout=out)
    text = out.getvalue()
    assert "Orders re-evaluated: 3 (3 with different points)" in text
    # b's gold order 8 days ago: 750 + 40 -> 1000 + 40, so b leads with -30 + 250.
    assert "b (Bee): 1190 -> 1410 (+220) in 2 order(s)" in text
    assert "a: 235" not in text


def test_management_command_refuses_bad_arguments(candidate):
    with pytest.raises(CommandError, match="v999"):
        call_command("simulate_rules", "999", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("simulate_rules", str(candidate.version), "--days", "0", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("simulate_rules", str(candidate.version), "--top", "-1", stdout=StringIO())
