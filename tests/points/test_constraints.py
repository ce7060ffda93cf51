"""The database itself refuses states that break the ledger's invariants, whoever writes them."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from points import services
from points.models import Account, Entry, Hold, Lot
from tests.points.ledger import T0, clock, snapshot


@pytest.fixture
def posted(member):
    with clock(T0):
        earned = services.earn(member, 100, key="e1", reason="r")
        services.spend(member, 30, key="s1", reason="r")
        services.hold(member, 20, key="h1")
    return earned


def _refused(sql=None, params=(), update=None):
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        if update is not None:
            update()
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
    return raised.value


@pytest.mark.parametrize("column", ["available", "pending", "held", "debt", "lifetime_earned",
                                    "lifetime_spent", "lifetime_expired"])
def test_no_account_total_can_be_negative(member, posted, ledger_invariants, column):
    before = snapshot(member)
    account = Account.objects.get(member=member)

    _refused(update=lambda: Account.objects.filter(pk=account.pk).update(**{column: -1}))
    _refused(f"UPDATE points_account SET {column} = -5 WHERE id = %s", [account.pk])

    assert snapshot(member) == before
    assert ledger_invariants() == []


@pytest.mark.parametrize("remaining", [-1, 101])
def test_lot_remaining_stays_within_its_amount(member, posted, ledger_invariants, remaining):
    before = snapshot(member)
    lot = Lot.objects.get(entry_id=posted.pk)
    assert (lot.amount, lot.remaining) == (100, 50)

    _refused(update=lambda: Lot.objects.filter(pk=lot.pk).update(remaining=remaining))
    _refused("UPDATE points_lot SET remaining = %s WHERE id = %s", [remaining, lot.pk])

    assert snapshot(member) == before
    assert ledger_invariants() == []


def test_hold_cannot_capture_more_than_it_holds(member, posted, ledger_invariants):
    before = snapshot(member)
    hold = Hold.objects.get()
    _refused(update=lambda: Hold.objects.filter(pk=hold.pk).update(captured=21))
    _refused(update=lambda: Hold.objects.filter(pk=hold.pk).update(status="captured"))  # no resolved_at
    assert snapshot(member) == before
    assert ledger_invariants() == []


def test_a_key_posts_once(member, posted, ledger_invariants):
    before = snapshot(member)
    account = Account.objects.get(member=member)

    error = _refused(update=lambda: Entry.objects.create(
        account=account, key="e1", kind="earn", delta=0, balance_after=0))
    # Unique per account (points_entry_account_key; the violated index is its partition's).
    assert error.__cause__.diag.table_name.startswith("points_entry_p")
    assert "Key (account_id, key)=" in error.__cause__.diag.message_detail
    _refused(
        "INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason, reference, "
        "fingerprint, rule_version, created_at) VALUES (%s, 'e1', 'earn', 1, 1, '', '', '', '', %s)",
        [account.pk, timezone.now()],
    )

    assert snapshot(member) == before
    assert ledger_invariants() == []


@pytest.mark.parametrize("key", ["e1", "s1", "h1"])
def test_entries_cannot_be_updated(member, posted, ledger_invariants, key):
    before = snapshot(member)
    entry = Entry.objects.get(key=key)

    error = _refused(update=lambda: Entry.objects.filter(pk=entry.pk).update(delta=1000))
    assert "append-only" in str(error)
    _refused(update=lambda: Entry.objects.filter(pk=entry.pk).update(reason="edited"))
    _refused("UPDATE points_entry SET balance_after = balance_after + 1 WHERE id = %s", [entry.pk])
    _refused("UPDATE points_entry SET key = key WHERE id = %s", [entry.pk])  # even a no-op

    assert snapshot(member) == before
    assert Entry.objects.get(pk=entry.pk).reason == entry.reason
    assert ledger_invariants() == []


def test_entries_cannot_be_deleted(member, posted, ledger_invariants):
    before = snapshot(member)
    hold_entry = Entry.objects.get(key="h1")  # nothing references it, so only the trigger objects

    error = _refused(update=lambda: Entry.objects.filter(pk=hold_entry.pk).delete())
    assert "append-only" in str(error)
    for key in ("e1", "s1", "h1"):
        error = _refused("DELETE FROM points_entry WHERE key = %s", [key])
        assert "append-only" in str(error)
    _refused("DELETE FROM points_entry")

    assert snapshot(member) == before
    assert ledger_invariants() == []
