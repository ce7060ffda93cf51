"""The cache's circuit breaker (common.cache): a Redis that hangs or is gone costs one short timeout,
then the cache is skipped (a miss, no wait) until a probe finds Redis answering again.

The hung Redis is a real listening socket that accepts connections and never answers; the live
one is the test run's Redis (REDIS_URL), when there is one."""

import logging
import os
import socket
import threading
import time

import pytest
from django_redis.cache import RedisCache

from common import cache as breaker_module
from common.cache import Breaker, BreakerClient


@pytest.fixture(autouse=True)
def _closed_breakers():
    breaker_module.reset_breakers()
    yield
    breaker_module.reset_breakers()


@pytest.fixture
def hung_redis():
    """A TCP server that accepts connections (the kernel's backlog does) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


@pytest.fixture
def refused_redis():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: connection refused
    return f"redis://127.0.0.1:{port}/0"


def make_cache(location, *, seconds=5.0, timeout=0.05, ignore=True):
    return RedisCache(location, {"OPTIONS": {
        "CLIENT_CLASS": "common.cache.BreakerClient", "IGNORE_EXCEPTIONS": ignore,
        "SOCKET_CONNECT_TIMEOUT": timeout, "SOCKET_TIMEOUT": timeout, "BREAKER_SECONDS": seconds,
    }})


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


# --------------------------------------------------------------------------- the state machine


def test_a_failure_opens_the_breaker_and_it_skips_until_the_time_is_up(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(breaker_module.time, "monotonic", lambda: clock[0])
    breaker = Breaker("test", open_seconds=5)
    assert breaker.allow() and not breaker.is_open
    breaker.failed(TimeoutError("read timed out"))
    assert breaker.is_open and breaker.trips == 1
    assert not breaker.allow()
    clock[0] += 4.9
    assert not breaker.allow()
    clock[0] += 0.2  # half-open: one probe goes through, the others are still skipped
    assert breaker.allow()
    assert not breaker.allow() and not breaker.allow()
    breaker.failed(TimeoutError("still hung"))  # the probe failed: open again, for 5 s more
    assert breaker.trips == 1  # one trip: it never closed
    assert not breaker.allow()
    clock[0] += 5.1
    assert breaker.allow()
    breaker.succeeded()
    assert not breaker.is_open
    assert all(breaker.allow() for _ in range(3))


def test_half_open_lets_exactly_one_of_many_threads_probe(monkeypatch):
    breaker = Breaker("test", open_seconds=0.01)
    breaker.failed(TimeoutError())
    time.sleep(0.02)
    start, allowed = threading.Barrier(16), []

    def ask():
        start.wait()
        allowed.append(breaker.allow())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 1


def test_a_probe_that_fails_for_another_reason_does_not_wedge_the_breaker(monkeypatch):
    class Unpicklable:
        def __reduce__(self):
            raise TypeError("cannot pickle")

    cache = make_cache("redis://127.0.0.1:1/0", seconds=0.01)
    breaker = cache.client.breaker
    breaker.failed(TimeoutError())
    time.sleep(0.02)
    with pytest.raises(TypeError):  # the probe's own error, before anything reached Redis
        cache.set("k", Unpicklable())
    assert breaker.allow()  # another command may probe


def test_the_trip_and_the_recovery_are_logged_once_each(caplog):
    breaker = Breaker("redis://x", open_seconds=0)
    with caplog.at_level(logging.WARNING, logger="common.cache"):
        for _ in range(5):
            breaker.failed(TimeoutError("hung"))
        breaker.succeeded()
        breaker.succeeded()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "skipping the cache for 0.0 s" in messages[0] and "answers again" in messages[1]


def test_the_logged_address_has_no_password():
    assert breaker_module._safe_name("redis://:s3cret@cache:6379/1") == "redis://***@cache:6379/1"


def test_every_command_that_talks_to_redis_is_guarded():
    for name in ("get", "set", "add", "delete", "get_many", "set_many", "incr", "has_key", "touch",
                 "expire", "ttl", "keys", "delete_pattern", "clear"):
        assert getattr(getattr(BreakerClient, name), "guarded", False), name
    assert not getattr(BreakerClient.make_key, "guarded", False)


# --------------------------------------------------------------------------- against sockets


def test_a_hung_redis_costs_one_short_timeout_then_nothing(hung_redis):
    cache = make_cache(hung_redis)
    value, first = timed(cache.get, "k", "default")
    assert value == "default"
    assert first < 0.5  # one connect/read timeout (0.05 s), not django-redis's former 0.5 s each
    skipped = [timed(cache.get, f"k{i}", "default") for i in range(50)]
    assert {value for value, _ in skipped} == {"default"}
    assert max(seconds for _, seconds in skipped) < 0.01  # no network call at all
    assert cache.set("k", 1) is None and cache.add("k", 1) is None
    assert cache.incr("n", ignore_key_check=True) is None
    assert cache.client.breaker.trips == 1


def test_a_refused_connection_trips_it_too(refused_redis):
    cache = make_cache(refused_redis)
    assert cache.get("k") is None
    assert cache.client.breaker.is_open
    _, seconds = timed(cache.get_many, ["a", "b"])
    assert seconds < 0.01


def test_without_ignore_exceptions_a_skipped_call_raises_a_connection_error(hung_redis):
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    cache = make_cache(hung_redis, ignore=False)
    with pytest.raises(RedisTimeoutError):
        cache.get("k")
    with pytest.raises(RedisConnectionError):
        cache.get("k")


def test_two_caches_on_one_address_share_the_breaker(hung_redis):
    first, second = make_cache(hung_redis), make_cache(hung_redis)
    first.get("k")
    _, seconds = timed(second.get, "k")
    assert seconds < 0.01 and first.client.breaker is second.client.breaker


live = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (a live Redis)")


@live
def test_against_a_live_redis_commands_work_and_the_probe_closes_it():
    cache = make_cache(os.environ["REDIS_URL"], seconds=0.05, timeout=0.5)
    cache.set("breaker:test", {"a": 1}, timeout=10)
    assert cache.get("breaker:test") == {"a": 1}
    assert cache.add("breaker:test", 2) is False  # add is a set inside: one probe, not two
    breaker = cache.client.breaker
    breaker.failed(TimeoutError("simulated"))
    assert cache.get("breaker:test", "skipped") == "skipped"
    time.sleep(0.06)
    assert cache.get("breaker:test") == {"a": 1}  # the probe answered: closed again
    assert not breaker.is_open
    cache.delete("breaker:test")


@live
def test_an_error_answer_from_redis_does_not_trip_it():
    cache = make_cache(os.environ["REDIS_URL"], ignore=False, timeout=0.5)
    cache.set("breaker:text", "not a number", timeout=10)
    raw = cache.client.get_client()
    raw.set(cache.make_key("breaker:text"), b"not a number")
    with pytest.raises(Exception):  # noqa: B017 - Redis's own ResponseError (not an integer)
        cache.incr("breaker:text")
    assert not cache.client.breaker.is_open
    cache.delete("breaker:text")


def test_the_settings_use_the_breaker_with_short_timeouts():
    from django.conf import settings

    options = settings.CACHES["default"].get("OPTIONS", {})
    if not os.environ.get("REDIS_URL"):
        pytest.skip("local-memory cache without REDIS_URL")
    assert options["CLIENT_CLASS"] == "common.cache.BreakerClient"
    assert options["SOCKET_CONNECT_TIMEOUT"] <= 0.1 and options["SOCKET_TIMEOUT"] <= 0.1
    assert options["BREAKER_SECONDS"] == 5


@live
def test_queuing_a_task_on_a_hung_broker_gives_up_in_seconds(hung_redis):
    """The admin's "run now" (common.admin) publishes in the request: the broker's timeouts and
    one retry bound it (then the "broker down" message), where it used to wait forever."""
    from celery import Celery
    from django.conf import settings
    from kombu.exceptions import OperationalError

    app = Celery(broker=hung_redis)
    app.conf.update(broker_connection_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,
                    broker_transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
                    task_publish_retry_policy=settings.CELERY_TASK_PUBLISH_RETRY_POLICY)
    started = time.perf_counter()
    with pytest.raises(OperationalError):
        app.send_task("points.expire_due")
    assert time.perf_counter() - started < 8
