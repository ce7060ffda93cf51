"""Every response under /api/ is JSON in the error shape (common.http, common.middleware, issue
8 §4): unmatched routes, bodies over the upload limit (refused by Content-Length, unread), 405,
415, Django's own 400/403 and a 500. The member pages keep Django's pages."""

import io
import json
from unittest.mock import patch

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory

from common import http
from common.middleware import BodySizeLimitMiddleware
from tests.mall.signing import post_hook

pytestmark = pytest.mark.django_db

LIMIT = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # 2.5 MB, Django's default


@pytest.fixture
def client():
    c = Client(HTTP_ACCEPT_LANGUAGE="en")
    c.raise_request_exception = False
    return c


def error(response, status, code, message):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {"code": code, "message": message, "fields": {}}}


@pytest.mark.parametrize("path", ["/api/", "/api/v1/", "/api/v1/nope/", "/api/v2/me/",
                                  "/api/v1/me/points/nope/", "/api/v1/checkout/holds/x/capture/",
                                  "/api/v1/checkout/holds/" + "9" * 5000 + "/release/",
                                  "/api/v1/hooks/", "/api/%ED%A0%80/"])
def test_an_unmatched_api_route_is_a_json_404(client, path):
    for method in (client.get, client.post, client.delete):
        error(method(path), 404, "not_found", "There is no such API endpoint.")


def test_the_404_is_translated(client):
    response = client.get("/api/v1/nope/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.json()["error"]["message"] == "没有这个 API 接口。"


def test_an_unmatched_page_is_still_djangos_404_page(client):
    response = client.get("/nope/")
    assert (response.status_code, response["Content-Type"]) == (404, "text/html; charset=utf-8")


@pytest.mark.parametrize(("path", "signed"), [
    ("/api/v1/auth/token/", False), ("/api/v1/auth/register/", False), ("/api/v1/me/", False),
    ("/api/v1/redemptions/", False), ("/api/v1/hooks/orders/", True), ("/api/v1/checkout/holds/", True),
])
def test_a_body_over_the_limit_is_a_413_by_its_content_length(client, path, signed):
    body = b'{"a": "' + b"x" * LIMIT + b'"}'
    if signed:
        response = post_hook(client, path, body=body, headers={"Accept-Language": "en"})
    else:
        response = client.post(path, data=body, content_type="application/json")
    error(response, 413, "too_large", f"The body may be at most {LIMIT} bytes.")


def test_the_413_comes_before_anything_reads_the_body():
    class Unreadable(io.RawIOBase):
        def read(self, *args):
            raise AssertionError("the body was read")

    request = RequestFactory().post("/api/v1/auth/token/", data=b"", content_type="application/json",
                                    CONTENT_LENGTH=str(LIMIT + 1))
    request.META["wsgi.input"] = Unreadable()
    middleware = BodySizeLimitMiddleware(lambda request: pytest.fail("the view was called"))
    response = middleware(request)
    assert response.status_code == 413


def test_a_body_at_the_limit_goes_through(client):
    body = b"x" * LIMIT
    response = post_hook(client, "/api/v1/hooks/orders/", body=body, headers={"Accept-Language": "en"})
    error(response, 400, "parse_error", "The body is not valid JSON (line 1, column 1).")
    malformed_length = client.post("/api/v1/auth/token/", data=b"{}", content_type="application/json",
                                   CONTENT_LENGTH="lots")
    assert malformed_length.status_code == 400  # read as 0, as Django reads it: no body


def test_a_large_form_on_a_page_is_still_djangos_answer(client):
    response = client.post("/accounts/login/", data={"username": "x" * (LIMIT + 10), "password": "p"})
    assert (response.status_code, response["Content-Type"]) == (400, "text/html; charset=utf-8")


def test_405_and_415_are_json(client, member):
    from rest_framework_simplejwt.tokens import RefreshToken

    bearer = {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(member).access_token}"}
    error(client.delete("/api/v1/me/", **bearer), 405, "method_not_allowed",
          'Method "DELETE" not allowed.')
    error(client.get("/api/v1/me/check-in/", **bearer), 405, "method_not_allowed",
          'Method "GET" not allowed.')
    error(client.get("/api/v1/hooks/members/"), 405, "method_not_allowed", 'Method "GET" not allowed.')
    error(client.put("/api/v1/checkout/quote/"), 401, "invalid_timestamp",
          "Missing or malformed X-Timestamp.")  # the signature comes first on checkout
    form = "application/x-www-form-urlencoded"
    error(client.patch("/api/v1/me/", data="nickname=x", content_type=form, **bearer),
          415, "unsupported_media_type", f'Unsupported media type "{form}" in request.')
    error(client.post("/api/v1/auth/token/", data="<a/>", content_type="text/xml"),
          415, "unsupported_media_type", 'Unsupported media type "text/xml" in request.')


def test_djangos_400_under_the_api_is_json(client):
    # An unknown Host is Django's SuspiciousOperation (DisallowedHost), answered by handler400.
    error(client.get("/api/v1/me/", HTTP_HOST="evil.example"), 400, "bad_request",
          "The request is malformed.")
    page = client.get("/accounts/login/", HTTP_HOST="evil.example")
    assert (page.status_code, page["Content-Type"]) == (400, "text/html; charset=utf-8")


def test_djangos_403_under_the_api_is_json():
    request = RequestFactory().get("/api/v1/me/")
    response = http.permission_denied(request, PermissionDenied())
    assert (response.status_code, json.loads(response.content)["error"]["code"]) == (
        403, "permission_denied")
    page = http.permission_denied(RequestFactory().get("/mall/"), PermissionDenied())
    assert (page.status_code, page["Content-Type"]) == (403, "text/html; charset=utf-8")


def test_a_bug_under_the_api_is_a_json_500_and_a_page_keeps_djangos(client, member):
    from rest_framework_simplejwt.tokens import RefreshToken

    bearer = {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(member).access_token}"}
    with patch("mall.member_api.MemberOutputSerializer.to_representation", side_effect=RuntimeError):
        error(client.get("/api/v1/me/", **bearer), 500, "server_error",
              "Something went wrong on our side. It has been logged.")
    with patch("mall.views.render", side_effect=RuntimeError):
        page = client.get("/accounts/login/")
    assert (page.status_code, page["Content-Type"]) == (500, "text/html; charset=utf-8")
