from datetime import timedelta

import pytest
from django.conf import settings
from django.utils.translation import gettext, override

from points import services
from points.errors import HoldNotOpen, InsufficientPoints
from points.models import Entry, Hold
from tests.factories import MemberFactory
from tests.points.ledger import T0, at, clock, entries, keyed_entries, lot_of, lots, snapshot, totals


def in_default_language(message, **params):
    """System reasons are stored in the site's default language (zh-hans)."""
    with override(settings.LANGUAGE_CODE):
        return gettext(message) % params


# ------------------------------------------------------------------ activation


def test_pending_points_become_spendable_only_when_activated(member, ledger_invariants):
    ready = T0 + timedelta(days=7)
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", available_at=ready)

    # Past available_at but before the job has run: still pending.
    with clock(ready + timedelta(hours=1)), pytest.raises(InsufficientPoints):
        services.spend(member, 1, key="s1", reason="r")
    assert services.activate_due(now=ready - timedelta(seconds=1)) == 0
    assert totals(member)["pending"] == 100

    assert services.activate_due(now=ready) == 100

    account_id = Entry.objects.get(key="e1").account_id
    assert keyed_entries(member) == [
        ("e1", "earn", 100, 100),
        (f"activate:{ready.isoformat()}:{account_id}", "activate", 0, 100),
    ]
    assert Entry.objects.get(kind="activate").reason == in_default_language(
        "%(points)s points became available", points=100)
    assert totals(member) == {"available": 100, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 100, "lifetime_spent": 0, "lifetime_expired": 0}
    with clock(ready + timedelta(hours=1)):
        services.spend(member, 100, key="s2", reason="r")
    assert totals(member)["available"] == 0
    assert ledger_invariants() == []


def test_activate_due_runs_once(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 30, key="e1", reason="r", available_at=T0 + timedelta(days=1))
        services.earn(member, 20, key="e2", reason="r", available_at=T0 + timedelta(days=2))
        services.earn(member, 10, key="e3", reason="r", available_at=T0 + timedelta(days=9))

    later = T0 + timedelta(days=3)
    assert services.activate_due(now=later) == 50  # one entry for both lots
    after_first = snapshot(member)
    assert services.activate_due(now=later) == 0
    assert services.activate_due(now=later + timedelta(hours=1)) == 0
    assert snapshot(member) == after_first
    assert entries(member) == [("earn", 30, 30), ("earn", 20, 50), ("earn", 10, 60), ("activate", 0, 60)]
    assert totals(member)["available"] == 50
    assert totals(member)["pending"] == 10
    assert ledger_invariants() == []


def test_activate_due_writes_no_entry_for_a_pending_lot_with_nothing_left(member, ledger_invariants):
    ready = T0 + timedelta(days=7)
    with clock(T0):
        first = services.earn(member, 40, key="e1", reason="r")
        services.spend(member, 40, key="s1", reason="r")
        services.reverse(first, key="rev1", reason="r")  # debt 40
        repaid = services.earn(member, 30, key="e2", reason="r", available_at=ready)  # all to the debt
        rest = services.earn(member, 50, key="e3", reason="r", available_at=ready)  # 10 to the debt

    assert [lot_of(e).remaining for e in (repaid, rest)] == [0, 40]
    assert services.activate_due(now=ready) == 40
    assert entries(member)[-1] == ("activate", 0, 40)
    assert Entry.objects.get(kind="activate").reason == in_default_language(
        "%(points)s points became available", points=40)
    assert totals(member) == {"available": 40, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 80, "lifetime_spent": 40, "lifetime_expired": 0}
    assert ledger_invariants() == []


def test_activate_due_writes_no_entry_when_only_empty_lots_are_due(member, ledger_invariants):
    ready = T0 + timedelta(days=7)
    with clock(T0):
        earned = services.earn(member, 20, key="e1", reason="r", available_at=ready)
        services.reverse(earned, key="rev1", reason="r")
    before = entries(member)

    assert services.activate_due(now=ready) == 0

    assert entries(member) == before == [("earn", 20, 20), ("reverse", -20, 0)]
    assert lot_of(earned).pending is False
    assert ledger_invariants() == []


def test_activate_due_writes_one_entry_per_account(db, ledger_invariants):
    alice, bob, carol = MemberFactory(), MemberFactory(), MemberFactory()
    with clock(T0):
        services.earn(alice, 10, key="a1", reason="r", available_at=T0 + timedelta(hours=1))
        services.earn(alice, 15, key="a2", reason="r", available_at=T0 + timedelta(hours=2))
        services.earn(bob, 7, key="b1", reason="r", available_at=T0 + timedelta(hours=1))
        services.earn(carol, 3, key="c1", reason="r", available_at=T0 + timedelta(days=5))

    assert services.activate_due(now=T0 + timedelta(hours=2)) == 32
    assert entries(alice)[-1] == ("activate", 0, 25)
    assert entries(bob)[-1] == ("activate", 0, 7)
    assert entries(carol) == [("earn", 3, 3)]
    assert [totals(m)["available"] for m in (alice, bob, carol)] == [25, 7, 0]
    assert [totals(m)["pending"] for m in (alice, bob, carol)] == [0, 0, 3]
    assert ledger_invariants() == []


# ------------------------------------------------------------------ expiry


def test_expire_due_expires_what_is_due_once(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r", expires_at=at(2026, 2, 1))
        services.earn(member, 60, key="e2", reason="r", expires_at=at(2026, 3, 1))
        services.earn(member, 40, key="e3", reason="r", expires_at=services.NEVER)
        services.spend(member, 30, key="s1", reason="r")  # from the lot expiring 2026-02-01

    assert services.expire_due(now=at(2026, 1, 31, 23, 59)) == 0
    assert services.expire_due(now=at(2026, 2, 1)) == 70

    account_id = Entry.objects.get(key="e1").account_id
    assert keyed_entries(member)[-1] == (f"expire:{at(2026, 2, 1).isoformat()}:{account_id}",
                                         "expire", -70, 100)
    assert Entry.objects.get(kind="expire").reason == in_default_language(
        "%(points)s points expired", points=70)
    assert lots(member) == [(100, 0), (60, 60), (40, 40)]
    assert totals(member) == {"available": 100, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 200, "lifetime_spent": 30, "lifetime_expired": 70}
    after_first = snapshot(member)

    assert services.expire_due(now=at(2026, 2, 1)) == 0
    assert services.expire_due(now=at(2026, 2, 15)) == 0
    assert snapshot(member) == after_first
    assert ledger_invariants() == []

    assert services.expire_due(now=at(2026, 3, 1)) == 60
    assert entries(member)[-1] == ("expire", -60, 40)
    assert lots(member) == [(100, 0), (60, 0), (40, 40)]
    assert totals(member)["lifetime_expired"] == 130
    assert ledger_invariants() == []


def test_expire_due_writes_one_entry_per_account_and_expires_pending_lots(db, ledger_invariants):
    alice, bob = MemberFactory(), MemberFactory()
    with clock(T0):
        services.earn(alice, 10, key="a1", reason="r", expires_at=at(2026, 2, 1))
        services.earn(alice, 20, key="a2", reason="r", expires_at=at(2026, 1, 20))
        services.earn(alice, 5, key="a3", reason="r")
        services.earn(bob, 8, key="b1", reason="r", expires_at=at(2026, 2, 1),
                      available_at=at(2026, 3, 1))

    assert services.expire_due(now=at(2026, 2, 1)) == 38

    assert entries(alice) == [("earn", 10, 10), ("earn", 20, 30), ("earn", 5, 35), ("expire", -30, 5)]
    assert entries(bob) == [("earn", 8, 8), ("expire", -8, 0)]
    assert totals(alice)["available"] == 5
    assert totals(bob) == {"available": 0, "pending": 0, "held": 0, "debt": 0,
                           "lifetime_earned": 8, "lifetime_spent": 0, "lifetime_expired": 8}
    assert ledger_invariants() == []


def test_expire_due_with_debt_keeps_the_debt(member, ledger_invariants):
    with clock(T0):
        first = services.earn(member, 50, key="e1", reason="r", expires_at=services.NEVER)
        services.spend(member, 50, key="s1", reason="r")
        services.reverse(first, key="rev1", reason="r")  # debt 50
        services.earn(member, 80, key="e2", reason="r", expires_at=at(2026, 2, 1))  # 30 remain

    assert services.expire_due(now=at(2026, 2, 1)) == 30
    assert entries(member)[-1] == ("expire", -30, 0)
    assert totals(member)["debt"] == 0
    assert totals(member)["available"] == 0
    assert ledger_invariants() == []


def test_expire_due_rerun_at_the_same_instant_expires_newly_due_points(member, ledger_invariants):
    run = at(2026, 2, 1)
    with clock(T0):
        services.earn(member, 10, key="e1", reason="r", expires_at=run)
    assert services.expire_due(now=run) == 10
    # A late credit whose expiry has already passed, then the same run again, twice.
    with clock(at(2026, 2, 3)):
        services.earn(member, 5, key="e2", reason="r", expires_at=run)
    assert services.expire_due(now=run) == 5
    with clock(at(2026, 2, 4)):
        services.earn(member, 3, key="e3", reason="r", expires_at=run)
    assert services.expire_due(now=run) == 3
    assert services.expire_due(now=run) == 0

    account_id = Entry.objects.get(key="e1").account_id
    base = f"expire:{run.isoformat()}:{account_id}"
    assert keyed_entries(member) == [
        ("e1", "earn", 10, 10), (base, "expire", -10, 0),
        ("e2", "earn", 5, 5), (base, "expire", -5, 0),
        ("e3", "earn", 3, 3), (base, "expire", -3, 0),
    ]
    # Each run has its own tag, so the three entries' real keys differ.
    assert Entry.objects.filter(kind="expire").values("key").distinct().count() == 3
    assert totals(member)["lifetime_expired"] == 18
    assert ledger_invariants() == []


def test_activate_due_rerun_at_the_same_instant_activates_newly_due_points(member, ledger_invariants):
    run = T0 + timedelta(days=1)
    with clock(T0):
        services.earn(member, 10, key="e1", reason="r", available_at=run)
    assert services.activate_due(now=run) == 10
    with clock(T0 + timedelta(hours=12)):
        services.earn(member, 5, key="e2", reason="r", available_at=run)
    assert services.activate_due(now=run) == 5
    assert services.activate_due(now=run) == 0

    account_id = Entry.objects.get(key="e1").account_id
    base = f"activate:{run.isoformat()}:{account_id}"
    assert keyed_entries(member) == [
        ("e1", "earn", 10, 10), (base, "activate", 0, 10),
        ("e2", "earn", 5, 15), (base, "activate", 0, 15),
    ]
    assert Entry.objects.filter(kind="activate").values("key").distinct().count() == 2
    assert totals(member)["available"] == 15
    assert ledger_invariants() == []


# ------------------------------------------------------------------ stale holds


def test_release_stale_holds_releases_holds_past_their_deadline(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r")
        stale = services.hold(member, 30, key="h1", ttl=timedelta(minutes=10))
        fresh = services.hold(member, 20, key="h2", ttl=timedelta(hours=1))

    assert services.release_stale_holds(now=T0 + timedelta(minutes=9)) == 0
    assert services.release_stale_holds(now=T0 + timedelta(minutes=10)) == 1

    stale = Hold.objects.get(pk=stale.pk)
    assert (stale.status, stale.captured) == ("expired", 0)
    assert stale.resolved_at == T0 + timedelta(minutes=10)
    assert Hold.objects.get(pk=fresh.pk).status == "held"
    assert keyed_entries(member)[-1] == (f"hold-timeout:{stale.pk}", "release", 0, 100)
    assert lots(member) == [(100, 80)]
    assert totals(member) == {"available": 80, "pending": 0, "held": 20, "debt": 0,
                              "lifetime_earned": 100, "lifetime_spent": 0, "lifetime_expired": 0}
    after = snapshot(member)

    assert services.release_stale_holds(now=T0 + timedelta(minutes=20)) == 0
    with clock(T0 + timedelta(minutes=20)), pytest.raises(HoldNotOpen):
        services.capture(stale, key="c1")
    with clock(T0 + timedelta(minutes=20)), pytest.raises(HoldNotOpen):
        services.release(stale, key="r1")
    assert snapshot(member) == after
    assert ledger_invariants() == []


def test_release_stale_holds_expires_points_of_lots_that_expired_while_held(member, ledger_invariants):
    # Far in the future, so that only the job's ``now`` (not the wall clock) can find the lot expired.
    start = at(2098, 1, 10)
    with clock(start):
        services.earn(member, 100, key="e1", reason="r", expires_at=at(2098, 2, 1))
        services.earn(member, 50, key="e2", reason="r", expires_at=services.NEVER)
        hold = services.hold(member, 120, key="h1", ttl=timedelta(days=30))

    deadline = start + timedelta(days=30)  # 2098-02-09, after the first lot's expiry
    assert services.release_stale_holds(now=deadline) == 1

    assert keyed_entries(member)[-2:] == [
        (f"hold-timeout:{hold.pk}", "release", 0, 150),
        (f"hold-timeout:{hold.pk}#expire", "expire", -100, 50),
    ]
    assert lots(member) == [(100, 0), (50, 50)]
    assert Hold.objects.get(pk=hold.pk).resolved_at == deadline
    assert totals(member) == {"available": 50, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 0, "lifetime_expired": 100}
    assert ledger_invariants() == []


def test_release_stale_holds_skips_holds_resolved_meanwhile(member, ledger_invariants):
    with clock(T0):
        services.earn(member, 100, key="e1", reason="r")
        captured = services.hold(member, 30, key="h1", ttl=timedelta(minutes=5))
        released = services.hold(member, 30, key="h2", ttl=timedelta(minutes=5))
        services.capture(captured, key="c1")
        services.release(released, key="r2")

    assert services.release_stale_holds(now=T0 + timedelta(hours=1)) == 0
    assert [Hold.objects.get(pk=h.pk).status for h in (captured, released)] == ["captured", "released"]
    assert totals(member)["available"] == 70
    assert ledger_invariants() == []
