from unittest import mock

from django.db.utils import OperationalError


def test_healthz_reports_database_and_cache(client, db):
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "ledger": "unknown"}


def test_healthz_is_503_when_the_database_is_down(client, db):
    with mock.patch("mall.views.connection.cursor", side_effect=OperationalError("down")):
        response = client.get("/healthz/")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable", "database": "error: OperationalError", "cache": "ok",
        "ledger": "unknown",
    }


def test_healthz_stays_200_when_the_cache_fails(client, db):
    with mock.patch("mall.views.cache.set", side_effect=ConnectionError("redis down")):
        response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json()["cache"] == "error: ConnectionError"


def test_healthz_only_answers_get(client, db):
    assert client.post("/healthz/").status_code == 405


def _run(started, mismatches, finished=True):
    from datetime import timedelta

    from points.models import ReconciliationRun

    return ReconciliationRun.objects.create(
        started_at=started, finished_at=started + timedelta(minutes=1) if finished else None,
        accounts_checked=10, mismatch_count=mismatches)


def test_healthz_reports_the_latest_finished_reconciliation(client, db):
    from datetime import timedelta

    from django.utils import timezone

    from points import services

    assert services.reconcile().mismatch_count == 0
    assert client.get("/healthz/").json()["ledger"] == "ok"

    later = timezone.now() + timedelta(hours=1)
    _run(later, 3)
    response = client.get("/healthz/")
    assert response.status_code == 200  # a mismatch is for monitoring, not the load balancer
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "ledger": "mismatch"}

    _run(later + timedelta(hours=1), 0, finished=False)  # still running: not a result yet
    assert client.get("/healthz/").json()["ledger"] == "mismatch"
    _run(later + timedelta(hours=2), 0)
    assert client.get("/healthz/").json()["ledger"] == "ok"
