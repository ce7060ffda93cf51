from datetime import date, timedelta

from points import services
from points.selectors import Balance, balance, recent_entries
from tests.points.ledger import T0, at, clock


def test_balance_without_an_account_is_zero(member):
    assert balance(member) == Balance()


def test_balance_reports_every_total_and_points_expiring_per_month(member, staff, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 2, 1))   # Jan 31
        services.earn(member, 30, key="e2", reason="r", expires_at=at(2026, 1, 20))   # Jan 19
        services.earn(member, 40, key="e3", reason="r", expires_at=at(2026, 3, 15))   # Mar 14
        services.earn(member, 25, key="e4", reason="r", expires_at=services.NEVER)
        services.earn(member, 60, key="e5", reason="r", expires_at=at(2026, 4, 1),
                      available_at=T0 + timedelta(days=3))
        services.earn(member, 70, key="e6", reason="r", expires_at=at(2028, 1, 1))    # past the horizon
        services.spend(member, 50, key="s1", reason="r")  # 30 of e2, 20 of e1
        services.hold(member, 10, key="h1")  # 10 of e1, not counted as expiring

    result = balance(member, now=T0)

    assert result == Balance(
        available=205, pending=60, held=10, debt=0,
        lifetime_earned=325, lifetime_spent=50, lifetime_expired=0,
        expiring=[(date(2026, 1, 31), 70), (date(2026, 3, 31), 100)],
    )
    assert ledger_invariants() == []


def test_balance_counts_a_month_end_expiry_in_the_month_before(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 10, key="e1", reason="r")  # expires 2027-02-01: last valid 2027-01-31
        services.earn(member, 5, key="e2", reason="r", expires_at=at(2026, 12, 31, 23, 59))

    assert balance(member, now=T0).expiring == [(date(2026, 12, 31), 5), (date(2027, 1, 31), 10)]
    assert balance(member, now=T0, months=3).expiring == []
    assert balance(member, now=at(2027, 1, 31, 23)).expiring == [(date(2027, 1, 31), 10)]
    assert ledger_invariants() == []


def test_balance_reports_debt(member, ledger_invariants):
    with clock(T0):
        earned = services.earn(member, 50, key="e1", reason="r")
        services.spend(member, 40, key="s1", reason="r")
        services.reverse(earned, key="r1", reason="r")

    result = balance(member, now=T0)
    assert (result.available, result.debt, result.expiring) == (0, 40, [])
    assert ledger_invariants() == []


def test_recent_entries_newest_first(member, ledger_invariants):
    with clock(T0):
        for i in range(5):
            services.earn(member, i + 1, key=f"e{i}", reason="r")

    assert [e.key for e in recent_entries(member, limit=3)] == ["e4", "e3", "e2"]
    assert [e.delta for e in recent_entries(member)] == [5, 4, 3, 2, 1]
    assert ledger_invariants() == []
