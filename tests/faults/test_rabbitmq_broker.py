"""Celery on RabbitMQ (``CELERY_BROKER_URL=amqp://...``) as well as Redis: a worker consuming from
the machine's RabbitMQ (on a queue of this test's own, so nothing else there is touched) runs the
real expiry job against a private PostgreSQL, and a second delivery of the job changes nothing."""

import socket
import time
import uuid

import pytest
from celery import Celery

from tests.conftest import INVARIANT_SQL
from tests.faults import harness
from tests.faults.test_worker_kill import expired_accounts

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
ACCOUNTS = 40


def rabbitmq_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


def test_the_jobs_run_on_a_rabbitmq_broker(pg, processes, tmp_path):
    if not rabbitmq_up():
        pytest.fail("RabbitMQ is not answering on 127.0.0.1:5672 (the machine runs one: start it)")
    queue = f"mall-fault-{uuid.uuid4().hex[:8]}"
    env = harness.app_env(pg, None, CELERY_BROKER_URL=RABBITMQ)
    # The settings take the broker from CELERY_BROKER_URL.
    shown = harness.manage(env, "shell", "-c",
                           "from django.conf import settings; print(settings.CELERY_BROKER_URL)")
    assert shown.strip().splitlines()[-1] == RABBITMQ
    harness.seed(env, f"expiring_lots({ACCOUNTS}, 2)")

    worker = harness.subprocess.Popen(
        [harness.PYTHON, "-m", "celery", "-A", "mall", "worker", "--pool", "solo", "-Q", queue,
         "--loglevel", "INFO", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=harness.ROOT, env=env, stdout=open(tmp_path / "worker.log", "ab"),
        stderr=harness.subprocess.STDOUT, start_new_session=True)
    processes.append(worker)
    broker = Celery(broker=RABBITMQ)
    started = time.monotonic()
    broker.send_task("points.expire_due", queue=queue)
    harness.wait_for(lambda: expired_accounts(pg) == ACCOUNTS, timeout=120, interval=0.1,
                     what="the expiry job run by the RabbitMQ worker")
    print(f"\n[fault] rabbitmq: the worker ran the expiry job for {ACCOUNTS} accounts in "
          f"{time.monotonic() - started:.1f} s")
    broker.send_task("points.expire_due", queue=queue)  # delivered twice: the second finds nothing
    time.sleep(3)
    assert pg.query("SELECT count(*) FROM points_entry WHERE kind = 'expire'") == [(ACCOUNTS,)]
    assert pg.query(INVARIANT_SQL) == []
    with broker.connection_for_write() as connection:  # leave RabbitMQ as it was
        connection.default_channel.queue_delete(queue)
