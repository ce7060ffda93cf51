"""Two-level cache for hot catalog reads (``catalog.selectors``).

Level 1 is a small per-process LRU (``LOCAL_MAX`` entries, ``LOCAL_TTL`` seconds, thread-safe),
so a hot page costs no network round trip at all. Level 2 is Django's default cache (Redis via
django-redis when ``REDIS_URL`` is set, local memory otherwise) for ``SHARED_TTL`` seconds,
``NOT_FOUND_TTL`` for "not found" answers (cached too, against cache penetration).

Invalidation: every shared entry's key carries the current *catalog version*, a random token kept
under ``VERSION_KEY``; ``invalidate()`` replaces the token (after commit: the services call it
through ``transaction.on_commit``), so every old entry becomes unreachable at once and simply
ages out. The version is read *before* the database, so an entry stored under a version can never
hold data older than that version's bump.

The lag, stated: ``invalidate()`` empties this process's local level at once, but other processes
keep serving their local copies for up to ``LOCAL_TTL`` seconds (3 s). Nothing that must be exact
reads this cache: ``catalog.services.redeem`` reads stock, limits and balance from the database.

Entries also expire at the next sale-window boundary of what they show (a product whose sale
starts or ends), so the list never waits five minutes to show or hide such a product.

Failure: the shared level must never turn into an error. Every call to it is wrapped (a Redis
error becomes a miss and is logged); after a failure the shared level is skipped for
``DOWN_SECONDS`` (a circuit breaker, so a dead Redis does not cost a connect timeout per read) and
reads go to the database, with the local level still in front. An ``invalidate()`` that cannot
reach Redis is remembered and retried by this process as soon as Redis answers again.

Below this module, the cache's client has a breaker of its own (``common.cache``, for every
cache user: the throttles too), so a hung Redis costs one short timeout, not one per call.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
import time
import uuid
from collections import OrderedDict
from datetime import datetime

from django.core.cache import cache

logger = logging.getLogger(__name__)

LOCAL_TTL = 3.0
LOCAL_MAX = 512
SHARED_TTL = 300
NOT_FOUND_TTL = 60
DOWN_SECONDS = 2.0
VERSION_KEY = "catalog:version"

_MISS = object()


class _LocalCache:
    """A thread-safe LRU of pickled values with a per-entry deadline (``time.monotonic``).

    Values are kept pickled so every hit hands out a fresh copy: a caller that mutates the dict it
    got cannot corrupt what the next caller sees.
    """

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        # Bumped by clear(): a load that started before an invalidation must not store its
        # (possibly older) result afterwards.
        self.generation = 0

    def get(self, key):
        now = time.monotonic()
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return _MISS
            deadline, blob = item
            if deadline <= now:
                del self._data[key]
                return _MISS
            self._data.move_to_end(key)
        return blob

    def set(self, key, blob: bytes, deadline: float, generation: int) -> None:
        with self._lock:
            if generation != self.generation:
                return
            self._data[key] = (deadline, blob)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.generation += 1

    def __len__(self):
        return len(self._data)


_local = _LocalCache(LOCAL_MAX)
_state = {"down_until": 0.0, "bump_pending": False}


# --------------------------------------------------------------------------- the shared level


def _shared(operation: str, *args, **kwargs):
    """Call ``cache.<operation>``; any error (Redis down with IGNORE_EXCEPTIONS off, a network
    fault django-redis does not catch) is logged and read as "no answer" (None)."""
    if _state["down_until"] > time.monotonic():
        return None
    try:
        return getattr(cache, operation)(*args, **kwargs)
    except Exception:  # noqa: BLE001 - the cache is an optimisation, never a reason to fail
        logger.warning("catalog cache: %s failed; reading the database", operation, exc_info=True)
        _mark_down()
        return None


def _mark_down() -> None:
    _state["down_until"] = time.monotonic() + DOWN_SECONDS


def _new_token() -> str:
    return uuid.uuid4().hex[:16]


def _set_version() -> bool:
    """Store a new version token and check that it is there (django-redis with IGNORE_EXCEPTIONS
    answers a failed write with None, locmem every write with None: only a read tells). A write
    that answers True (django-redis's, when Redis said OK) is not read back: every redemption
    bumps the version, and the read was a second round trip each time."""
    token = _new_token()
    if _shared("set", VERSION_KEY, token, timeout=None) is True:
        return True
    return _shared("get", VERSION_KEY) == token


def current_version() -> str | None:
    """The catalog version token, creating one when there is none; None if the shared level is
    unavailable (then reads bypass it)."""
    if _state["bump_pending"] and _state["down_until"] <= time.monotonic():
        if _set_version():
            _state["bump_pending"] = False
        else:
            _mark_down()
            return None
    version = _shared("get", VERSION_KEY)
    if version is not None:
        return version
    token = _new_token()
    if _shared("add", VERSION_KEY, token, timeout=None):
        return token
    version = _shared("get", VERSION_KEY)
    if version is None:  # neither a value nor a successful add: Redis is not answering
        _mark_down()
    return version


def invalidate() -> None:
    """Make every cached catalog read stale (call it after commit)."""
    _local.clear()
    if _state["down_until"] > time.monotonic() or not _set_version():
        # Redis unreachable: the old entries (if Redis kept them) must not come back with it.
        _state["bump_pending"] = True
        _mark_down()


def clear_local() -> None:
    """Empty this process's local level (tests, benchmarks)."""
    _local.clear()


def reset() -> None:
    """Forget the local level and the circuit breaker (tests switching cache settings)."""
    _local.clear()
    _state["down_until"] = 0.0
    _state["bump_pending"] = False


# --------------------------------------------------------------------------- reads


def _deadline_seconds(until: datetime | None, ttl: float) -> float:
    if until is None:
        return ttl
    return max(0.0, min(ttl, until.timestamp() - time.time()))


def cached(kind: str, params: tuple, load, *, local: bool = True):
    """The value for ``(kind, params)``: from the local level, the shared level, or ``load()``.

    ``load()`` returns ``(value, until)``: ``until`` (an aware datetime or None) is when the value
    stops being right by itself (a sale-window boundary). A value of None means "not found" and is
    cached for ``NOT_FOUND_TTL``. ``params`` must be a tuple of plain values (its repr is hashed
    into the shared key).
    """
    local_key = (kind, params)
    if local and LOCAL_TTL > 0:
        blob = _local.get(local_key)
        if blob is not _MISS:
            return pickle.loads(blob)
    generation = _local.generation
    version = current_version()
    shared_key = None
    if version is not None:
        digest = hashlib.blake2b(repr(params).encode(), digest_size=16).hexdigest()
        shared_key = f"catalog:{version}:{kind}:{digest}"
        hit = _shared("get", shared_key)
        if hit is not None:
            blob, until_ts = hit
            if local:
                _store_local(local_key, blob, until_ts, generation)
            return pickle.loads(blob)
    value, until = load()
    blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    until_ts = until.timestamp() if until is not None else None
    ttl = SHARED_TTL if value is not None else NOT_FOUND_TTL
    seconds = _deadline_seconds(until, ttl)
    if shared_key is not None and seconds >= 1:
        _shared("set", shared_key, (blob, until_ts), timeout=int(seconds))
    if local:
        _store_local(local_key, blob, until_ts, generation)
    return value


def _store_local(key, blob: bytes, until_ts: float | None, generation: int) -> None:
    if LOCAL_TTL <= 0:
        return
    seconds = LOCAL_TTL if until_ts is None else min(LOCAL_TTL, until_ts - time.time())
    if seconds > 0:
        _local.set(key, blob, time.monotonic() + seconds, generation)
