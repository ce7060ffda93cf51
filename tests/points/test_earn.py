from datetime import timedelta

import pytest

from points import services
from points.models import Entry, EntryKind, Lot
from tests.points.ledger import T0, at, clock, entries, lot_of, lots, totals


def test_earn_credits_an_available_lot_with_the_default_expiry(member, ledger_invariants):
    with clock(T0):
        entry = services.earn(member, 120, key="order-1:earn", reason="Order 1", reference="order-1",
                              rule_version="v3", explanation={"rule": "base", "rate": 1})

    entry = Entry.objects.get(pk=entry.pk)
    assert (entry.kind, entry.delta, entry.balance_after) == (EntryKind.EARN, 120, 120)
    assert (entry.key, entry.reason, entry.reference) == ("order-1:earn", "Order 1", "order-1")
    assert entry.rule_version == "v3"
    assert entry.explanation == {"rule": "base", "rate": 1}
    assert entry.staff_id is None
    assert entry.created_at == T0
    lot = lot_of(entry)
    assert (lot.amount, lot.remaining, lot.pending) == (120, 120, False)
    assert lot.available_at == T0
    # Earned in January 2026: usable through 2027-01-31, gone at 2027-02-01 00:00 local time.
    assert lot.expires_at == at(2027, 2, 1)
    assert totals(member) == {"available": 120, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 120, "lifetime_spent": 0, "lifetime_expired": 0}
    assert ledger_invariants() == []


@pytest.mark.parametrize(
    ("earned_at", "expires_at"),
    [
        (at(2026, 11, 22, 15), at(2027, 12, 1)),
        (at(2026, 12, 31, 23, 59), at(2028, 1, 1)),
        (at(2026, 1, 1, 0, 0), at(2027, 2, 1)),
        (at(2024, 2, 29, 12), at(2025, 3, 1)),
    ],
)
def test_default_expiry_is_the_end_of_the_month_twelve_months_later(member, ledger_invariants,
                                                                   earned_at, expires_at):
    with clock(earned_at):
        entry = services.earn(member, 10, key="e", reason="r")

    assert lot_of(entry).expires_at == expires_at
    assert ledger_invariants() == []


def test_explicit_expiry_and_never(member, ledger_invariants):
    with clock(T0):
        dated = services.earn(member, 30, key="e1", reason="r", expires_at=at(2026, 3, 1))
        never = services.earn(member, 70, key="e2", reason="r", expires_at=services.NEVER)

    assert lot_of(dated).expires_at == at(2026, 3, 1)
    assert lot_of(never).expires_at is None
    assert entries(member) == [("earn", 30, 30), ("earn", 70, 100)]
    assert totals(member)["available"] == 100
    assert ledger_invariants() == []


def test_earn_with_a_future_available_at_is_pending(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 50, key="e1", reason="r")
        entry = services.earn(member, 80, key="e2", reason="r", available_at=T0 + timedelta(days=7))

    lot = lot_of(entry)
    assert (lot.amount, lot.remaining, lot.pending) == (80, 80, True)
    assert lot.available_at == T0 + timedelta(days=7)
    # Pending points count in the member's total, so the entry's balance includes them.
    assert entries(member) == [("earn", 50, 50), ("earn", 80, 130)]
    assert totals(member) == {"available": 50, "pending": 80, "held": 0, "debt": 0,
                              "lifetime_earned": 130, "lifetime_spent": 0, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_earn_with_available_at_in_the_past_is_available_at_once(member, ledger_invariants):
    with clock(T0):
        entry = services.earn(member, 40, key="e", reason="r", available_at=T0 - timedelta(hours=1))

    lot = lot_of(entry)
    assert (lot.remaining, lot.pending, lot.available_at) == (40, False, T0 - timedelta(hours=1))
    assert totals(member)["available"] == 40
    assert totals(member)["pending"] == 0
    assert ledger_invariants() == []


def test_earnings_accumulate_in_separate_lots(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 10, key="e1", reason="r")
        services.earn(member, 20, key="e2", reason="r")
        services.earn(member, 30, key="e3", reason="r")

    assert entries(member) == [("earn", 10, 10), ("earn", 20, 30), ("earn", 30, 60)]
    assert lots(member) == [(10, 10), (20, 20), (30, 30)]
    assert totals(member)["lifetime_earned"] == 60
    assert Lot.objects.filter(account__member=member).count() == 3
    assert ledger_invariants() == []


def test_earn_creates_the_account_on_first_use(member, ledger_invariants):
    from points.models import Account

    assert not Account.objects.filter(member=member).exists()
    with clock(T0):
        services.earn(member, 5, key="e", reason="r")

    assert Account.objects.filter(member=member).count() == 1
    assert ledger_invariants() == []


def test_earn_accepts_the_maximum_amount(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 10**9, key="e", reason="r")

    assert totals(member)["available"] == 10**9
    assert entries(member) == [("earn", 10**9, 10**9)]
    assert ledger_invariants() == []
