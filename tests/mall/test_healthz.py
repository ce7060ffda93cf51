from unittest import mock

from django.db.utils import OperationalError


def test_healthz_reports_database_and_cache(client, db):
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_healthz_is_503_when_the_database_is_down(client, db):
    with mock.patch("mall.views.connection.cursor", side_effect=OperationalError("down")):
        response = client.get("/healthz/")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable", "database": "error: OperationalError", "cache": "ok"
    }


def test_healthz_stays_200_when_the_cache_fails(client, db):
    with mock.patch("mall.views.cache.set", side_effect=ConnectionError("redis down")):
        response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json()["cache"] == "error: ConnectionError"


def test_healthz_only_answers_get(client, db):
    assert client.post("/healthz/").status_code == 405
