"""The security headers (issue 16): a Content-Security-Policy on every page with no inline script
(member pages and the API strict, the staff console with its stated exceptions), Permissions-Policy,
the language cookie, ``Cache-Control: private, no-store`` on member data, no ``Server`` banner, and
``SECURE_PROXY_SSL_HEADER`` only behind a proxy of ours (``API_NUM_PROXIES``)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import path

from mall import urls as mall_urls

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)


def boom(request):
    raise RuntimeError("an unhandled error, for the 500 page")


# This module is also a URLconf (``@pytest.mark.urls``): the site's, plus a view that fails.
urlpatterns = [path("boom/", boom), *mall_urls.urlpatterns]
handler404 = mall_urls.handler404
handler500 = mall_urls.handler500


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_strict(directives: dict) -> None:
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]


@pytest.fixture
def member_client(member):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(member)
    return client


@pytest.fixture
def admin_client(db):
    from tests.factories import MemberFactory

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(MemberFactory(username="root", is_staff=True, is_superuser=True))
    return client


# --------------------------------------------------------------------------- CSP


@pytest.mark.parametrize("url", ["/", "/mall/", "/points/", "/accounts/profile/", "/invite/",
                                 "/coupons/", "/redemptions/", "/messages/"])
def test_member_pages_have_the_strict_policy(member_client, url):
    response = member_client.get(url)
    assert response.status_code == 200
    assert_strict(policy(response))


@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/register/", "/mall/"])
def test_anonymous_pages_have_the_strict_policy(client, url):
    response = client.get(url)
    assert response.status_code == 200
    directives = policy(response)
    assert_strict(directives)
    assert "'unsafe-inline'" not in directives["script-src"]


def test_the_console_has_its_narrower_exceptions_only(client, admin_client):
    for response in (client.get("/admin/login/"), admin_client.get("/admin/"),
                     admin_client.get("/admin/mall/member/"), admin_client.get("/admin/mall/member/add/")):
        assert response.status_code == 200
        directives = policy(response)
        # Alpine.js (unfold) compiles its attributes with Function; no inline script runs.
        assert directives["script-src"] == ["'self'", "'unsafe-eval'"]
        assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
        assert directives["img-src"] == ["'self'"]
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
        assert directives["form-action"] == ["'self'"] and directives["base-uri"] == ["'self'"]


def test_the_api_docs_load_their_script_from_a_file(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    directives = policy(page)
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]  # Swagger UI's icons
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) and "<style" not in html
    script_url = re.search(r'<script src="([^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&")
    script = client.get(script_url)
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_api_answers_have_the_strict_policy(api_client, member):
    json_answer = api_client.get("/api/v1/me/")
    assert json_answer.status_code == 200 and json_answer["Content-Type"] == "application/json"
    assert_strict(policy(json_answer))
    browsable = api_client.get("/api/v1/me/", HTTP_ACCEPT="text/html")
    assert browsable.status_code == 200 and "text/html" in browsable["Content-Type"]
    directives = policy(browsable)
    assert directives["script-src"] == ["'self'"]  # style attributes of DRF's page only
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]


@pytest.mark.urls("tests.trust.test_headers")
def test_error_pages_have_the_policy():
    client = Client(raise_request_exception=False)
    not_found = client.get("/no-such-page/")
    assert not_found.status_code == 404
    assert_strict(policy(not_found))
    failed = client.get("/boom/")
    assert failed.status_code == 500
    assert_strict(policy(failed))
    api_404 = client.get("/api/v1/no-such-endpoint/")
    assert api_404.status_code == 404 and policy(api_404)["script-src"] == ["'self'"]


def project_templates() -> list[Path]:
    roots = [BASE_DIR / "templates"] + [
        BASE_DIR / app / "templates" for app in ("common", "mall", "points", "rules", "catalog", "referrals")
    ]
    return sorted(file for root in roots if root.is_dir() for file in root.rglob("*.html"))


def test_no_template_has_an_inline_script_or_handler():
    templates = project_templates()
    assert len(templates) > 50
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
    handler = re.compile(r"""\s(on[a-z]+|hx-on[:\w-]*)\s*=""", re.I)
    found = []
    for template in templates:
        text = template.read_text()
        name = template.relative_to(BASE_DIR)
        found += [f"{name}: inline <script>" for _ in inline_script.findall(text)]
        found += [f"{name}: {match} handler" for match in handler.findall(text)]
        found += [f"{name}: javascript: URL" for _ in re.findall(r"javascript:", text, re.I)]
        if "templates/admin" not in str(name):  # the console's policy allows inline styles
            found += [f"{name}: style" for _ in re.findall(r"<style|\sstyle=", text, re.I)]
    assert found == []


# --------------------------------------------------------------------------- other headers


def test_permissions_policy_on_pages_and_the_api(client, api_client, member):
    for response in (client.get("/accounts/login/"), api_client.get("/api/v1/me/")):
        features = dict(item.strip().split("=") for item in response["Permissions-Policy"].split(","))
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert features[feature] == "()"
        assert "web-share" not in features and "clipboard-write" not in features  # the invite page's


def test_member_data_is_private_and_not_stored(member_client, client, api_client, member):
    for response in (member_client.get("/"), member_client.get("/points/"), member_client.get("/mall/"),
                     api_client.get("/api/v1/me/"), api_client.get("/api/v1/products/"),
                     Client().get("/api/v1/me/")):
        directives = {part.strip() for part in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= directives and "public" not in directives
    anonymous = client.get("/mall/")
    assert anonymous.status_code == 200 and "no-store" not in anonymous.get("Cache-Control", "")


def test_uploads_stay_cacheable_for_members(member_client):
    upload = Path(settings.MEDIA_ROOT) / "csp-test-badge.png"  # the tests' own MEDIA_ROOT
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_bytes(b"\x89PNG\r\n\x1a\n")
    try:
        response = member_client.get(f"{settings.MEDIA_URL}{upload.name}")
    finally:
        upload.unlink()
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_static_files_keep_their_own_headers(settings):
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    response = Client().get("/static/css/mall.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    assert "Content-Security-Policy" not in response


def test_the_language_cookie_is_http_only_and_same_site(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"
    assert settings.SECURE_REFERRER_POLICY == "same-origin"
    assert response["Referrer-Policy"] == "same-origin"


def settings_with(**env) -> dict:
    """Settings as a fresh process reads them from this environment (DEBUG off, production-like)."""
    environment = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "API_NUM_PROXIES"}}
    environment.update(SECRET_KEY="a-long-random-production-secret-0123456789-abcdefghijklmnop",
                       HOOKS_SECRET="hooks", ALLOWED_HOSTS="mall.example.com",
                       FIELD_ENCRYPTION_KEYS="k1:MDEyMzQ1Njc4OWFiY2RlZg==", **env)
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps({'proxy': s.SECURE_PROXY_SSL_HEADER, 'secure': s.LANGUAGE_COOKIE_SECURE}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=environment, capture_output=True,
                         text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_proxy_header_is_trusted_only_behind_a_proxy_of_ours():
    assert settings_with() == {"proxy": None, "secure": True}
    behind_proxy = settings_with(API_NUM_PROXIES="1")
    assert behind_proxy == {"proxy": ["HTTP_X_FORWARDED_PROTO", "https"], "secure": True}
    assert settings_with(DEBUG="1")["secure"] is False


def test_check_deploy_is_clean_either_way():
    for proxies in ("0", "1"):
        environment = {key: value for key, value in os.environ.items() if key != "DEBUG"}
        environment.update(SECRET_KEY="a-long-random-production-secret-0123456789-abcdefghijklmnop",
                           HOOKS_SECRET="hooks", ALLOWED_HOSTS="mall.example.com", API_NUM_PROXIES=proxies,
                           FIELD_ENCRYPTION_KEYS="k1:MDEyMzQ1Njc4OWFiY2RlZg==")
        out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                             cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "no issues" in out.stdout


# --------------------------------------------------------------------------- Server banner


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_gunicorn_sends_no_server_header():
    port = free_port()
    db = settings.DATABASES["default"]
    environment = dict(os.environ, DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "mall.wsgi", "--workers", "1",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=BASE_DIR, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.3)
        assert response.status == 200
        assert "Server" not in response.headers
        assert "Content-Security-Policy" in response.headers
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page/", timeout=5)
        assert missing.value.code == 404 and "Server" not in missing.value.headers
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_development_server_sends_no_server_header(live_server):
    from common.server_banner import hide_server_banner

    hide_server_banner()
    response = urllib.request.urlopen(f"{live_server.url}/accounts/login/", timeout=10)
    assert response.status == 200 and "Server" not in response.headers


@pytest.fixture
def api_client(member):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    token = RefreshToken.for_user(member).access_token
    return APIClient(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def client():
    return Client(HTTP_ACCEPT_LANGUAGE="en")
