"""A circuit breaker in front of Redis, for the cache (``CACHES["default"]`` with ``REDIS_URL``).

A Redis that is down answers at once (connection refused), but one that hangs (accepts the
connection, never answers) costs every cache call its full socket timeout: the throttles, the
catalog's reads and anything else that touches the cache would each wait, on every request, for
as long as it hangs. So the cache's client is ``BreakerClient``, django-redis's ``DefaultClient``
with a breaker around every command:

* closed (normal): commands go to Redis, bounded by short connect/read timeouts
  (``REDIS_CONNECT_TIMEOUT``, ``REDIS_SOCKET_TIMEOUT`` in settings);
* a command that fails for the connection (refused, reset, timed out) opens the breaker for
  ``REDIS_BREAKER_SECONDS``: meanwhile every command fails at once, without a network call, and
  ``IGNORE_EXCEPTIONS`` turns that into a miss (reads go to the database);
* half-open: when the time is up, one command (the probe) is let through, the others keep being
  skipped; the probe's success closes the breaker, its failure opens it again.

The state is per process (one ``Breaker`` per Redis address, shared by the threads; a lock guards
it). The trip and the recovery are logged once each, not per skipped command. A Redis error that
is an answer (``ResponseError``: a wrong type...) proves Redis is there: it does not trip.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time

from django_redis.client import DefaultClient
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

DEFAULT_OPEN_SECONDS = 5.0
# Failures of the connection (as opposed to an answer from Redis).
CONNECTION_FAILURES = (RedisConnectionError, RedisTimeoutError, socket.timeout, OSError)


class CacheSkipped(RedisConnectionError):
    """The breaker is open: the command was not sent."""


class Breaker:
    """Closed, open until ``open_until`` or half-open (one probe in flight); thread-safe."""

    def __init__(self, name: str, open_seconds: float = DEFAULT_OPEN_SECONDS):
        self.name = name
        self.open_seconds = open_seconds
        self._lock = threading.Lock()
        self.open_until = 0.0  # 0: closed
        self._probing = False
        self.trips = 0  # how many times it opened (tests, diagnostics)

    @property
    def is_open(self) -> bool:
        return self.open_until > 0

    def allow(self) -> bool:
        """Whether a command may go to Redis now (True for at most one probe when half-open)."""
        if not self.open_until:  # the common case, no lock
            return True
        with self._lock:
            if not self.open_until:
                return True
            if self._probing or time.monotonic() < self.open_until:
                return False
            self._probing = True
            return True

    def succeeded(self) -> None:
        if not self.open_until:
            return
        with self._lock:
            if self.open_until:
                logger.warning("cache breaker %s: Redis answers again; the cache is back", self.name)
            self.open_until = 0.0
            self._probing = False

    def failed(self, error: BaseException) -> None:
        with self._lock:
            was_open = bool(self.open_until)
            self.open_until = time.monotonic() + self.open_seconds
            self._probing = False
            if not was_open:
                self.trips += 1
        if not was_open:
            logger.warning("cache breaker %s: Redis failed (%s: %s); skipping the cache for %.1f s",
                           self.name, type(error).__name__, error, self.open_seconds)

    def release_probe(self) -> None:
        """The probe ended without telling (an error of ours, not Redis's): let another probe."""
        with self._lock:
            self._probing = False

    def reset(self) -> None:
        with self._lock:
            self.open_until = 0.0
            self._probing = False


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(server: str, open_seconds: float = DEFAULT_OPEN_SECONDS) -> Breaker:
    """The process's breaker for the Redis at ``server`` (a URL), created on first use."""
    with _breakers_lock:
        breaker = _breakers.get(server)
        if breaker is None:
            breaker = _breakers[server] = Breaker(_safe_name(server), open_seconds)
        breaker.open_seconds = open_seconds
        return breaker


def reset_breakers() -> None:
    """Close every breaker (tests)."""
    with _breakers_lock:
        for breaker in _breakers.values():
            breaker.reset()


def any_open() -> bool:
    """Whether some Redis is being skipped right now (its breaker is open)."""
    return any(breaker.is_open for breaker in list(_breakers.values()))


def _safe_name(server: str) -> str:
    """The address without a password (for the log)."""
    if "@" in server:
        scheme, _, rest = server.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return server


def _connection_failure(error: ConnectionInterrupted) -> bool:
    cause = error.__cause__
    return isinstance(cause, CONNECTION_FAILURES) and not isinstance(cause, CacheSkipped)


# Commands calling commands (``add`` is a ``set``...): only the outermost one asks the breaker.
_inside = threading.local()


def _guarded(method):
    @functools.wraps(method)
    def command(self, *args, **kwargs):
        if getattr(_inside, "depth", 0):
            return method(self, *args, **kwargs)
        breaker = self.breaker
        if not breaker.allow():
            raise ConnectionInterrupted(connection=None) from CacheSkipped("cache breaker open")
        _inside.depth = 1
        try:
            result = method(self, *args, **kwargs)
        except ConnectionInterrupted as error:
            if _connection_failure(error):
                breaker.failed(error.__cause__)
            else:
                breaker.succeeded()
            raise
        except CONNECTION_FAILURES as error:  # a command django-redis does not wrap
            breaker.failed(error)
            raise
        except BaseException:  # ours (a value that does not pickle...): says nothing about Redis
            breaker.release_probe()
            raise
        finally:
            _inside.depth = 0
        breaker.succeeded()
        return result

    command.guarded = True
    return command


# DefaultClient's methods that talk to Redis; the rest (keys, codecs, connections) are local.
_LOCAL = {"get_client", "get_client_with_index", "get_next_client_index", "connect", "disconnect",
          "close", "do_close_clients", "encode", "decode", "make_key", "make_pattern",
          "iter_keys", "sscan_iter", "lock"}


class BreakerClient(DefaultClient):
    """django-redis's client with a circuit breaker (``OPTIONS["BREAKER_SECONDS"]``, default 5)."""

    def __init__(self, server, params, backend):
        super().__init__(server, params, backend)
        seconds = float(params.get("OPTIONS", {}).get("BREAKER_SECONDS", DEFAULT_OPEN_SECONDS))
        self.breaker = breaker_for(",".join(self._server), seconds)


for _name in dir(DefaultClient):
    _attribute = getattr(DefaultClient, _name)
    if _name.startswith("_") or _name in _LOCAL or not callable(_attribute):
        continue
    setattr(BreakerClient, _name, _guarded(_attribute))
