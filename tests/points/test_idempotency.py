from datetime import timedelta

import pytest

from points import services
from points.errors import IdempotencyConflict, InsufficientPoints
from points.models import Refusal
from tests.points.ledger import T0, at, clock, entries, snapshot, totals


@pytest.fixture
def funded(member):
    with clock(T0):
        services.earn(member, 100, key="seed", reason="r")
    return member


def test_earn_replay_returns_the_same_entry_and_changes_nothing(member, ledger_invariants):
    with clock(T0):
        first = services.earn(member, 50, key="order-1", reason="Order 1", reference="order-1")
    before = snapshot(member)

    with clock(T0 + timedelta(hours=1)):
        again = services.earn(member, 50, key="order-1", reason="Order 1", reference="order-1")
        # The reason is human text, not part of what makes a call "the same".
        reworded = services.earn(member, 50, key="order-1", reason="Order #1", reference="order-1")

    assert again.pk == first.pk
    assert reworded.pk == first.pk
    assert (again.kind, again.delta, again.balance_after) == ("earn", 50, 50)
    assert snapshot(member) == before
    assert totals(member)["available"] == 50
    assert ledger_invariants() == []


def test_earn_replay_with_an_explicit_expiry(member, ledger_invariants):
    with clock(T0):
        first = services.earn(member, 50, key="e1", reason="r", expires_at=at(2026, 6, 1),
                              available_at=T0 + timedelta(days=1))
    before = snapshot(member)
    with clock(T0 + timedelta(days=2)):
        again = services.earn(member, 50, key="e1", reason="r", expires_at=at(2026, 6, 1),
                              available_at=T0 + timedelta(days=1))
    assert again.pk == first.pk
    assert snapshot(member) == before
    assert ledger_invariants() == []


def test_spend_replay_returns_the_same_entry(funded, ledger_invariants):
    with clock(T0):
        first = services.spend(funded, 30, key="s1", reason="r", reference="redemption-1")
    before = snapshot(funded)

    with clock(T0):
        again = services.spend(funded, 30, key="s1", reason="r", reference="redemption-1")

    assert again.pk == first.pk
    assert (again.kind, again.delta, again.balance_after) == ("spend", -30, 70)
    assert snapshot(funded) == before
    assert totals(funded)["available"] == 70
    assert ledger_invariants() == []


def test_spend_replay_when_the_balance_no_longer_suffices(funded, ledger_invariants):
    with clock(T0):
        first = services.spend(funded, 80, key="s1", reason="r")
    before = snapshot(funded)

    with clock(T0):
        again = services.spend(funded, 80, key="s1", reason="r")

    assert again.pk == first.pk
    assert snapshot(funded) == before  # no refusal recorded either
    assert ledger_invariants() == []


def test_hold_replay_returns_the_same_hold(funded, ledger_invariants):
    with clock(T0):
        first = services.hold(funded, 60, key="h1", reference="checkout-1")
    before = snapshot(funded)

    with clock(T0):
        again = services.hold(funded, 60, key="h1", reference="checkout-1")
        services.capture(first, key="c1")
        after_capture = snapshot(funded)
        # After the capture the balance would no longer allow it: still a replay.
        later = services.hold(funded, 60, key="h1", reference="checkout-1")

    assert again.pk == first.pk
    assert later.pk == first.pk
    assert later.status == "captured"
    assert before[2][0][0]["held"] == 60
    assert snapshot(funded) == after_capture
    assert ledger_invariants() == []


def test_capture_and_release_replay(funded, ledger_invariants):
    with clock(T0):
        h1 = services.hold(funded, 30, key="h1")
        h2 = services.hold(funded, 30, key="h2")
        captured = services.capture(h1, key="c1", points=20)
        released = services.release(h2, key="r2")
    before = snapshot(funded)

    with clock(T0):
        assert services.capture(h1, key="c1", points=20).pk == captured.pk
        assert services.release(h2, key="r2").pk == released.pk

    assert snapshot(funded) == before
    assert totals(funded)["available"] == 80
    assert ledger_invariants() == []


def test_reverse_and_adjust_replay(funded, staff, ledger_invariants):
    with clock(T0):
        earned = services.earn(funded, 40, key="e1", reason="r")
        reversed_ = services.reverse(earned, key="rev1", reason="r")
        adjusted = services.adjust(funded, -10, key="adj1", reason="r", staff=staff)
    before = snapshot(funded)

    with clock(T0):
        # The earning is fully reversed now, yet the retry replays rather than refuses.
        assert services.reverse(earned, key="rev1", reason="r").pk == reversed_.pk
        assert services.adjust(funded, -10, key="adj1", reason="r", staff=staff).pk == adjusted.pk

    assert snapshot(funded) == before
    assert ledger_invariants() == []


@pytest.mark.parametrize("operation", ["spend", "hold", "adjust"])
def test_a_refusal_is_replayed_even_when_the_balance_would_now_suffice(
    member, staff, ledger_invariants, operation
):
    def attempt():
        if operation == "spend":
            return services.spend(member, 80, key="k1", reason="r")
        if operation == "hold":
            return services.hold(member, 80, key="k1")
        return services.adjust(member, -80, key="k1", reason="r", staff=staff)

    with clock(T0):
        services.earn(member, 50, key="e1", reason="r")
        with pytest.raises(InsufficientPoints) as first:
            attempt()
        services.earn(member, 50, key="e2", reason="r")
    before = snapshot(member)
    assert totals(member)["available"] == 100

    with clock(T0), pytest.raises(InsufficientPoints) as again:
        attempt()

    assert again.value.message == first.value.message == "80 points needed, 50 available."
    assert snapshot(member) == before
    assert Refusal.objects.filter(key="k1").count() == 1
    assert entries(member) == [("earn", 50, 50), ("earn", 50, 100)]
    assert ledger_invariants() == []


@pytest.mark.parametrize(
    "other_call",
    [
        lambda m: services.earn(m, 51, key="k1", reason="r", reference="order-1"),
        lambda m: services.earn(m, 50, key="k1", reason="r", reference="order-2"),
        lambda m: services.earn(m, 50, key="k1", reason="r", reference="order-1",
                                expires_at=services.NEVER),
        lambda m: services.earn(m, 50, key="k1", reason="r", reference="order-1",
                                available_at=T0 + timedelta(days=1)),
        lambda m: services.spend(m, 50, key="k1", reason="r", reference="order-1"),
        lambda m: services.spend(m, 1000, key="k1", reason="r"),
        lambda m: services.hold(m, 10, key="k1"),
    ],
    ids=["earn-points", "earn-reference", "earn-expiry", "earn-available-at", "spend", "spend-refused",
         "hold"],
)
def test_same_key_other_arguments_is_a_conflict(member, ledger_invariants, other_call):
    with clock(T0):
        services.earn(member, 50, key="k1", reason="r", reference="order-1")
    before = snapshot(member)

    with clock(T0), pytest.raises(IdempotencyConflict):
        other_call(member)

    assert snapshot(member) == before
    assert ledger_invariants() == []


def test_spend_key_reused_with_other_points_is_a_conflict(funded, ledger_invariants):
    with clock(T0):
        services.spend(funded, 10, key="s1", reason="r")
    before = snapshot(funded)

    with clock(T0), pytest.raises(IdempotencyConflict):
        services.spend(funded, 11, key="s1", reason="r")

    assert snapshot(funded) == before
    assert ledger_invariants() == []


def test_refused_key_reused_with_other_arguments_is_a_conflict(member, ledger_invariants):
    with clock(T0), pytest.raises(InsufficientPoints):
        services.spend(member, 10, key="k1", reason="r")
    before = snapshot(member)

    for other in (lambda: services.spend(member, 5, key="k1", reason="r"),
                  lambda: services.earn(member, 10, key="k1", reason="r")):
        with clock(T0), pytest.raises(IdempotencyConflict):
            other()
        assert snapshot(member) == before
    assert ledger_invariants() == []


def test_capture_key_reused_for_another_hold_is_a_conflict(funded, ledger_invariants):
    with clock(T0):
        h1 = services.hold(funded, 10, key="h1")
        h2 = services.hold(funded, 10, key="h2")
        services.capture(h1, key="c1")
    before = snapshot(funded)

    with clock(T0), pytest.raises(IdempotencyConflict):
        services.capture(h2, key="c1")
    with clock(T0), pytest.raises(IdempotencyConflict):
        services.capture(h1, key="c1", points=5)

    assert snapshot(funded) == before
    assert ledger_invariants() == []


def test_keys_are_per_account(member, ledger_invariants):
    """A key is unique per account (the ledger is partitioned by account, and a unique key must
    contain the partition key): the same key on another member's posting is another posting,
    while a retry on either member still replays its own, and other arguments still conflict."""
    from tests.factories import MemberFactory
    from tests.points.ledger import totals

    other = MemberFactory()
    with clock(T0):
        first = services.earn(member, 10, key="k1", reason="r")
        theirs = services.earn(other, 25, key="k1", reason="r")
    assert theirs.pk != first.pk
    assert (first.account_id, theirs.account_id) == (member.pk, other.pk)
    assert (totals(member)["available"], totals(other)["available"]) == (10, 25)
    before = snapshot(member, other)

    with clock(T0):
        assert services.earn(member, 10, key="k1", reason="r").pk == first.pk
        assert services.earn(other, 25, key="k1", reason="r").pk == theirs.pk
    with clock(T0), pytest.raises(IdempotencyConflict):
        services.earn(other, 10, key="k1", reason="r")
    assert snapshot(member, other) == before

    # A refusal is kept per account too: refused for one member, the key still posts for another.
    with clock(T0), pytest.raises(InsufficientPoints):
        services.spend(other, 1000, key="k2", reason="r")
    with clock(T0):
        services.spend(member, 5, key="k2", reason="r")
    with clock(T0), pytest.raises(InsufficientPoints):
        services.spend(other, 1000, key="k2", reason="r")
    assert (totals(member)["available"], totals(other)["available"]) == (5, 25)
    assert ledger_invariants() == []
