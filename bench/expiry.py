"""``expire_due`` over many lots against one set-based SQL statement, on identical copies.

The lots are generated set-based in a template database; each timed run gets a fresh physical copy
of it (``CREATE DATABASE ... TEMPLATE``), so the service and the SQL statement start from the same
bytes and the same (cold) shared buffers. The service runs in a child process: it reports its time
and its peak RSS (``ru_maxrss``) before and after ``expire_due``, so the memory number is the
service's alone and not the parent's.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

LOTS_PER_ACCOUNT = 10
LOT_POINTS = 10  # lot k of an account holds k * LOT_POINTS points
BENCH_DIR = Path(__file__).resolve().parent

# One statement: every due lot zeroed, every account's totals reduced, one expire entry each.
EXPIRE_SQL = """
WITH due AS (
    SELECT id, account_id, remaining, pending FROM points_lot
    WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= %(now)s
), lots AS (
    UPDATE points_lot l SET remaining = 0 FROM due WHERE l.id = due.id
), per_account AS (
    SELECT account_id,
           COALESCE(SUM(remaining) FILTER (WHERE NOT pending), 0) AS from_available,
           COALESCE(SUM(remaining) FILTER (WHERE pending), 0) AS from_pending
    FROM due GROUP BY account_id
), accounts AS (
    UPDATE points_account a
    SET available = a.available - p.from_available,
        pending = a.pending - p.from_pending,
        lifetime_expired = a.lifetime_expired + p.from_available + p.from_pending
    FROM per_account p WHERE a.id = p.account_id
    RETURNING a.id, a.available + a.pending + a.held - a.debt AS total,
              p.from_available + p.from_pending AS points
), entries AS (
    INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason,
        reference, fingerprint, rule_version, created_at)
    SELECT id, 'expire:' || %(run)s || ':' || id, 'expire', -points, total,
           format(%(reason)s, points), '', '', '', %(now)s
    FROM accounts
)
SELECT COALESCE(SUM(points), 0) FROM accounts
"""


def fill(url: str, lots: int) -> None:
    """Create ``lots`` due lots (``lots / 10`` accounts x 10 lots) set-based in database ``url``.

    Lots are laid out as they accumulate in production: the k-th lot of every account was earned
    in the k-th month, so an account's lots lie in ten places of the table, not side by side.
    """
    from bench.dbs import connect

    accounts = max(1, lots // LOTS_PER_ACCOUNT)
    per_account = LOT_POINTS * LOTS_PER_ACCOUNT * (LOTS_PER_ACCOUNT + 1) // 2
    with connect(url) as conn, conn.cursor() as cur:
        try:  # skip the per-row FK triggers while generating data, where allowed
            cur.execute("SET session_replication_role = replica")
        except Exception:  # noqa: BLE001 - not a superuser: slower, same data
            conn.rollback()
        cur.execute(
            "INSERT INTO mall_member (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined, nickname, tier) "
            "SELECT '!', false, 'exp-' || g, '', '', '', false, true, now() - interval '2 years', "
            "'', 'normal' FROM generate_series(1, %s) g",
            [accounts],
        )
        cur.execute(
            "INSERT INTO points_account (id, member_id, available, pending, held, debt, "
            "lifetime_earned, lifetime_spent, lifetime_expired) "
            "SELECT id, id, %(p)s, 0, 0, 0, %(p)s, 0, 0 FROM mall_member "
            "WHERE username LIKE 'exp-%%' ORDER BY id",
            {"p": per_account},
        )
        cur.execute(
            "INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason, "
            "reference, fingerprint, rule_version, created_at) "
            "SELECT id, 'setup:' || id, 'earn', %(p)s, %(p)s, 'bench setup', '', '', '', "
            "now() - interval '2 years' FROM points_account ORDER BY id",
            {"p": per_account},
        )
        cur.execute(
            """
            INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at,
                expires_at, created_at)
            SELECT e.account_id, e.id, k * %(points)s, k * %(points)s, false,
                   now() - interval '2 years' + k * interval '1 month',
                   now() - interval '1 day' - (%(n)s - k) * interval '1 day',
                   now() - interval '2 years' + k * interval '1 month'
            FROM generate_series(1, %(n)s) k
            CROSS JOIN points_entry e
            WHERE e.key LIKE 'setup:%%'
            ORDER BY k, e.account_id
            """,
            {"points": LOT_POINTS, "n": LOTS_PER_ACCOUNT},
        )
        conn.commit()
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) points_lot, points_account, points_entry, mall_member")
        # No autovacuum wakes up in one copy and not the other in the middle of a timed run.
        for table in ("points_lot", "points_account", "points_entry"):
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


def reason_template() -> str:
    """The reason format the service writes, in the site's default language."""
    from django.conf import settings
    from django.utils.translation import gettext, override

    with override(settings.LANGUAGE_CODE):
        return gettext("%(points)s points expired") % {"points": "%s"}


def run_sql(url: str, now: datetime) -> tuple[float, int]:
    """Time the one statement (and its commit) on database ``url``; returns (seconds, points)."""
    from bench.dbs import connect

    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        conn.commit()
        start = time.perf_counter()
        cur.execute(EXPIRE_SQL, {"now": now, "run": now.isoformat(), "reason": reason_template()})
        points = cur.fetchone()[0]
        conn.commit()
        return time.perf_counter() - start, int(points)


def run_service(url: str, now: datetime) -> dict:
    """Run ``expire_due(now)`` in a child process on database ``url``; returns its report."""
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="mall.settings")
    env.setdefault("DEBUG", "1")
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / "run.py"), "--expire-child", now.isoformat()],
        env=env, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"expire_due child failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_main(now_iso: str) -> None:
    """In the child: set up Django, connect, then time ``expire_due`` and watch the peak RSS."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.DEBUG = False  # no query log: measure the service as production runs it
    from points.services import expire_due

    connection.ensure_connection()
    now = datetime.fromisoformat(now_iso)
    # ru_maxrss (KiB on Linux) is the high-water mark of the whole process, start-up included.
    # Where Linux allows, reset the high-water mark first so the peak is expire_due's own.
    reset = _reset_peak_rss()
    rss_before = _proc_status_kb("VmRSS")
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    points = expire_due(now)
    seconds = time.perf_counter() - start
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm_after = _proc_status_kb("VmHWM") if reset else None
    connection.close()
    if hwm_after is not None and rss_before is not None:
        growth = max(0, hwm_after - rss_before)
    else:
        growth = maxrss_after - maxrss_before
    print(json.dumps({"seconds": seconds, "points": int(points), "rss_before_kb": rss_before,
                      "maxrss_before_kb": maxrss_before, "maxrss_after_kb": maxrss_after,
                      "peak_growth_kb": growth}))


def _proc_status_kb(field: str):
    try:
        with open("/proc/self/status") as status:
            for row in status:
                if row.startswith(field + ":"):
                    return int(row.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def state(url: str) -> tuple:
    """A fingerprint of the ledger after expiry, to check both sides wrote the same thing."""
    from bench.dbs import connect

    with connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT SUM(available) FROM points_account),"
            " (SELECT SUM(lifetime_expired) FROM points_account),"
            " (SELECT count(*) FROM points_lot WHERE remaining > 0),"
            " (SELECT count(*) FROM points_entry WHERE kind = 'expire'),"
            " (SELECT SUM(delta) FROM points_entry)"
        ).fetchone()
