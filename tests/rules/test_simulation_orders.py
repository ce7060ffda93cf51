"""``rules.simulation.simulate`` on orders it is given: no ledger, no stored orders (issue 8 §1)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rules.evaluator import Order, OrderLine
from rules.simulation import PaidOrder, simulate
from tests.rules.test_simulation import NOW, make_candidate


def order(*lines, amount=None):
    total = Decimal(amount) if amount is not None else sum((Decimal(a) for a, *_c in lines), Decimal(0))
    return Order(amount=total, lines=tuple(OrderLine(f"sku-{n}", Decimal(a), tuple(c), 1)
                                           for n, (a, *c) in enumerate(lines, start=1)))


@pytest.mark.django_db
def test_simulate_evaluates_the_orders_it_is_given_and_reads_no_ledger():
    candidate = make_candidate()
    orders = [
        PaidOrder(1, "gold", order(("100.00", "imported"))),  # 235 -> 410
        PaidOrder(2, "silver", order(("150.00",), ("150.00",))),  # 400 -> 370
        PaidOrder(2, "silver", order(amount="100.00")),  # 10 -> 10
        PaidOrder(3, "normal", order(("20.00", "seasonal"))),  # 26 -> 26
    ]
    simulate(candidate, [], days=30, since=NOW - timedelta(days=30), until=NOW)  # warm the rule books
    with CaptureQueriesContext(connection) as queries:
        result = simulate(candidate, iter(orders), days=30, since=NOW - timedelta(days=30), until=NOW)
    assert not any("points_" in query["sql"] for query in queries.captured_queries)
    assert (result.orders, result.orders_changed, result.members, result.members_affected) == (4, 2, 3, 2)
    assert (result.active_points, result.candidate_points, result.difference) == (671, 816, 145)
    assert [(c.member_id, c.active_points, c.candidate_points) for c in result.top_changes] == [
        (1, 235, 410), (2, 410, 380)]
    assert result.cost_yuan == Decimal("2.90")  # 145 points at the candidate's 50 points per yuan


@pytest.mark.django_db
def test_simulate_takes_plain_tuples_and_labels_the_last_days_by_default():
    result = simulate(make_candidate(), [(7, "gold", order(("100.00", "imported")))])

    assert (result.orders, result.active_points, result.candidate_points) == (1, 235, 410)
    assert result.days == 30 and result.until - result.since == timedelta(days=30)


@pytest.mark.django_db
def test_simulate_refuses_a_negative_top():
    with pytest.raises(ValueError):
        simulate(make_candidate(), [], days=1, since=NOW - timedelta(days=1), until=NOW, top=-1)
