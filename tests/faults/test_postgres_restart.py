"""PostgreSQL restarted while threads post the shop's signed order hooks and members redeem, over
HTTP to the app under gunicorn. The senders retry what failed (a 5xx or a broken connection) with
the same event id / Idempotency-Key, as the shop and the apps do. Afterwards every event is
applied exactly once, the balances match a model the test keeps itself, the ledger invariants
hold, and the same gunicorn worker process, never restarted, answers again."""

import hashlib
import hmac
import json
import random
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime

import httpx

from tests.conftest import INVARIANT_SQL
from tests.faults import harness

HOOKS_SECRET = "fault-hooks-secret"
MEMBERS = 8
ORDERS_PER_MEMBER = 16
REDEMPTIONS_PER_MEMBER = 5
GRANT = 1000  # available points per member at the start
PRICE = 100  # the product's points price
SENDERS = 4
REDEEMERS = 2
DEADLINE = 120  # seconds for every request to get through, retries included
ORDERS, REDEEM = "/api/v1/hooks/orders/", "/api/v1/redemptions/"


class Sender:
    """Posts requests until each gets a final answer; retries 5xx and connection errors."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.retries = Counter()
        self.answers = []
        self.lock = threading.Lock()
        self.done = 0

    def send(self, client, path, body: bytes, headers: dict, sign: bool):
        deadline = time.monotonic() + DEADLINE
        while True:
            request_headers = {"Content-Type": "application/json", "Accept-Language": "en", **headers}
            if sign:  # re-signed per attempt (fresh timestamp), the body is the same bytes
                timestamp = str(int(time.time()))
                request_headers["X-Timestamp"] = timestamp
                request_headers["X-Signature"] = hmac.new(
                    HOOKS_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
            try:
                response = client.post(path, content=body, headers=request_headers)
            except httpx.TransportError as exc:
                outcome = type(exc).__name__
            else:
                if response.status_code < 500:
                    with self.lock:
                        self.answers.append((path, response.status_code))
                        self.done += 1
                    return response
                outcome = str(response.status_code)
            with self.lock:
                self.retries[outcome] += 1
            assert time.monotonic() < deadline, f"{path} never got through"
            time.sleep(0.1)

    def run(self, jobs):
        with httpx.Client(base_url=self.base_url, timeout=15) as client:
            for job in jobs:
                response = self.send(client, *job)
                assert response.status_code in (200, 201), (job[0], response.status_code, response.text)


def order(event_id, member, amount):
    return json.dumps({
        "event_id": event_id, "type": "order.paid",
        "order": {"id": f"o-{event_id}", "member": member, "amount": f"{amount}.00",
                  "paid_at": datetime.now(UTC).isoformat(),
                  "lines": [{"sku": "apple", "amount": f"{amount}.00"}]},
    }).encode()


def test_a_postgres_restart_loses_and_doubles_nothing(pg, redis_server, processes, tmp_path):
    env = harness.app_env(pg, redis_server, HOOKS_SECRET=HOOKS_SECRET, DB_CONN_MAX_AGE="60",
                          API_THROTTLE_USER="1000000/min")
    seeded = harness.seed(env, f"hooks_and_redemptions({MEMBERS}, {GRANT}, {PRICE})")
    app = harness.AppServer(env, log=tmp_path / "gunicorn.log")
    processes.append(app)
    app.start()
    workers_before = app.worker_pids
    assert len(workers_before) == 1

    # The independent model: what each member must have once everything is applied.
    rng = random.Random(16)
    expected_pending, expected_available = defaultdict(int), defaultdict(int)
    order_jobs, redeem_jobs = [], []
    for m in seeded["members"]:
        expected_available[m["id"]] = GRANT - REDEMPTIONS_PER_MEMBER * PRICE
        for n in range(ORDERS_PER_MEMBER):
            amount = rng.randint(5, 95)  # 1 point per yuan, normal tier, below every spend bonus
            expected_pending[m["id"]] += amount
            body = order(f"{m['external_id']}-{n}", m["external_id"], amount)
            order_jobs.append((ORDERS, body, {}, True))
        for n in range(REDEMPTIONS_PER_MEMBER):
            headers = {"Authorization": f"Bearer {m['token']}", "Idempotency-Key": f"fault-{n}"}
            redeem_jobs.append((REDEEM, json.dumps({"product": seeded["product"]}).encode(), headers, False))
    rng.shuffle(order_jobs)
    rng.shuffle(redeem_jobs)
    total = len(order_jobs) + len(redeem_jobs)

    sender = Sender(app.url)
    errors = []

    def run(jobs):
        try:
            sender.run(jobs)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(order_jobs[i::SENDERS],)) for i in range(SENDERS)]
    threads += [threading.Thread(target=run, args=(redeem_jobs[i::REDEEMERS],)) for i in range(REDEEMERS)]
    for thread in threads:
        thread.start()
    harness.wait_for(lambda: sender.done >= total // 4, timeout=60, interval=0.01, what="a quarter done")
    done_at_stop = sender.done
    pg.stop("fast")  # down for a second under load, then back: a restart the senders feel
    time.sleep(1)
    pg.start()
    restarted_at = sender.done
    for thread in threads:
        thread.join(DEADLINE + 30)
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    print(f"\n[fault] postgres stopped after {done_at_stop} of {total} requests, up again after "
          f"{restarted_at}; retries: {dict(sender.retries)}")
    assert sum(sender.retries.values()) > 0, "the restart was not felt: nothing to retry"

    # The same server process answers after the restart, without having been restarted.
    assert app.process.poll() is None and app.worker_pids == workers_before
    with httpx.Client(base_url=app.url, timeout=10) as client:
        first = seeded["members"][0]
        extra = sender.send(client, ORDERS, order("after-restart", first["external_id"], 7), {}, True)
        assert extra.status_code == 200
        assert client.get("/healthz/").status_code == 200
    expected_pending[first["id"]] += 7

    # Every event exactly once.
    events, redemptions = ORDERS_PER_MEMBER * MEMBERS + 1, MEMBERS * REDEMPTIONS_PER_MEMBER
    count = pg.query
    assert count("SELECT count(*), count(DISTINCT event_id) FROM mall_hookevent "
                 "WHERE endpoint = 'orders'") == [(events, events)]
    assert count("SELECT count(*) FROM points_order") == [(events,)]
    assert count("SELECT count(*) FROM points_entry WHERE kind = 'earn'") == [(events + MEMBERS,)]  # + grants
    assert count("SELECT count(*), count(DISTINCT key) FROM catalog_redemption") == [(redemptions,) * 2]
    assert count("SELECT count(*) FROM points_entry WHERE kind = 'spend'") == [(redemptions,)]
    assert count("SELECT sold FROM catalog_product WHERE id = %s", [seeded["product"]]) == [(redemptions,)]

    # The balances are the model's.
    balances = {member_id: (available, pending) for member_id, available, pending in pg.query(
        "SELECT member_id, available, pending FROM points_account")}
    for m in seeded["members"]:
        assert balances[m["id"]] == (expected_available[m["id"]], expected_pending[m["id"]]), m["external_id"]
    assert pg.query(INVARIANT_SQL) == []
    print(f"[fault] postgres: {events} order events and {redemptions} redemptions applied once each; "
          f"balances match the model; the same gunicorn worker {sorted(workers_before)} throughout")
