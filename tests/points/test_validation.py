"""Bad input is refused before anything is written: no account, entry, lot, hold or refusal row."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from points import services
from points.errors import InvalidAmount, InvalidArgument
from tests.points.ledger import T0, clock, row_counts, snapshot

BAD_POINTS = [0, -1, -10, 10.0, "10", None, True, False, Decimal("10"), 10**12, 10**9 + 1]
# For adjust a negative delta is a debit and so valid; too large a debit is not.
BAD_DELTAS = [0, 10.0, "10", None, True, False, Decimal("10"), 10**12, -(10**12), 10**9 + 1]
# For capture None means "all of it".
BAD_CAPTURES = [p for p in BAD_POINTS if p is not None]


def _assert_nothing_written(member, call):
    """No row of any kind is added, and the member's totals, entries and lots are as they were."""
    before = snapshot(member)
    with clock(T0), pytest.raises(InvalidAmount):
        call()
    assert snapshot(member) == before


@pytest.mark.parametrize("points", BAD_POINTS, ids=repr)
def test_earn_refuses_bad_amounts(member, points):
    assert row_counts()["Account"] == 0
    _assert_nothing_written(member, lambda: services.earn(member, points, key="k", reason="r"))
    assert row_counts()["Account"] == 0


@pytest.mark.parametrize("points", BAD_POINTS, ids=repr)
def test_spend_refuses_bad_amounts(member, points):
    _assert_nothing_written(member, lambda: services.spend(member, points, key="k", reason="r"))
    assert row_counts()["Account"] == 0


@pytest.mark.parametrize("points", BAD_POINTS, ids=repr)
def test_hold_refuses_bad_amounts(member, points):
    _assert_nothing_written(member, lambda: services.hold(member, points, key="k"))
    assert row_counts()["Account"] == 0


@pytest.mark.parametrize("delta", BAD_DELTAS, ids=repr)
def test_adjust_refuses_bad_amounts(member, staff, delta):
    _assert_nothing_written(member, lambda: services.adjust(member, delta, key="k", reason="r", staff=staff))
    assert row_counts()["Account"] == 0


@pytest.mark.parametrize("points", BAD_CAPTURES, ids=repr)
def test_capture_refuses_bad_amounts(member, ledger_invariants, points):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r")
        hold = services.hold(member, 50, key="h1")
    _assert_nothing_written(member, lambda: services.capture(hold, key="k", points=points))
    assert ledger_invariants() == []


@pytest.mark.parametrize("points", BAD_CAPTURES, ids=repr)
def test_reverse_refuses_bad_amounts(member, ledger_invariants, points):
    with clock(T0):
        earned = services.earn(member, 100, key="e1", reason="r")
    _assert_nothing_written(member, lambda: services.reverse(earned, points, key="k", reason="r"))
    assert ledger_invariants() == []


def test_bad_amounts_on_an_existing_account_change_no_total(member, staff, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r")
        hold = services.hold(member, 40, key="h1")
    for points in BAD_CAPTURES:
        _assert_nothing_written(member, lambda p=points: services.earn(member, p, key="k", reason="r"))
        _assert_nothing_written(member, lambda p=points: services.spend(member, p, key="k", reason="r"))
        _assert_nothing_written(member, lambda p=points: services.hold(member, p, key="k"))
        _assert_nothing_written(member, lambda p=points: services.capture(hold, key="k", points=p))
    assert ledger_invariants() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda m: services.earn(m, 10, key="", reason="r"),
        lambda m: services.earn(m, 10, key="   ", reason="r"),
        lambda m: services.earn(m, 10, key=None, reason="r"),
        lambda m: services.earn(m, 10, key=12, reason="r"),
        lambda m: services.earn(m, 10, key="k" * 181, reason="r"),
        lambda m: services.earn(m, 10, key="k", reason=""),
        lambda m: services.earn(m, 10, key="k", reason=None),
        lambda m: services.earn(m, 10, key="k", reason="r" * 256),
        lambda m: services.earn(m, 10, key="k", reason="r", reference="x" * 101),
        lambda m: services.earn(m, 10, key="k", reason="r", reference=7),
        lambda m: services.earn(m, 10, key="k", reason="r", expires_at=datetime(2027, 1, 1)),
        lambda m: services.earn(m, 10, key="k", reason="r", expires_at="2027-01-01"),
        lambda m: services.earn(m, 10, key="k", reason="r", available_at=datetime(2026, 2, 1)),
        lambda m: services.spend(m, 10, key="", reason="r"),
        lambda m: services.spend(m, 10, key="k", reason=" "),
        lambda m: services.hold(m, 10, key="k", ttl=timedelta(0)),
        lambda m: services.hold(m, 10, key="k", ttl=30),
    ],
)
def test_bad_arguments_are_refused_before_any_write(member, call):
    before = snapshot(member)
    with clock(T0), pytest.raises(InvalidArgument):
        call(member)
    assert snapshot(member) == before
