from points import services
from points.selectors import balance


def test_earn_then_balance(member, ledger_invariants):
    services.earn(member, 10, key="k1", reason="r")
    assert balance(member).available == 10
    assert ledger_invariants() == []
