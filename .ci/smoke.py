"""`make smoke`: start the stack exactly as `make run` does (embedded PostgreSQL, no Redis), check
that the web answers /healthz/ and the admin login, and that the worker and beat are up; then stop
everything it started. Exits non-zero on any failure, printing the stack's log."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "var" / "smoke.log"
START_TIMEOUT = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def wait_for(check, what: str, timeout: float):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(1)
    raise RuntimeError(f"timed out waiting for {what} ({last!r})")


def embedded_postgres_running() -> bool:
    pid_file = ROOT / "var" / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DEBUG"] = "1"
    port = free_port()
    LOG.parent.mkdir(parents=True, exist_ok=True)
    was_running = embedded_postgres_running()
    log = LOG.open("w")
    stack = subprocess.Popen(
        [sys.executable, "manage.py", "runstack", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    ok = False
    try:
        base = f"http://127.0.0.1:{port}"
        status, body = wait_for(lambda: get(f"{base}/healthz/"), "/healthz/", START_TIMEOUT)
        health = json.loads(body)
        assert status == 200 and health["database"] == "ok", f"healthz said {status} {body}"
        print(f"healthz: {body}")
        status, body = get(f"{base}/admin/login/")
        assert status == 200 and 'name="username"' in body, f"admin login answered {status}"
        print("admin login page: 200")
        wait_for(lambda: "ready." in LOG.read_text(), "the celery worker", 90)
        print("worker: ready")
        wait_for(lambda: "beat: Starting" in LOG.read_text(), "celery beat", 60)
        print("beat: started")
        # A task queued from another process must reach the worker through the broker and run.
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from points.tasks import release_stale_holds; release_stale_holds.delay()"],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=120,
        )
        wait_for(lambda: "points.release_stale_holds" in LOG.read_text()
                 and "succeeded" in LOG.read_text(), "a queued task to run on the worker", 60)
        print("worker ran a queued task")
        ok = True
    except Exception as exc:
        print(f"SMOKE FAILED: {exc}")
    finally:
        stack.send_signal(signal.SIGINT)  # as Ctrl-C: runstack stops its children and the database
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            print("runstack did not stop in 60 s; killing its process group")
            os.killpg(stack.pid, signal.SIGKILL)
            ok = False
        log.close()
    if not was_running and embedded_postgres_running():
        print("SMOKE FAILED: the embedded PostgreSQL is still running after the stack stopped")
        ok = False
    if not ok:
        print("---- stack log ----")
        print(LOG.read_text()[-6000:])
        return 1
    print("smoke: ok (stack stopped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
