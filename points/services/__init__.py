"""The only code that moves points.

Every function here is one *posting*: it locks the member's account row, changes lots, holds and
the account's cached totals together, appends journal entries, and commits (or joins the caller's
transaction through a savepoint). Pages, the API, the admin, tasks and other apps call these.
``earn_many`` posts several earnings at once (one paid order's referral rewards), each exactly as
``earn`` would, set-based.

Idempotency. Every posting carries a caller-chosen ``key``, unique in the database:

* the same key with the same arguments returns the first result and changes nothing;
* a refusal (``InsufficientPoints``) is recorded under its key and replayed as the same refusal,
  so a retry never succeeds later under that key;
* the same key with other arguments raises ``IdempotencyConflict``.

New keys pay nothing for this: the posting runs optimistically, the entry insert is guarded
against a recorded refusal and the unique index catches a duplicate, and only then (rarely) is the
transaction rolled back and the first outcome looked up.

Locks. A posting locks exactly one account row first, then touches only that account's lots and
holds; the batch jobs lock many accounts, always in id order, before touching their lots. So two
ledger transactions never wait on each other in a cycle. Nothing here calls out while a lock is
held. The lock helpers, and the lock order of the whole project, are in ``lock_objects``.
"""

from __future__ import annotations

# Tests patch ``points.services.timezone.now`` (the clock of every posting and job).
from django.utils import timezone  # noqa: F401

from points.services._lots import SPEND_ORDER
from points.services._validation import MAX_KEY, MAX_POINTS, validate_key, validate_text
from points.services.batch import Credit, earn_many
from points.services.holds import capture, hold, release
from points.services.jobs import (
    JOB_BATCH_ACCOUNTS,
    activate_due,
    expire_due,
    prune_refusals,
    release_stale_holds,
)
from points.services.postings import NEVER, adjust, earn, forfeit, spend
from points.services.reconciliation import reconcile
from points.services.reversal import reverse

__all__ = [
    "JOB_BATCH_ACCOUNTS",
    "Credit",
    "MAX_KEY",
    "MAX_POINTS",
    "NEVER",
    "SPEND_ORDER",
    "activate_due",
    "adjust",
    "capture",
    "earn",
    "earn_many",
    "expire_due",
    "forfeit",
    "hold",
    "prune_refusals",
    "reconcile",
    "release",
    "release_stale_holds",
    "reverse",
    "spend",
    "validate_key",
    "validate_text",
]
