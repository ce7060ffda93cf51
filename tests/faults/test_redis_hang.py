"""Redis stopped, then hung (SIGSTOP: it accepts connections and never answers) under read load on
the app under gunicorn: every read is a 2xx, the latency while it hangs stays under a stated
bound, and the cache is used again once Redis answers (the breaker's probe, common.cache)."""

import os
import statistics
import threading
import time

import httpx
import redis

from tests.faults import harness

# While Redis hangs, the reads' 95th percentile stays under 150 ms (issue 16), or, on a machine too
# busy for even the healthy reads to meet that, within 50 ms of the healthy p95 ("reads fall back to
# the database within ~50 ms of added latency"). Without the breaker (FAULT_BREAKER_SECONDS=0: every
# call waits for its timeout) the p95 is 250+ ms on the same machine.
PAUSED_P95_BOUND = 0.150
ADDED_P95_BOUND = 0.050
READERS = 2
BREAKER_SECONDS = float(os.environ.get("FAULT_BREAKER_SECONDS", "5"))


class Load:
    """Reader threads hitting cached read endpoints; every answer's (time, status, seconds)."""

    def __init__(self, base_url: str, token: str):
        self.base_url, self.token = base_url, token
        self.samples: list[tuple[float, int, float]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(n,)) for n in range(READERS)]

    def _read(self, n: int):
        paths = ["/api/v1/products/", "/api/v1/products/?ordering=-points", "/api/v1/lotteries/",
                 "/api/v1/me/points/"]
        headers = {"Authorization": f"Bearer {self.token}", "Accept-Language": "en"}
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            i = n
            while not self._stop.is_set():
                path = paths[i % len(paths)]
                i += 1
                started = time.perf_counter()
                try:
                    status = client.get(path, headers=headers).status_code
                except httpx.HTTPError as exc:
                    self.errors.append(f"{path}: {exc!r}")
                    continue
                self.samples.append((time.monotonic(), status, time.perf_counter() - started))

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def between(self, start: float, end: float):
        return [(status, seconds) for at, status, seconds in self.samples if start <= at < end]


def percentiles(samples) -> tuple[float, float, int]:
    seconds = sorted(s for _, s in samples)
    cuts = statistics.quantiles(seconds, n=20, method="inclusive")
    return statistics.median(seconds), cuts[18], len(seconds)


def report(phase: str, samples) -> float:
    p50, p95, count = percentiles(samples)
    print(f"\n[fault] redis {phase}: {count} reads, p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    return p95


def app_keys(client: redis.Redis) -> int:
    return client.dbsize()


def test_a_stopped_then_hung_redis_neither_fails_nor_slows_reads(pg, redis_server, processes, tmp_path):
    env = harness.app_env(pg, redis_server, API_THROTTLE_USER="1000000/min",
                          REDIS_BREAKER_SECONDS=str(BREAKER_SECONDS))
    seeded = harness.seed(env, "catalog(30)")
    app = harness.AppServer(env, log=tmp_path / "gunicorn.log")
    processes.append(app)
    app.start()
    direct = redis.Redis(port=redis_server.port, socket_timeout=2)

    with Load(app.url, seeded["token"]) as load:
        time.sleep(5)
        healthy = (time.monotonic() - 4, time.monotonic())
        assert app_keys(direct) > 0  # the app does use this Redis

        redis_server.stop()  # gone: connections refused
        stopped_at = time.monotonic()
        time.sleep(3)
        stopped = (stopped_at, time.monotonic())

        redis_server.start()  # back, on the same port; the breaker's probe finds it
        time.sleep(BREAKER_SECONDS + 2)
        direct = redis.Redis(port=redis_server.port, socket_timeout=2)
        assert app_keys(direct) > 0, "the app did not return to Redis after it came back"

        redis_server.pause()  # hung: accepts connections, never answers
        paused_at = time.monotonic()
        time.sleep(5)
        paused = (paused_at, time.monotonic())
        redis_server.resume()
        direct.flushdb()  # from now on, any key is the app writing again

        recovered = harness.wait_for(lambda: app_keys(direct) > 0, timeout=BREAKER_SECONDS + 5,
                                     what="the app using Redis again after SIGCONT")
        resumed_at = time.monotonic()
        time.sleep(1)

    assert load.errors == []
    statuses = {status for _, status, _ in load.samples}
    assert statuses == {200}, statuses
    healthy_p95 = report("healthy", load.between(*healthy))
    report("stopped", load.between(*stopped))
    p95 = report("paused (SIGSTOP 5 s)", load.between(*paused))
    bound = max(PAUSED_P95_BOUND, healthy_p95 + ADDED_P95_BOUND)
    report("resumed", load.between(resumed_at, time.monotonic()))
    print(f"[fault] redis: {len(load.samples)} reads in all, every one 200; cache in use again "
          f"{resumed_at - paused[1]:.1f} s after SIGCONT")
    assert recovered
    assert len(load.between(*paused)) > 50  # the load really ran while Redis hung
    print(f"[fault] redis: bound on the paused p95 {bound * 1000:.0f} ms")
    assert p95 < bound, f"p95 {p95 * 1000:.0f} ms while Redis hung"
