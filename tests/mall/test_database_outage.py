"""A database outage (PostgreSQL restarting, unreachable) is a 503 with Retry-After: the API's
JSON ``unavailable`` body, the pages' translated 503 page; never Django's HTML 500 (common.http,
common.middleware, issue 8 §4). The database is made unreachable for one request by patching
Django's cursor, never by stopping the shared server."""

import json
from contextlib import contextmanager
from unittest.mock import patch

import pytest
from django.db import InterfaceError, OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from mall.models import HookEvent, Member
from points import services
from points.models import Entry, Lot, Order
from tests.factories import MemberFactory
from tests.mall.signing import post_hook
from tests.points.ledger import T0

pytestmark = pytest.mark.django_db

# The test's own transaction must survive the outage: savepoints still reach the server.
SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@contextmanager
def database_down(error=OperationalError, *, after=0):
    """Every statement fails with ``error`` (as psycopg's would reach Django), after the first
    ``after`` statements of the request; yields the statements that failed, and in ``.passed``
    those that went through."""
    execute, failed = CursorWrapper.execute, Statements()

    def flaky(cursor, sql, params=None):
        if sql.startswith(SAVEPOINTS):
            return execute(cursor, sql, params)
        if len(failed.passed) < after:
            failed.passed.append(sql)
            return execute(cursor, sql, params)
        failed.append(sql)
        raise error("server closed the connection unexpectedly")

    with patch.object(CursorWrapper, "execute", flaky):
        yield failed


class Statements(list):
    def __init__(self):
        super().__init__()
        self.passed = []


@pytest.fixture
def api():
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.raise_request_exception = False
    return client


def bearer(member):
    return {"HTTP_AUTHORIZATION": f"Bearer {AccessToken.for_user(member)}"}


UNAVAILABLE = {"error": {"code": "unavailable", "fields": {},
                         "message": "The service is briefly unavailable. Try again in a few seconds."}}


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
@pytest.mark.parametrize(("method", "path"), [
    ("get", "/api/v1/me/"), ("get", "/api/v1/me/points/"), ("get", "/api/v1/me/points/entries/"),
    ("post", "/api/v1/me/check-in/"), ("get", "/api/v1/products/"), ("get", "/api/v1/redemptions/"),
])
def test_the_api_answers_503_json_with_retry_after(api, member, method, path, error):
    headers = bearer(member)
    with database_down(error) as failed:
        response = getattr(api, method)(path, **headers)
    assert failed  # the request did reach the database
    assert (response.status_code, response["Content-Type"], response["Retry-After"]) == (
        503, "application/json", "5")
    assert response.json() == UNAVAILABLE


def test_a_login_during_the_outage_is_a_503(api, member):
    with database_down():
        response = api.post("/api/v1/auth/token/", {"username": member.username, "password": "x"},
                            content_type="application/json")
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)


def test_the_503_is_translated(api, member):
    with database_down():
        response = api.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE="zh-hans", **bearer(member))
    assert response.json()["error"]["message"] == "服务暂时不可用，请几秒后重试。"


@pytest.mark.parametrize(("language", "title", "text"), [
    ("en", "Back in a moment", "The points mall is briefly unavailable. Please try again in a few seconds."),
    ("zh-hans", "马上回来", "积分商城暂时无法访问，请几秒后重试。"),
])
def test_a_page_answers_a_friendly_503(member, language, title, text):
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.raise_request_exception = False
    client.force_login(member)
    with database_down():
        response = client.get("/points/?kind=earn")
    assert (response.status_code, response["Content-Type"], response["Retry-After"]) == (
        503, "text/html; charset=utf-8", "5")
    page = response.content.decode()
    assert f"<h1>{title}</h1>" in page and text in page
    assert 'href="/points/?kind=earn"' in page


def test_a_database_error_outside_a_view_is_a_503_too(member):
    # The session is saved by its middleware after the view (here: a login): handler500's case.
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.raise_request_exception = False
    with patch("django.contrib.sessions.backends.db.SessionStore.save",
               side_effect=OperationalError("the database system is shutting down")):
        response = client.post("/accounts/login/", {"username": member.username,
                                                    "password": "pass-for-tests-1"})
    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert "Back in a moment" in response.content.decode()


def test_a_hook_cut_off_midway_writes_nothing_and_is_applied_on_redelivery(api):
    member = MemberFactory(external_id="u-1", tier="gold")
    services.earn(member, 10, key="seed", reason="r")
    payload = {"event_id": "e-1", "type": "order.paid", "order": {
        "id": "o-1", "member": "u-1", "amount": "100.00", "paid_at": "2026-01-10T10:00:00+08:00",
        "lines": [{"sku": "mango", "amount": "100.00"}]}}
    before = (HookEvent.objects.count(), Order.objects.count(), Entry.objects.count(),
              Lot.objects.count())
    with patch("django.utils.timezone.now", return_value=T0):
        # The connection goes after the event row is in (and the member and order are read).
        with database_down(after=4) as failed:
            response = post_hook(api, "/api/v1/hooks/orders/", payload)
        assert failed.passed[0].startswith("INSERT INTO mall_hookevent") and failed
        assert (response.status_code, json.loads(response.content)) == (503, UNAVAILABLE)
        assert (HookEvent.objects.count(), Order.objects.count(), Entry.objects.count(),
                Lot.objects.count()) == before
        redelivered = post_hook(api, "/api/v1/hooks/orders/", payload)
    assert redelivered.status_code == 200
    assert Entry.objects.count() == before[2] + 1
    assert Member.objects.get(pk=member.pk).external_id == "u-1"
