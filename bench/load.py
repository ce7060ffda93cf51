"""Load test: members reading the mall through gunicorn with the production settings (locust).

    make load                               # 50 users x 60 s with think time, then without
    make load LOAD_ARGS="--seconds 20 --think on"
    .venv/bin/python bench/load.py --help

What runs: ``gunicorn mall.wsgi --workers 4`` with DEBUG off and production secrets (SECRET_KEY,
HOOKS_SECRET, FIELD_ENCRYPTION_KEYS, ALLOWED_HOSTS=127.0.0.1, behind a TLS proxy:
API_NUM_PROXIES=1), collected static files, on a database of its own (``<name>_load``, copied from
``<name>_load_seed``, which is seeded once through the services by ``bench/load_seed.py`` and kept
for the next run; ``--reseed`` rebuilds it) on DATABASE_URL's server (or the embedded one), and
a Redis database of its own as the cache, flushed first: LOAD_REDIS_URL, else database 15 of
REDIS_URL's server (never REDIS_URL's own database, which may hold someone's sessions).
locust (``bench/locustfile.py``) then runs headless: ``--users`` members for ``--seconds``, with
think time 0.5-1.5 s and again without (capacity). Printed per endpoint: requests/s, p50, p95,
p99 (ms), failures; the goals (p95 < 50 ms for the cached reads, < 150 ms for the member pages,
no failure) are checked on the think-time run. ``--queries`` prints the statements each endpoint
sends, in-process on the same data. Exits non-zero when a request failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PYTHON = sys.executable
VAR = ROOT / "var" / "load"
# The member pages and the API: (locust's name, goal p95 ms). Cached reads: the catalog (its
# cache), and the balance (the account row's totals); the member pages render several sections.
ENDPOINTS = [
    ("home /", 150), ("history /points/", 150), ("mall /mall/", 50), ("product /mall/<id>/", 50),
    ("api me/points/", 50), ("api products/", 50),
]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "load-test-production-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
    "HOOKS_SECRET": "load-test-hooks-secret",
    "FIELD_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZg==",
    "FIELD_BLIND_INDEX_KEY": "load-test-blind-index-key-0123456789abcdef",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "API_NUM_PROXIES": "1",
    "LOG_LEVEL": "WARNING",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent members (default 50)")
    parser.add_argument("--seconds", type=int, default=60, help="length of each run (default 60)")
    parser.add_argument("--spawn-rate", type=float, default=25, help="users started per second")
    parser.add_argument("--think", choices=["both", "on", "off"], default="both",
                        help="with think time 0.5-1.5 s, without, or both (default)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--members", type=int, default=300, help="seeded members (default 300)")
    parser.add_argument("--products", type=int, default=60, help="seeded products beyond the demo's")
    parser.add_argument("--orders", type=int, default=20, help="paid orders per member (default 20)")
    parser.add_argument("--reseed", action="store_true", help="rebuild the seed database")
    parser.add_argument("--queries", action="store_true", help="print each endpoint's statements")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the app, e.g. DB_CONN_MAX_AGE=0 (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the run's database afterwards")
    return parser.parse_args(argv)


def say(text: str = "") -> None:
    print(text, flush=True)


def manage(env: dict, *args: str, timeout: float = 3600) -> str:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def app_env(database_url: str, extra: list[str]) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in {"DEBUG", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DB_CONN_MAX_AGE"}}
    env.update(PRODUCTION, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="mall.settings",
               MALL_VAR_DIR=str(VAR / "var"), PYTHONPATH=str(ROOT))
    if os.environ.get("LOAD_REDIS_URL"):
        env["REDIS_URL"] = os.environ["LOAD_REDIS_URL"]
    elif env.get("REDIS_URL"):
        env["REDIS_URL"] = _own_database(env["REDIS_URL"], 15)
    for item in extra:
        name, _, value = item.partition("=")
        env[name] = value
    return env


def _own_database(url: str, number: int) -> str:
    """``url`` with its Redis database number replaced by ``number``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{number}"))


def flush_cache(env: dict) -> None:
    if not env.get("REDIS_URL"):
        say("note: REDIS_URL is not set, so each gunicorn worker has a local-memory cache of its own")
        return
    import redis

    say(f"cache: {env['REDIS_URL']} (flushed)")
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


def wait_up(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz/", timeout=3) as response:
                if response.status == 200:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env: dict, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(VAR / "gunicorn.log", "ab")
    process = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "mall.wsgi", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--timeout", "60", "--graceful-timeout", "5"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_up(url)
    return process, url


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def run_locust(url: str, seed_file: Path, args, *, think: bool) -> dict:
    prefix = VAR / ("think" if think else "nothink")
    logins = VAR / f"{prefix.name}_logins.json"
    env = dict(os.environ, LOAD_SEED=str(seed_file), LOAD_THINK="1" if think else "0",
               LOAD_USERS=str(args.users), LOAD_SECONDS=str(args.seconds), LOAD_LOGINS_OUT=str(logins))
    subprocess.run(
        [PYTHON, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
         "--host", url, "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
         # The locustfile stops the run --seconds after the last sign-in; this is a backstop.
         "--run-time", f"{args.seconds + 120}s", "--stop-timeout", "10", "--csv", str(prefix),
         "--only-summary", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(VAR / "locust.log", "ab"),
        timeout=args.seconds + 180)
    with open(f"{prefix}_stats.csv") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    with open(f"{prefix}_failures.csv") as failures:
        errors = list(csv.DictReader(failures))
    return {"rows": rows, "errors": errors,
            "logins": json.loads(logins.read_text()) if logins.exists() else {}}


def report(result: dict, *, think: bool, seconds: int, users: int) -> None:
    """Print the per-endpoint table, the goals judged with think time only."""
    rows = result["rows"]
    say(f"\n{'with' if think else 'without'} think time: {users} users, {seconds} s")
    say(f"  {'endpoint':<22}{'req/s':>8}{'p50':>7}{'p95':>7}{'p99':>7}{'fail':>7}   goal p95")
    for name, goal in [*ENDPOINTS, ("Aggregated", None)]:
        row = rows.get(name)
        if row is None:
            continue
        p95 = float(row["95%"])
        failed = int(row["Failure Count"])
        verdict = ""
        if goal is not None:
            verdict = f"< {goal} ms  {'ok' if p95 < goal else 'MISSED'}" if think else f"({goal} ms)"
        label = "all" if name == "Aggregated" else name
        say(f"  {label:<22}{float(row['Requests/s']):>8.1f}{float(row['50%']):>7.0f}{p95:>7.0f}"
            f"{float(row['99%']):>7.0f}{failed:>7}   {verdict}")
    for name, row in result["logins"].items():
        say(f"  sign-in before the clock: {name:<16} {row['count']:>4} requests, p50 {row['p50']:.0f} ms,"
            f" p95 {row['p95']:.0f} ms, {row['failures']} failures")
    for error in result["errors"]:
        say(f"  failure: {error['Method']} {error['Name']}: {error['Error']} x{error['Occurrences']}")


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    from mall.embedded import ensure_database

    ensure_database()
    from bench.dbs import Server, connect, url_name

    VAR.mkdir(parents=True, exist_ok=True)
    dev_url = os.environ["DATABASE_URL"]
    base = f"{url_name(dev_url)}_load"[:40]
    seed_name, seed_file = f"{base}_seed", VAR / f"{base}_seed.json"
    server = Server(dev_url)
    process = None
    try:
        exists = server._conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [seed_name]).fetchone()
        if args.reseed or not exists or not seed_file.exists():
            started = time.perf_counter()
            env = app_env(server.create(seed_name), args.env)
            manage(env, "migrate", "--verbosity", "0")
            out = manage(env, "shell", "-c", f"from bench import load_seed; load_seed.seed("
                         f"members={args.members}, products={args.products}, orders={args.orders})")
            seed_file.write_text(out.strip().splitlines()[-1])
            server.created.remove(seed_name)  # kept for the next run (a template)
            say(f"seeded {seed_name} in {time.perf_counter() - started:.0f} s")
        seed = json.loads(seed_file.read_text())
        run_url = server.create(base, template=seed_name)
        env = app_env(run_url, args.env)
        manage(env, "migrate", "--verbosity", "0")  # migrations newer than the seed
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        with connect(run_url) as conn:
            members, products, entries, redemptions = conn.execute(
                "SELECT (SELECT count(*) FROM mall_member), (SELECT count(*) FROM catalog_product),"
                " (SELECT count(*) FROM points_entry), (SELECT count(*) FROM catalog_redemption)").fetchone()
        say(f"load: {os.cpu_count()} cores, database {base} ({members:,} members, {products} products, "
            f"{entries:,} entries, {redemptions:,} redemptions); gunicorn {args.workers} workers, DEBUG off"
            + (f"; {' '.join(args.env)}" if args.env else "")
            + f"; load average {os.getloadavg()[0]:.1f}")
        if args.queries:
            call = f"from bench import load_seed; load_seed.profile({seed['members'][0]!r})"
            say(manage(env, "shell", "-c", call).rstrip())
        failed = False
        for think in {"both": [True, False], "on": [True], "off": [False]}[args.think]:
            flush_cache(env)
            process, url = start_gunicorn(env, args.workers)
            result = run_locust(url, seed_file, args, think=think)
            stop(process)
            process = None
            report(result, think=think, seconds=args.seconds, users=args.users)
            say(f"  (load average after: {os.getloadavg()[0]:.1f})")
            failed |= any(int(row["Failure Count"]) for row in result["rows"].values())
        return 1 if failed else 0
    finally:
        if process is not None:
            stop(process)
        if not args.keep:
            server.drop_all()
        server.close()


if __name__ == "__main__":
    sys.exit(main())
