from datetime import timedelta

import pytest

from points import services
from points.errors import InvalidAmount, NotReversible
from points.models import Entry
from tests.points.ledger import (
    T0,
    allocations,
    at,
    clock,
    entries,
    keyed_entries,
    lot_of,
    lots,
    snapshot,
    totals,
)


def test_reversing_an_unspent_earning_empties_its_lot(member, ledger_invariants):
    with clock(T0):
        earned = services.earn(member, 100, key="e1", reason="r", reference="order-1")
        entry = services.reverse(earned, key="refund-1", reason="Order refunded")

    entry = Entry.objects.get(pk=entry.pk)
    assert (entry.kind, entry.delta, entry.balance_after) == ("reverse", -100, 0)
    assert (entry.reverses_id, entry.reference, entry.reason) == (earned.pk, "order-1", "Order refunded")
    assert lots(member) == [(100, 0)]
    assert totals(member) == {"available": 0, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 0, "lifetime_spent": 0, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_reversing_a_pending_earning_takes_it_from_pending(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 30, key="e0", reason="r")
        earned = services.earn(member, 100, key="e1", reason="r", available_at=T0 + timedelta(days=7))
        services.reverse(earned, 40, key="refund-1", reason="r")

    assert lots(member) == [(30, 30), (100, 60)]
    assert entries(member) == [("earn", 30, 30), ("earn", 100, 130), ("reverse", -40, 90)]
    assert totals(member) == {"available": 30, "pending": 60, "held": 0, "debt": 0,
                              "lifetime_earned": 90, "lifetime_spent": 0, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_reversal_takes_from_the_earnings_own_lot_first_then_other_lots(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 12, 1))
        services.earn(member, 40, key="e2", reason="r", expires_at=services.NEVER)
        earned = services.earn(member, 60, key="e3", reason="r", expires_at=at(2026, 3, 1))
        services.spend(member, 50, key="s1", reason="r")  # takes 50 of the third lot
        services.reverse(earned, key="refund-3", reason="r")

    # 10 from its own lot, the other 50 in spending order: the lot expiring 2026-12-01 first.
    assert lots(member) == [(100, 50), (40, 40), (60, 0)]
    assert entries(member)[-1] == ("reverse", -60, 90)
    assert totals(member)["available"] == 90
    assert totals(member)["debt"] == 0
    assert ledger_invariants() == []


def test_reversing_a_partly_spent_earning_creates_debt_repaid_by_the_next_earnings(
    member, ledger_invariants
):
    with clock(T0):
        earned = services.earn(member, 100, key="e1", reason="r")
        services.spend(member, 70, key="s1", reason="r")
        services.reverse(earned, key="refund-1", reason="r")

    assert lots(member) == [(100, 0)]
    assert entries(member) == [("earn", 100, 100), ("spend", -70, 30), ("reverse", -100, -70)]
    assert totals(member) == {"available": 0, "pending": 0, "held": 0, "debt": 70,
                              "lifetime_earned": 0, "lifetime_spent": 70, "lifetime_expired": 0}
    assert ledger_invariants() == []

    with clock(T0):
        small = services.earn(member, 50, key="e2", reason="r")
    assert lot_of(small).remaining == 0  # all of it paid debt
    assert entries(member)[-1] == ("earn", 50, -20)
    assert totals(member)["debt"] == 20
    assert totals(member)["available"] == 0
    assert ledger_invariants() == []

    with clock(T0):
        large = services.earn(member, 100, key="e3", reason="r")
    assert (lot_of(large).amount, lot_of(large).remaining) == (100, 80)
    assert entries(member)[-1] == ("earn", 100, 80)
    assert totals(member) == {"available": 80, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 70, "lifetime_expired": 0}
    with clock(T0):
        services.spend(member, 80, key="s2", reason="r")
    assert totals(member)["available"] == 0
    assert ledger_invariants() == []


def test_debt_is_repaid_from_pending_earnings_too(member, ledger_invariants):
    with clock(T0):
        earned = services.earn(member, 40, key="e1", reason="r")
        services.spend(member, 40, key="s1", reason="r")
        services.reverse(earned, key="refund-1", reason="r")
        later = services.earn(member, 100, key="e2", reason="r", available_at=T0 + timedelta(days=7))

    assert (lot_of(later).remaining, lot_of(later).pending) == (60, True)
    assert totals(member) == {"available": 0, "pending": 60, "held": 0, "debt": 0,
                              "lifetime_earned": 100, "lifetime_spent": 40, "lifetime_expired": 0}
    assert entries(member)[-1] == ("earn", 100, 60)
    assert ledger_invariants() == []


def test_partial_reversals_add_up_and_never_exceed_the_original(member, ledger_invariants):
    with clock(T0):
        earned = services.earn(member, 100, key="e1", reason="r")
        services.reverse(earned, 30, key="r1", reason="r")
        services.reverse(earned, 50, key="r2", reason="r")
    before = snapshot(member)

    with clock(T0), pytest.raises(InvalidAmount):
        services.reverse(earned, 21, key="r3", reason="r")
    assert snapshot(member) == before

    with clock(T0):
        last = services.reverse(earned, key="r4", reason="r")  # the rest: 20
    assert (last.delta, last.balance_after) == (-20, 0)
    after = snapshot(member)
    for points in (1, None):
        with clock(T0), pytest.raises(InvalidAmount):
            services.reverse(earned, points, key=f"r5-{points}", reason="r")
        assert snapshot(member) == after

    assert entries(member) == [("earn", 100, 100), ("reverse", -30, 70), ("reverse", -50, 20),
                               ("reverse", -20, 0)]
    assert lots(member) == [(100, 0)]
    assert totals(member)["lifetime_earned"] == 0
    assert ledger_invariants() == []


def test_cancelled_spend_returns_points_to_the_original_lots(member, ledger_invariants):
    with clock(T0):
        soon = services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 6, 1))
        late = services.earn(member, 100, key="e2", reason="r", expires_at=at(2026, 12, 1))
        spent = services.spend(member, 150, key="s1", reason="r", reference="redemption-1")
        entry = services.reverse(spent, key="cancel-1", reason="Redemption cancelled")

    assert (entry.kind, entry.delta, entry.balance_after) == ("reverse", 150, 200)
    assert Entry.objects.get(pk=entry.pk).reference == "redemption-1"
    assert lots(member) == [(100, 100), (100, 100)]
    assert allocations(entry) == [(lot_of(soon).pk, 100), (lot_of(late).pk, 50)]
    assert totals(member) == {"available": 200, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 200, "lifetime_spent": 0, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_partial_cancellations_return_to_the_latest_expiring_lots_first(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 6, 1))
        services.earn(member, 100, key="e2", reason="r", expires_at=at(2026, 12, 1))
        spent = services.spend(member, 150, key="s1", reason="r")
        services.reverse(spent, 60, key="cancel-1", reason="r")

    assert lots(member) == [(100, 10), (100, 100)]
    with clock(T0):
        services.reverse(spent, 40, key="cancel-2", reason="r")
    assert lots(member) == [(100, 50), (100, 100)]
    with clock(T0), pytest.raises(InvalidAmount):
        services.reverse(spent, 51, key="cancel-3", reason="r")
    with clock(T0):
        services.reverse(spent, key="cancel-4", reason="r")
    assert lots(member) == [(100, 100), (100, 100)]
    assert entries(member)[-3:] == [("reverse", 60, 110), ("reverse", 40, 150), ("reverse", 50, 200)]
    assert totals(member)["lifetime_spent"] == 0
    assert ledger_invariants() == []


def test_cancelled_spend_from_an_expired_lot_expires_at_once(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 2, 1))
        services.earn(member, 100, key="e2", reason="r", expires_at=services.NEVER)
        spent = services.spend(member, 150, key="s1", reason="r")
    assert services.expire_due(now=at(2026, 2, 1)) == 0  # the expiring lot was spent

    with clock(at(2026, 2, 10)):
        services.reverse(spent, key="cancel-1", reason="r")

    assert keyed_entries(member)[-2:] == [("cancel-1", "reverse", 150, 200),
                                          ("cancel-1#expire", "expire", -100, 100)]
    assert lots(member) == [(100, 0), (100, 100)]
    assert totals(member) == {"available": 100, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 200, "lifetime_spent": 0, "lifetime_expired": 100}
    assert services.expire_due(now=at(2026, 2, 10)) == 0
    assert ledger_invariants() == []


def test_reversing_a_capture_returns_the_points_to_their_lots(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 6, 1))
        services.earn(member, 50, key="e2", reason="r", expires_at=services.NEVER)
        hold = services.hold(member, 120, key="h1")
        captured = services.capture(hold, key="c1", points=110)
        services.reverse(captured, key="cancel-1", reason="r")

    assert lots(member) == [(100, 100), (50, 50)]
    assert entries(member)[-3:] == [("capture", -110, 40), ("release", 0, 40), ("reverse", 110, 150)]
    assert totals(member) == {"available": 150, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 0, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_reversing_adjustments(member, staff, ledger_invariants):
    with clock(T0):
        credit = services.adjust(member, 80, key="a1", reason="Goodwill", staff=staff)
        debit = services.adjust(member, -30, key="a2", reason="Correction", staff=staff)
        services.reverse(debit, key="r1", reason="r")
        services.reverse(credit, key="r2", reason="r")

    assert entries(member) == [("adjust", 80, 80), ("adjust", -30, 50), ("reverse", 30, 80),
                               ("reverse", -80, 0)]
    assert lots(member) == [(80, 0)]
    assert totals(member)["available"] == 0
    assert ledger_invariants() == []


@pytest.mark.parametrize("kind", ["hold", "release", "reverse", "expire", "activate"])
def test_only_earnings_and_spendings_are_reversible(member, ledger_invariants, kind):
    with clock(T0):
        earned = services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 2, 1))
        services.earn(member, 10, key="e2", reason="r", available_at=T0 + timedelta(days=1))
        hold = services.hold(member, 10, key="h1")
        services.release(hold, key="rel1")
        services.reverse(earned, 5, key="rev1", reason="r")
    services.activate_due(now=T0 + timedelta(days=1))
    services.expire_due(now=at(2026, 2, 1))
    target = Entry.objects.get(account__member=member, kind=kind)
    before = snapshot(member)

    with clock(T0), pytest.raises(NotReversible):
        services.reverse(target, key="x", reason="r")

    assert snapshot(member) == before
    assert ledger_invariants() == []
