from datetime import timedelta

import pytest

from points import services
from points.errors import HoldNotOpen, InsufficientPoints, InvalidAmount
from points.models import Entry, Hold, HoldStatus
from tests.points.ledger import T0, at, clock, keyed_entries, lots, snapshot, totals

SOON = at(2026, 2, 1)  # the first lot's expiry


@pytest.fixture
def funded(member):
    """100 points expiring 2026-02-01 and 50 that never expire, then a hold of 120 at T0."""
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=SOON)
        services.earn(member, 50, key="e2", reason="r", expires_at=services.NEVER)
        return services.hold(member, 120, key="h1", reference="checkout-9")


def test_hold_reserves_points_from_the_soonest_expiring_lots(member, funded, ledger_invariants):
    hold = Hold.objects.get(pk=funded.pk)
    assert (hold.amount, hold.captured, hold.status, hold.reference) == (120, 0, "held", "checkout-9")
    assert hold.expires_at == T0 + timedelta(minutes=30)  # the default ttl
    assert hold.resolved_at is None
    assert lots(member) == [(100, 0), (50, 30)]
    assert keyed_entries(member)[-1] == ("h1", "hold", 0, 150)
    assert Entry.objects.get(key="h1").hold_id == hold.pk
    assert totals(member) == {"available": 30, "pending": 0, "held": 120, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 0, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_hold_with_a_ttl(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 10, key="e1", reason="r")
        hold = services.hold(member, 10, key="h1", ttl=timedelta(hours=2))

    assert Hold.objects.get(pk=hold.pk).expires_at == T0 + timedelta(hours=2)
    assert ledger_invariants() == []


def test_hold_more_than_available_is_refused(member, funded, ledger_invariants):
    before = snapshot(member)

    with clock(T0), pytest.raises(InsufficientPoints):
        services.hold(member, 31, key="h2")

    counts, holds, states = snapshot(member)
    assert (holds, states) == before[1:]
    assert counts == {**before[0], "Refusal": before[0]["Refusal"] + 1}
    assert ledger_invariants() == []


def test_full_capture(member, funded, ledger_invariants):
    with clock(T0 + timedelta(minutes=5)):
        entry = services.capture(funded, key="c1")

    assert (entry.kind, entry.delta, entry.balance_after) == ("capture", -120, 30)
    assert keyed_entries(member)[-1] == ("c1", "capture", -120, 30)
    hold = Hold.objects.get(pk=funded.pk)
    assert (hold.status, hold.captured, hold.resolved_at) == ("captured", 120, T0 + timedelta(minutes=5))
    assert lots(member) == [(100, 0), (50, 30)]
    assert totals(member) == {"available": 30, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 120, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_partial_capture_releases_the_rest_to_the_original_lots(member, funded, ledger_invariants):
    with clock(T0):
        entry = services.capture(funded, key="c1", points=70)

    assert (entry.kind, entry.delta, entry.balance_after) == ("capture", -70, 80)
    assert keyed_entries(member)[-2:] == [("c1", "capture", -70, 80), ("c1#release", "release", 0, 80)]
    # 70 taken from the soonest-expiring lot, its other 30 and the 20 of the second lot go back.
    assert lots(member) == [(100, 30), (50, 50)]
    hold = Hold.objects.get(pk=funded.pk)
    assert (hold.status, hold.captured) == ("captured", 70)
    assert totals(member) == {"available": 80, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 70, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_release_gives_everything_back(member, funded, ledger_invariants):
    with clock(T0):
        entry = services.release(funded, key="r1")

    assert (entry.kind, entry.delta, entry.balance_after) == ("release", 0, 150)
    assert keyed_entries(member)[-1] == ("r1", "release", 0, 150)
    assert lots(member) == [(100, 100), (50, 50)]
    hold = Hold.objects.get(pk=funded.pk)
    assert (hold.status, hold.captured, hold.resolved_at) == ("released", 0, T0)
    assert totals(member) == {"available": 150, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 0, "lifetime_expired": 0}
    assert ledger_invariants() == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("capture", "capture"),
        ("capture", "release"),
        ("release", "release"),
        ("release", "capture"),
    ],
)
def test_a_hold_resolves_once(member, funded, ledger_invariants, first, second):
    with clock(T0):
        done = getattr(services, first)(funded, key="first")
    before = snapshot(member)

    with clock(T0), pytest.raises(HoldNotOpen):
        getattr(services, second)(funded, key="second")

    assert snapshot(member) == before
    # The same key is a retry: it replays the first outcome.
    with clock(T0):
        again = getattr(services, first)(funded, key="first")
    assert again.pk == done.pk
    assert again.kind == first
    assert snapshot(member) == before
    assert ledger_invariants() == []


def test_capture_more_than_held_is_refused(member, funded, ledger_invariants):
    before = snapshot(member)

    with clock(T0), pytest.raises(InvalidAmount):
        services.capture(funded, key="c1", points=121)

    assert snapshot(member) == before
    assert Hold.objects.get(pk=funded.pk).status == HoldStatus.HELD
    with clock(T0):
        services.capture(funded, key="c1", points=120)
    assert totals(member)["available"] == 30
    assert ledger_invariants() == []


def test_capture_honours_a_lot_that_expired_while_held(member, funded, ledger_invariants):
    after_expiry = at(2026, 2, 5)
    assert services.expire_due(now=after_expiry) == 0  # the expiring lot is fully held

    with clock(after_expiry):
        services.capture(funded, key="c1")

    assert keyed_entries(member)[-1] == ("c1", "capture", -120, 30)
    assert lots(member) == [(100, 0), (50, 30)]
    assert totals(member) == {"available": 30, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 120, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_release_expires_at_once_what_expired_while_held(member, funded, ledger_invariants):
    after_expiry = at(2026, 2, 5)
    with clock(after_expiry):
        services.release(funded, key="r1")

    assert keyed_entries(member)[-2:] == [("r1", "release", 0, 150), ("r1#expire", "expire", -100, 50)]
    assert lots(member) == [(100, 0), (50, 50)]
    assert Hold.objects.get(pk=funded.pk).status == "released"
    assert totals(member) == {"available": 50, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 0, "lifetime_expired": 100}
    # Nothing is left for the expiry job.
    assert services.expire_due(now=after_expiry) == 0
    assert ledger_invariants() == []


def test_partial_capture_after_expiry_expires_the_released_part_of_the_expired_lot(
    member, funded, ledger_invariants
):
    with clock(at(2026, 2, 5)):
        entry = services.capture(funded, key="c1", points=60)

    # 60 captured from the expired lot (honoured); its other 40 expire, the 20 of the other lot return.
    assert (entry.delta, entry.balance_after) == (-60, 90)
    assert keyed_entries(member)[-3:] == [
        ("c1", "capture", -60, 90),
        ("c1#release", "release", 0, 90),
        ("c1#expire", "expire", -40, 50),
    ]
    assert lots(member) == [(100, 0), (50, 50)]
    assert totals(member) == {"available": 50, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 60, "lifetime_expired": 40}
    assert ledger_invariants() == []


def test_held_points_are_not_expired_by_the_job(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=SOON)
        hold = services.hold(member, 40, key="h1", ttl=timedelta(days=60))

    assert services.expire_due(now=SOON) == 60
    assert totals(member) == {"available": 0, "pending": 0, "held": 40, "debt": 0,
                              "lifetime_earned": 100, "lifetime_spent": 0, "lifetime_expired": 60}
    with clock(SOON + timedelta(days=1)):
        services.capture(hold, key="c1")
    assert keyed_entries(member) == [
        ("e1", "earn", 100, 100),
        ("h1", "hold", 0, 100),
        (f"expire:{SOON.isoformat()}:{hold.account_id}", "expire", -60, 40),
        ("c1", "capture", -40, 0),
    ]
    assert ledger_invariants() == []
