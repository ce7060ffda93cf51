import pytest

from points import services
from points.errors import InsufficientPoints, InvalidArgument
from points.models import Entry
from tests.points.ledger import T0, at, clock, entries, lot_of, lots, row_counts, snapshot, totals


def test_adjust_credit_creates_a_lot_and_records_the_staff_user(member, staff, ledger_invariants):
    with clock(T0):
        entry = services.adjust(member, 40, key="adj-1", reason="Goodwill for late delivery", staff=staff)

    entry = Entry.objects.get(pk=entry.pk)
    assert (entry.kind, entry.delta, entry.balance_after) == ("adjust", 40, 40)
    assert (entry.staff_id, entry.reason) == (staff.pk, "Goodwill for late delivery")
    lot = lot_of(entry)
    assert (lot.amount, lot.remaining, lot.pending, lot.expires_at) == (40, 40, False, at(2027, 2, 1))
    assert totals(member) == {"available": 40, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 40, "lifetime_spent": 0, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_adjust_debit_takes_from_the_soonest_expiring_lots(member, staff, ledger_invariants):
    with clock(T0):
        services.earn(member, 50, key="e1", reason="r", expires_at=services.NEVER)
        services.earn(member, 50, key="e2", reason="r", expires_at=at(2026, 6, 1))
        entry = services.adjust(member, -70, key="adj-1", reason="Duplicate credit", staff=staff)

    entry = Entry.objects.get(pk=entry.pk)
    assert (entry.kind, entry.delta, entry.balance_after, entry.staff_id) == ("adjust", -70, 30, staff.pk)
    assert lots(member) == [(50, 30), (50, 0)]
    assert totals(member) == {"available": 30, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 100, "lifetime_spent": 70, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_adjust_debit_beyond_available_is_refused(member, staff, ledger_invariants):
    with clock(T0):
        services.earn(member, 50, key="e1", reason="r")
    before = snapshot(member)

    with clock(T0), pytest.raises(InsufficientPoints):
        services.adjust(member, -51, key="adj-1", reason="r", staff=staff)

    counts, holds, states = snapshot(member)
    assert states == before[2]
    assert counts == {**before[0], "Refusal": before[0]["Refusal"] + 1}
    assert ledger_invariants() == []


@pytest.mark.parametrize("who", ["nobody", "member"])
@pytest.mark.parametrize("delta", [25, -25])
def test_adjust_without_a_staff_user_is_refused(member, ledger_invariants, who, delta):
    with clock(T0):
        services.earn(member, 50, key="e1", reason="r")
    before = snapshot(member)
    staff = None if who == "nobody" else member

    with clock(T0), pytest.raises(InvalidArgument):
        services.adjust(member, delta, key="adj-1", reason="r", staff=staff)

    assert snapshot(member) == before
    assert entries(member) == [("earn", 50, 50)]
    assert ledger_invariants() == []


def test_adjust_without_a_reason_is_refused(member, staff):
    before = row_counts()
    for reason in ("", "   ", None):
        with clock(T0), pytest.raises(InvalidArgument):
            services.adjust(member, 10, key="adj-1", reason=reason, staff=staff)
    assert row_counts() == before
