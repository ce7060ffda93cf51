"""Private services for the fault tests: a PostgreSQL cluster (initdb under var/faults/), a
redis-server, the app under gunicorn and a celery worker, each on a free port of its own and each
stopped (and its files removed) by its fixture, even when the test fails. Never the machine's
shared PostgreSQL or Redis.

PostgreSQL's binaries are pgserver's (the package the embedded server uses, so a fresh clone has
them); as root they run as pgserver's "pgserver" system user, as pgserver itself does."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
FAULTS_DIR = ROOT / "var" / "faults"
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception:  # noqa: BLE001 - not up yet
            result = None
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


def stop_process(process: subprocess.Popen | None, *, timeout: float = 10) -> None:
    """Stop a process we started (its group: gunicorn's and celery's children too)."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGCONT)
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(5)


class PrivatePostgres:
    """A PostgreSQL cluster of our own, listening on 127.0.0.1:<port> only (no socket file)."""

    def __init__(self):
        from pgserver._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.dir = FAULTS_DIR / f"pg-{uuid.uuid4().hex[:8]}"
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self.user = None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/mall"

    def _run(self, *args, timeout=120):
        kwargs = {"user": self.user} if self.user else {}
        return subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, capture_output=True,
                              text=True, timeout=timeout, **kwargs)

    def init(self) -> PrivatePostgres:
        self.data.mkdir(parents=True)
        if os.geteuid() == 0:  # initdb refuses root; pgserver runs its server as this user too
            from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = "pgserver"
            entry = ensure_user_exists(self.user)
            ensure_prefix_permissions(self.data)
            ensure_prefix_permissions(self.bin)
            for path in (self.dir, self.data):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=utf8",
                  "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       "unix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\n"
                       "full_page_writes = off\nmax_connections = 100\n")
        self.start()
        with self.connect("postgres") as conn:
            conn.autocommit = True
            conn.execute("CREATE DATABASE mall")
        return self

    def pg_ctl(self, *args, timeout=60):
        return self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", *args,
                         timeout=timeout)

    def start(self):
        self.pg_ctl("start")
        wait_for(lambda: self.connect("postgres").close() or True, timeout=30, what="PostgreSQL up")

    def stop(self, mode="fast"):
        self.pg_ctl("stop", "-m", mode)

    def restart(self):
        self.pg_ctl("restart", "-m", "fast")

    def connect(self, database="mall"):
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database,
                               connect_timeout=3)

    def query(self, sql, params=None):
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()

    def destroy(self):
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        except Exception:  # noqa: BLE001 - removing the files is what matters now
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence."""

    def __init__(self):
        self.port = free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(self.ping, timeout=10, what="redis-server up")
        return self

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")

    def stop(self):
        stop_process(self.process)  # SIGCONT first: a paused server would not hear SIGTERM
        self.process = None

    def pause(self):
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.process.pid, signal.SIGCONT)


def app_env(pg: PrivatePostgres, redis: PrivateRedis | None, **extra) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(DEBUG="1", DATABASE_URL=pg.url, DJANGO_SETTINGS_MODULE="mall.settings",
               PYTHONPATH=str(ROOT), MALL_VAR_DIR=str(pg.dir / "var"), LOG_LEVEL="WARNING")
    if redis is not None:
        env["REDIS_URL"] = redis.url
    env.update(extra)
    return env


def manage(env: dict, *args, timeout=600) -> str:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def seed(env: dict, call: str) -> dict:
    """Run ``tests.faults.seed.<call>`` against the private database; what it printed (JSON)."""
    out = manage(env, "shell", "-c", f"from tests.faults import seed; seed.{call}")
    return json.loads(out.strip().splitlines()[-1])


class AppServer:
    """The app under gunicorn (threads), as it is deployed."""

    def __init__(self, env: dict, *, threads: int = 8, log: Path):
        self.port = free_port()
        self.env = env
        self.threads = threads
        self.log = log
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "mall.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
             "--threads", str(self.threads), "--timeout", "60", "--graceful-timeout", "5"],
            cwd=ROOT, env=self.env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        import httpx

        wait_for(lambda: httpx.get(f"{self.url}/healthz/", timeout=2).status_code < 500,
                 timeout=60, what="gunicorn up")
        return self

    @property
    def worker_pids(self) -> set[int]:
        """gunicorn's worker processes (to show the same process served before and after)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True,
                             text=True).stdout
        return {int(pid) for pid in out.split()}

    def stop(self):
        stop_process(self.process)
        self.process = None
