"""Account-id ranges that split a scheduled job into chunks several workers run at once.

A range is ``(lo, hi)``: account ids ``lo <= id < hi``, ``None`` for no bound on that side. The
chunks of one job are ``account_ranges()``: consecutive ranges, the first open below and the last
open above, so they cover every account id exactly once — one created after the split included
— and no two chunks ever lock the same account. Each job function takes ``accounts=(lo, hi)``
and touches only that range's accounts; without it, every account (one unchunked run).

Ranges rather than the ledger's hash partitions: a range is what an index on ``account_id``
answers directly, on a plain or a partitioned table, and what the keyset walks of the jobs (in
id order, the lock order) already use.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

AccountRange = tuple[int | None, int | None]
EVERY_ACCOUNT: AccountRange = (None, None)

# Below and above every bigint id: a missing bound compares as one of these in SQL.
_BELOW_ALL = -(2**63)
_ABOVE_ALL = 2**63 - 1


def job_chunks() -> int:
    """``settings.JOB_CHUNKS`` (default 16, one per ledger partition), at least 1."""
    return max(1, int(getattr(settings, "JOB_CHUNKS", 16)))


def account_ranges(chunks: int | None = None) -> list[AccountRange]:
    """Split the accounts into at most ``chunks`` (default ``job_chunks()``) id ranges of equal
    width between the lowest and the highest id (one query, both ends read from the primary
    key's index). Never empty: with no accounts, one range of everything."""
    chunks = chunks or job_chunks()
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(id), MAX(id) FROM points_account")
        low, high = cursor.fetchone()
    if low is None:
        return [EVERY_ACCOUNT]
    span = high - low + 1
    chunks = min(chunks, span)
    width = -(-span // chunks)  # ceiling: the last range is the short one
    bounds = [low + i * width for i in range(1, chunks)]
    return list(zip([None, *bounds], [*bounds, None], strict=True))


def keyset(accounts: AccountRange | None) -> tuple[int, int]:
    """``(after, upto)`` for SQL of the form ``account_id > after AND account_id <= upto``: the
    keyset walks start after ``after`` and stop at ``upto``."""
    lo, hi = accounts or EVERY_ACCOUNT
    return (_BELOW_ALL if lo is None else lo - 1, _ABOVE_ALL if hi is None else hi - 1)


def as_range(value) -> AccountRange | None:
    """A range as a task received it (JSON: a list or ``None``) back as a tuple."""
    if value is None:
        return None
    lo, hi = value
    return (None if lo is None else int(lo), None if hi is None else int(hi))
