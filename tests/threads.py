"""Real threads for the concurrency tests: calls released at once, each on its own connection."""

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def run_together(count: int, call, *, timeout: float = 60):
    """Run ``call(i)`` for i in 0..count-1 in ``count`` threads released at once (a barrier);
    returns each call's result or the exception it raised, in order. Each thread closes its
    database connection when done, so the test's flush is not blocked."""
    barrier = threading.Barrier(count, timeout=timeout)

    def worker(i):
        try:
            barrier.wait()
            return call(i)
        except Exception as exc:  # collected and asserted on by the test
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


def failures(results) -> list[Exception]:
    return [result for result in results if isinstance(result, Exception)]
