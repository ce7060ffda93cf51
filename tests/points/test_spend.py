import pytest

from points import services
from points.errors import InsufficientPoints
from points.models import Entry, Refusal
from tests.points.ledger import T0, allocations, at, clock, entries, lot_of, lots, snapshot, totals


def test_spend_debits_available_points(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r")
        entry = services.spend(member, 30, key="s1", reason="Coupon", reference="redemption-7")

    entry = Entry.objects.get(pk=entry.pk)
    assert (entry.kind, entry.delta, entry.balance_after) == ("spend", -30, 70)
    assert (entry.reason, entry.reference) == ("Coupon", "redemption-7")
    assert lots(member) == [(100, 70)]
    assert totals(member) == {"available": 70, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 100, "lifetime_spent": 30, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_spend_takes_the_soonest_expiring_lot_first_whatever_its_age(member, ledger_invariants):
    with clock(at(2025, 3, 1)):
        old_late = services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 12, 1))
    with clock(at(2025, 6, 1)):
        never = services.earn(member, 50, key="e2", reason="r", expires_at=services.NEVER)
    with clock(at(2025, 9, 1)):
        new_soon = services.earn(member, 80, key="e3", reason="r", expires_at=at(2026, 6, 1))
    with clock(T0):
        first = services.spend(member, 150, key="s1", reason="r")

    # The newest lot expires soonest, so it goes first; the never-expiring lot is untouched.
    assert lots(member) == [(100, 30), (50, 50), (80, 0)]
    assert allocations(first) == [(lot_of(old_late).pk, 70), (lot_of(new_soon).pk, 80)]

    with clock(T0):
        second = services.spend(member, 60, key="s2", reason="r")

    assert lots(member) == [(100, 0), (50, 20), (80, 0)]
    assert allocations(second) == [(lot_of(old_late).pk, 30), (lot_of(never).pk, 30)]
    assert entries(member) == [("earn", 100, 100), ("earn", 50, 150), ("earn", 80, 230),
                               ("spend", -150, 80), ("spend", -60, 20)]
    assert totals(member)["available"] == 20
    assert totals(member)["lifetime_spent"] == 210
    assert ledger_invariants() == []


def test_lots_with_the_same_expiry_are_spent_oldest_first(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 40, key="e1", reason="r", expires_at=at(2026, 6, 1))
        services.earn(member, 40, key="e2", reason="r", expires_at=at(2026, 6, 1))
        services.earn(member, 40, key="e3", reason="r", expires_at=at(2026, 6, 1))
        services.spend(member, 50, key="s1", reason="r")

    assert lots(member) == [(40, 0), (40, 30), (40, 40)]
    assert ledger_invariants() == []


def test_never_expiring_lots_are_spent_last(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 40, key="e1", reason="r", expires_at=services.NEVER)
        services.earn(member, 40, key="e2", reason="r", expires_at=at(2030, 1, 1))
        services.earn(member, 40, key="e3", reason="r", expires_at=services.NEVER)
        services.spend(member, 60, key="s1", reason="r")

    assert lots(member) == [(40, 20), (40, 0), (40, 40)]
    assert ledger_invariants() == []


def test_spend_of_everything_leaves_zero(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 25, key="e1", reason="r")
        services.earn(member, 75, key="e2", reason="r")
        services.spend(member, 100, key="s1", reason="r")

    assert lots(member) == [(25, 0), (75, 0)]
    assert entries(member)[-1] == ("spend", -100, 0)
    assert totals(member)["available"] == 0
    assert ledger_invariants() == []


def test_spend_more_than_available_is_refused_and_changes_nothing(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r")
        services.spend(member, 60, key="s1", reason="r")
    before = snapshot(member)

    with clock(T0), pytest.raises(InsufficientPoints) as refused:
        services.spend(member, 41, key="s2", reason="r")

    assert refused.value.code == "insufficient_points"
    assert refused.value.message == "41 points needed, 40 available."
    counts, holds, [(after_totals, after_entries, after_lots)] = snapshot(member)
    assert (after_totals, after_entries, after_lots) == before[2][0]
    assert totals(member)["available"] == 40
    # The only new row is the recorded refusal.
    assert counts == {**before[0], "Refusal": before[0]["Refusal"] + 1}
    refusal = Refusal.objects.get(key="s2")
    assert refusal.code == "insufficient_points"
    assert ledger_invariants() == []


def test_pending_and_held_points_are_not_spendable(member, ledger_invariants):
    from datetime import timedelta

    with clock(T0):
        services.earn(member, 50, key="e1", reason="r")
        services.earn(member, 100, key="e2", reason="r", available_at=T0 + timedelta(days=3))
        services.hold(member, 30, key="h1")
    before = snapshot(member)

    with clock(T0), pytest.raises(InsufficientPoints):
        services.spend(member, 21, key="s1", reason="r")

    assert snapshot(member)[2] == before[2]
    assert totals(member) == {"available": 20, "pending": 100, "held": 30, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 0, "lifetime_expired": 0}
    with clock(T0):
        services.spend(member, 20, key="s2", reason="r")
    assert totals(member)["available"] == 0
    assert ledger_invariants() == []


def test_spend_without_an_account_is_refused(member, ledger_invariants):
    with clock(T0), pytest.raises(InsufficientPoints):
        services.spend(member, 1, key="s1", reason="r")

    assert totals(member)["available"] == 0
    assert entries(member) == []
    assert ledger_invariants() == []
