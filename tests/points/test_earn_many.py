"""earn_many: a batch of earnings posts exactly what the same earn calls would, set-based."""

from datetime import timedelta

import pytest

from points import services
from points.errors import IdempotencyConflict, InvalidAmount, InvalidArgument
from points.models import Entry, Lot
from points.services import Credit, earn_many
from tests.factories import MemberFactory
from tests.points.ledger import T0, clock, entries, lots, snapshot, totals

pytestmark = pytest.mark.django_db


def credits(a, b):
    return [Credit(a.pk, 150, key="r:direct", reason="direct", reference="o-1"),
            Credit(a.pk, 100, key="r:team", reason="team", reference="o-1"),
            Credit(b.pk, 50, key="r:same", reason="same level", reference="o-1", explanation={"x": 1})]


@pytest.fixture
def two():
    a, b = MemberFactory(), MemberFactory()
    with clock(T0 - timedelta(days=1)):
        services.earn(a, 10, key="seed-a", reason="seed")
        services.earn(b, 20, key="seed-b", reason="seed")
    return a, b


def test_fast_path_posts_what_earn_would(two, ledger_invariants):
    a, b = two
    with clock(T0):
        posted = earn_many(credits(a, b), available_at=T0 + timedelta(days=7), expires_at=services.NEVER)
    assert [e.delta for e in posted] == [150, 100, 50]
    assert entries(a) == [("earn", 10, 10), ("earn", 150, 160), ("earn", 100, 260)]
    assert entries(b) == [("earn", 20, 20), ("earn", 50, 70)]
    assert totals(a)["pending"] == 250 and totals(a)["lifetime_earned"] == 260
    lot = Lot.objects.get(entry_id=posted[2].pk)
    assert (lot.pending, lot.available_at, lot.expires_at) == (True, T0 + timedelta(days=7), None)
    stored = Entry.objects.get(pk=posted[2].pk)
    assert (stored.key, stored.reference, stored.explanation, stored.fingerprint) == (
        "r:same", "o-1", {"x": 1}, posted[2].fingerprint)
    assert ledger_invariants() == []


def test_a_retry_replays_and_other_arguments_conflict(two):
    a, b = two
    with clock(T0):
        first = earn_many(credits(a, b), available_at=T0 + timedelta(days=7))
        before = snapshot(a, b)
        again = earn_many(credits(a, b), available_at=T0 + timedelta(days=7))
        assert [e.pk for e in again] == [e.pk for e in first]
        assert snapshot(a, b) == before
        changed = credits(a, b)
        changed[0] = Credit(a.pk, 151, key="r:direct", reason="direct", reference="o-1")
        with pytest.raises(IdempotencyConflict):
            earn_many(changed, available_at=T0 + timedelta(days=7))
        assert snapshot(a, b) == before


def test_same_fingerprint_as_earn_so_either_replays_the_other(two):
    a, b = two
    with clock(T0):
        single = services.earn(a, 150, key="r:direct", reason="direct", reference="o-1",
                               available_at=T0 + timedelta(days=7))
        batch = earn_many(credits(a, b), available_at=T0 + timedelta(days=7))
    assert batch[0].pk == single.pk
    assert [e[1] for e in entries(a)] == [10, 150, 100]


def test_new_accounts_and_debt_fall_back_to_earn(ledger_invariants):
    fresh, indebted = MemberFactory(), MemberFactory()
    with clock(T0 - timedelta(days=1)):
        first = services.earn(indebted, 30, key="seed", reason="seed")
        services.spend(indebted, 30, key="spent", reason="spent")
        services.reverse(first, key="rev", reason="rev")  # 30 of debt
    with clock(T0):
        earn_many([Credit(fresh.pk, 40, key="k1", reason="r"), Credit(indebted.pk, 50, key="k2", reason="r")])
    assert totals(fresh)["available"] == 40
    assert (totals(indebted)["available"], totals(indebted)["debt"]) == (20, 0)
    assert lots(fresh) == [(40, 40)]
    assert ledger_invariants() == []


def test_refusals_before_anything_is_written(two):
    a, b = two
    before = snapshot(a, b)
    with pytest.raises(InvalidAmount):
        earn_many([Credit(a.pk, 5, key="ok", reason="r"), Credit(b.pk, 0, key="zero", reason="r")])
    with pytest.raises(InvalidArgument):
        earn_many([Credit(a.pk, 5, key="same", reason="r"), Credit(b.pk, 5, key="same", reason="r")])
    assert snapshot(a, b) == before
    assert earn_many([]) == []


def test_without_a_savepoint_for_locked_clean_accounts(two, ledger_invariants):
    from points.services.lock_objects import lock_accounts_of_members

    a, b = two
    fresh = MemberFactory()
    with clock(T0):
        assert lock_accounts_of_members([a.pk, b.pk, fresh.pk]) == {a.pk, b.pk}
        posted = earn_many(credits(a, b), locked_clean_new=True)
        assert [e.delta for e in posted] == [150, 100, 50]
        with pytest.raises(RuntimeError):  # a promise broken: the caller's transaction is aborted
            earn_many([Credit(fresh.pk, 5, key="new-account", reason="r")], locked_clean_new=True)
