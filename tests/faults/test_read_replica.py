"""The read replica (common.db) against a real streaming replica of a private PostgreSQL
(pg_basebackup -R on another port): reads marked stale_ok go to it, reads inside a transaction and
unmarked reads to the primary, and when the replica is down the same reads fall back to the
primary without an error."""

import json
import os

from tests.faults import harness

PROBE = """
import json
from django.db import connections, transaction
from django.test import Client
from common.db import stale_reads
from mall.models import Member

def where(alias):
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_setting('port')")
        return cursor.fetchone()

out = {}
with stale_reads():
    alias = Member.objects.all().db
    out["stale_ok"] = [alias, *where(alias)]
    out["members_seen"] = Member.objects.filter(username__startswith="fault-x").count()
    with transaction.atomic():
        out["in_transaction"] = Member.objects.all().db
out["unmarked"] = Member.objects.all().db
client = Client(HTTP_ACCEPT_LANGUAGE="en")
out["mall_page"] = client.get("/mall/").status_code
out["products_api"] = client.get("/api/v1/products/").status_code
print(json.dumps(out))
"""


def start_replica(primary) -> harness.PrivatePostgres:
    replica = harness.PrivatePostgres()
    replica.user = primary.user
    replica.dir.mkdir(parents=True)
    if replica.user:
        from pgserver.utils import ensure_user_exists

        entry = ensure_user_exists(replica.user)
        os.chown(replica.dir, entry.pw_uid, entry.pw_gid)
    # -c fast: a spread checkpoint would make the primary wait minutes for its next one.
    replica._run("pg_basebackup", "-D", str(replica.data), "-h", "127.0.0.1", "-p", str(primary.port),
                 "-U", "postgres", "-R", "-X", "stream", "-c", "fast", timeout=300)
    with open(replica.data / "postgresql.conf", "a") as conf:
        conf.write(f"\nport = {replica.port}\nhot_standby = on\n")
    replica.start()
    return replica


def probe(env) -> dict:
    return json.loads(harness.manage(env, "shell", "-c", PROBE).strip().splitlines()[-1])


def test_stale_reads_go_to_the_replica_and_fall_back_to_the_primary_when_it_is_down(pg):
    harness.seed(pg_env := harness.app_env(pg, None), "expiring_lots(5, 1)")
    replica = start_replica(pg)
    try:
        env = {**pg_env, "REPLICA_DATABASE_URL": replica.url}
        harness.wait_for(lambda: replica.query("SELECT count(*) FROM mall_member")[0][0] > 0,
                         timeout=30, what="the replica caught up")
        up = probe(env)
        assert up["stale_ok"] == ["replica", True, str(replica.port)], up
        assert up["members_seen"] == 5
        assert up["in_transaction"] == "default" and up["unmarked"] == "default"
        assert up["mall_page"] == 200 and up["products_api"] == 200
        print(f"\n[fault] replica: stale_ok reads served by the standby on port {replica.port}")

        replica.stop()
        down = probe(env)
        assert down["stale_ok"] == ["default", False, str(pg.port)], down
        assert down["members_seen"] == 5
        assert down["mall_page"] == 200 and down["products_api"] == 200
        print("[fault] replica down: the same reads answered by the primary, no error")
    finally:
        replica.destroy()
