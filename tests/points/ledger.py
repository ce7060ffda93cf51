"""Helpers for the ledger tests: a fixed clock and exact views of an account's rows.

Every helper reads the database as it is, so a test can compare "before" and "after" snapshots
of a refused operation and see that nothing at all changed.
"""
import re
from contextlib import contextmanager
from datetime import datetime
from unittest.mock import patch
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(year, month, day, hour=0, minute=0) -> datetime:
    """A timezone-aware instant in the project's local time (Asia/Shanghai)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# The default "now" of the tests: a Saturday morning in January 2026.
T0 = at(2026, 1, 10, 10)


@contextmanager
def clock(when: datetime):
    """Make the services see ``when`` as the current time."""
    with patch("points.services.timezone.now", return_value=when):
        yield


def totals(member) -> dict:
    """Every cached total of the member's account (all zero when there is no account yet)."""
    from points.models import Account

    fields = ("available", "pending", "held", "debt", "lifetime_earned", "lifetime_spent",
              "lifetime_expired")
    row = Account.objects.filter(member=member).values(*fields).first()
    return row or dict.fromkeys(fields, 0)


def entries(member) -> list[tuple]:
    """The member's journal as ``(kind, delta, balance_after)`` in posting order."""
    from points.models import Entry

    return list(
        Entry.objects.filter(account__member=member)
        .order_by("id")
        .values_list("kind", "delta", "balance_after")
    )


def keyed_entries(member) -> list[tuple]:
    """The member's journal as ``(key, kind, delta, balance_after)`` in posting order.

    Job entries' keys carry a random run tag (``expire:{now}/{tag}:{account}``); it is dropped
    here so tests can state the key exactly.
    """
    from points.models import Entry

    return [
        (JOB_RUN_TAG.sub(r"\1:", key), kind, delta, balance_after)
        for key, kind, delta, balance_after in Entry.objects.filter(account__member=member)
        .order_by("id")
        .values_list("key", "kind", "delta", "balance_after")
    ]


JOB_RUN_TAG = re.compile(r"^((?:expire|activate):.+)/[0-9a-f]{8}:")


def lots(member) -> list[tuple]:
    """The member's lots as ``(amount, remaining)`` in creation order."""
    from points.models import Lot

    return list(Lot.objects.filter(account__member=member).order_by("id").values_list("amount", "remaining"))


def lot_of(entry):
    from points.models import Lot

    return Lot.objects.get(entry_id=entry.pk)


def allocations(entry) -> list[tuple]:
    """``(lot_id, amount)`` that an entry took or gave back, by lot id."""
    from points.models import Allocation

    rows = Allocation.objects.filter(entry_id=entry.pk).order_by("lot_id")
    return list(rows.values_list("lot_id", "amount"))


def row_counts() -> dict:
    """How many rows each ledger table holds (across all accounts)."""
    from points.models import Account, Allocation, Entry, Hold, Lot, Refusal

    return {model.__name__: model.objects.count()
            for model in (Account, Entry, Lot, Hold, Allocation, Refusal)}


def snapshot(*members) -> tuple:
    """Everything a refused or replayed posting must leave untouched."""
    from points.models import Hold

    holds = list(Hold.objects.order_by("id").values_list("id", "amount", "captured", "status"))
    return (row_counts(), holds, [(totals(m), entries(m), lots(m)) for m in members])
