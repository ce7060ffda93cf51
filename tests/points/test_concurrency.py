"""Real threads on real PostgreSQL: row locks and the unique key keep the ledger exact."""

import pytest

from points import services
from points.errors import InsufficientPoints
from points.models import Entry, Lot, Refusal
from tests.factories import MemberFactory
from tests.points.ledger import totals
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)



def test_concurrent_spends_never_overdraw(ledger_invariants):
    member = MemberFactory()
    services.earn(member, 150, key="seed", reason="r")

    results = run_together(20, lambda i: services.spend(member, 10, key=f"spend-{i}", reason="r"))

    spent = [r for r in results if isinstance(r, Entry)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert (len(spent), len(refused)) == (15, 5), results
    assert sorted(e.balance_after for e in spent) == list(range(0, 150, 10))
    assert totals(member) == {"available": 0, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 150, "lifetime_expired": 0}
    assert Entry.objects.filter(kind="spend").count() == 15
    assert Refusal.objects.count() == 5
    assert min(Entry.objects.values_list("balance_after", flat=True)) == 0
    assert list(Lot.objects.values_list("amount", "remaining")) == [(150, 0)]
    assert ledger_invariants() == []


def test_concurrent_holds_and_spends_never_overdraw(ledger_invariants):
    member = MemberFactory()
    services.earn(member, 100, key="seed", reason="r")

    def call(i):
        if i % 2:
            return services.hold(member, 20, key=f"hold-{i}")
        return services.spend(member, 20, key=f"spend-{i}", reason="r")

    results = run_together(10, call)

    done = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert (len(done), len(refused)) == (5, 5), results
    account = totals(member)
    assert account["available"] == 0
    assert account["held"] + account["lifetime_spent"] == 100
    assert ledger_invariants() == []


def test_concurrent_duplicate_earns_post_once(ledger_invariants):
    member = MemberFactory()  # no account yet: the threads also race to create it

    results = run_together(10, lambda i: services.earn(member, 100, key="order-1", reason="r"))

    assert all(isinstance(r, Entry) for r in results), results
    ids = {r.pk for r in results}
    assert len(ids) == 1
    assert Entry.objects.get().pk == ids.pop()
    assert list(Lot.objects.values_list("amount", "remaining")) == [(100, 100)]
    assert totals(member)["available"] == 100
    assert totals(member)["lifetime_earned"] == 100
    assert ledger_invariants() == []


def test_concurrent_duplicate_spends_post_once(ledger_invariants):
    member = MemberFactory()
    services.earn(member, 100, key="seed", reason="r")

    results = run_together(10, lambda i: services.spend(member, 30, key="redemption-1", reason="r"))

    assert all(isinstance(r, Entry) for r in results), results
    ids = {r.pk for r in results}
    assert len(ids) == 1
    assert Entry.objects.get(kind="spend").pk == ids.pop()
    assert totals(member)["available"] == 70
    assert totals(member)["lifetime_spent"] == 30
    assert Refusal.objects.count() == 0
    assert ledger_invariants() == []


def test_concurrent_duplicate_refused_spends_are_refused_once(ledger_invariants):
    member = MemberFactory()
    services.earn(member, 10, key="seed", reason="r")

    results = run_together(10, lambda i: services.spend(member, 30, key="redemption-1", reason="r"))

    assert all(isinstance(r, InsufficientPoints) for r in results), results
    assert Refusal.objects.filter(key="redemption-1").count() == 1
    assert totals(member)["available"] == 10
    assert ledger_invariants() == []


def test_concurrent_capture_and_release_resolve_a_hold_once(ledger_invariants):
    member = MemberFactory()
    services.earn(member, 100, key="seed", reason="r")
    hold = services.hold(member, 60, key="h1")

    def call(i):
        if i % 2:
            return services.capture(hold, key=f"capture-{i}")
        return services.release(hold, key=f"release-{i}")

    results = run_together(10, call)

    resolved = [r for r in results if isinstance(r, Entry)]
    assert len(resolved) == 1, results
    assert sum(type(r).__name__ == "HoldNotOpen" for r in results) == 9
    account = totals(member)
    assert account["held"] == 0
    assert account["available"] == (40 if resolved[0].kind == "capture" else 100)
    assert ledger_invariants() == []
