"""The read replica: reads that may be a few seconds stale go to it, everything else to the primary.

Only code that says so reads from the replica: a view or block marked with ``stale_ok`` /
``stale_reads()`` (the mall and product lists, the points history, the console's dashboard).
Inside it, ``ReplicaRouter`` sends reads to the ``replica`` alias (``REPLICA_DATABASE_URL``) unless

- a transaction is open on the primary (a posting's reads must see its own writes and locks), or
- the replica is down: a failed connection marks it down for ``DOWN_SECONDS`` and reads fall back
  to the primary meanwhile, so a dead replica costs one connect timeout, not an error.

Writes always go to the primary; migrations run on the primary only (the replica follows by
streaming replication). Without ``REPLICA_DATABASE_URL`` there is no ``replica`` alias and the
router sends everything to the primary.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
DOWN_SECONDS = 5.0

log = logging.getLogger(__name__)
_stale_ok: ContextVar[bool] = ContextVar("stale_ok", default=False)
_down_until = 0.0
_lock = threading.Lock()


@contextmanager
def stale_reads():
    """Reads in this block may come from the replica (a few seconds behind the primary)."""
    token = _stale_ok.set(True)
    try:
        yield
    finally:
        _stale_ok.reset(token)


def stale_ok(view):
    """``stale_reads()`` around a view function."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        with stale_reads():
            return view(*args, **kwargs)

    return wrapped


def replica_available() -> bool:
    global _down_until
    if REPLICA not in settings.DATABASES or time.monotonic() < _down_until:
        return False
    try:
        connections[REPLICA].ensure_connection()
        return True
    except Exception:  # noqa: BLE001 - any failure to connect means: read the primary for a while
        with _lock:
            first = time.monotonic() >= _down_until
            _down_until = time.monotonic() + DOWN_SECONDS
        if first:
            log.warning("read replica unavailable: reading the primary for %.0f s", DOWN_SECONDS)
        connections[REPLICA].close()
        return False


def mark_replica_up() -> None:
    """Forget a failure (tests, and an operator who fixed the replica)."""
    global _down_until
    _down_until = 0.0


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if not _stale_ok.get() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return REPLICA if replica_available() else DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database, two copies of it

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS
