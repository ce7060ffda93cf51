"""A celery worker (broker: a private Redis; database: the private PostgreSQL) killed with SIGKILL
in the middle of the points expiry job, which commits batch by batch; running the job again
completes it, and every due lot is expired exactly once: one expire entry per account, its lots
emptied, the balances and the ledger invariants right."""

import os
import signal
import subprocess
import time

from celery import Celery

from tests.conftest import INVARIANT_SQL
from tests.faults import harness

ACCOUNTS = 3000
LOTS = 2  # per account: 10 and 11 points
BATCH = 25  # accounts per transaction in the worker: 120 batches


def start_worker(env, log):
    return subprocess.Popen(
        [harness.PYTHON, "-m", "tests.faults.worker", str(BATCH), "--pool", "solo", "--loglevel",
         "INFO", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=harness.ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
        start_new_session=True)


def expired_accounts(pg) -> int:
    return pg.query("SELECT count(DISTINCT account_id) FROM points_entry WHERE kind = 'expire'")[0][0]


def test_a_worker_killed_mid_expiry_loses_and_doubles_nothing(pg, redis_server, processes, tmp_path):
    env = harness.app_env(pg, redis_server)
    seeded = harness.seed(env, f"expiring_lots({ACCOUNTS}, {LOTS})")
    assert seeded["accounts"] == ACCOUNTS
    due_points = pg.query("SELECT sum(remaining) FROM points_lot WHERE expires_at <= now()")[0][0]
    assert due_points == ACCOUNTS * (10 + 11)
    broker = Celery(broker=redis_server.url)

    worker = start_worker(env, tmp_path / "worker1.log")
    processes.append(worker)
    broker.send_task("points.expire_due")
    harness.wait_for(lambda: expired_accounts(pg) >= ACCOUNTS // 4, timeout=120, interval=0.01,
                     what="the expiry job a quarter done")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)
    killed_after = expired_accounts(pg)
    print(f"\n[fault] worker SIGKILLed with {killed_after} of {ACCOUNTS} accounts expired")
    assert 0 < killed_after < ACCOUNTS, "the kill did not land in the middle of the job"
    assert pg.query(INVARIANT_SQL) == []  # the batch in flight was rolled back whole

    worker = start_worker(env, tmp_path / "worker2.log")  # a new worker runs the job again
    processes.append(worker)
    started = time.monotonic()
    broker.send_task("points.expire_due")
    harness.wait_for(lambda: expired_accounts(pg) == ACCOUNTS, timeout=120, interval=0.1,
                     what="the re-run expiring every account")
    print(f"[fault] re-run completed the job in {time.monotonic() - started:.1f} s")
    harness.stop_process(worker)

    per_account = pg.query("""
        SELECT a.id, a.available, a.pending, a.lifetime_expired,
               count(e.id) FILTER (WHERE e.kind = 'expire'),
               COALESCE(sum(e.delta) FILTER (WHERE e.kind = 'expire'), 0)
        FROM points_account a JOIN mall_member m ON m.id = a.member_id
        LEFT JOIN points_entry e ON e.account_id = a.id
        WHERE m.username LIKE 'fault-x%%' GROUP BY a.id""")
    assert len(per_account) == ACCOUNTS
    wrong = [row for row in per_account if row[1:] != (0, 0, 21, 1, -21)]
    assert wrong == [], wrong[:5]
    assert pg.query("SELECT count(*) FROM points_lot WHERE remaining <> 0") == [(0,)]
    assert pg.query("SELECT count(*) FROM points_entry WHERE kind = 'expire'") == [(ACCOUNTS,)]
    assert pg.query(INVARIANT_SQL) == []
    # The killed worker's chunk (acks late) is redelivered some day: running it, or the whole job
    # again, does nothing.
    again = harness.manage(env, "shell", "-c", "from points.services import expire_due; print(expire_due())")
    assert again.strip().splitlines()[-1] == "0"
    assert pg.query("SELECT count(*) FROM points_entry WHERE kind = 'expire'") == [(ACCOUNTS,)]
    print(f"[fault] {ACCOUNTS} accounts x {LOTS} lots expired once each: {ACCOUNTS} expire entries, "
          f"{due_points} points, ledger invariants hold")
