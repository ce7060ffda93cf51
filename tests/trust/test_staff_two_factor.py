"""Two-factor staff sign-in (issue 16, staff access: mall.staff_security): with
STAFF_2FA_REQUIRED a staff user reaches nothing of the console before a TOTP or recovery code;
the setting cannot be turned off when DEBUG is off."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib import admin
from django.test import RequestFactory, override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from mall.settings import staff_2fa_required
from mall.staff_security import issue_recovery_codes

ROOT = Path(__file__).resolve().parents[2]
SETUP, VERIFY, INDEX = "/admin/otp/setup/", "/admin/otp/verify/", "/admin/"
MEMBERS = "/admin/mall/member/"

required = override_settings(STAFF_2FA_REQUIRED=True)


def code_of(device, *, offset: int = 0) -> str:
    """The code the authenticator app shows now (``offset`` steps later)."""
    value = totp(device.bin_key, step=device.step, t0=device.t0 - offset * device.step,
                 digits=device.digits, drift=device.drift)
    return f"{value:0{device.digits}d}"


def a_wrong_code(device) -> str:
    right = {code_of(device, offset=offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222") if code not in right)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def device(staff):
    return TOTPDevice.objects.create(user=staff, name="authenticator", confirmed=True)


# --------------------------------------------------------------------------- the gate


@required
@pytest.mark.django_db
def test_an_unverified_staff_user_without_a_device_is_sent_to_the_setup(staff_client):
    for path in (INDEX, MEMBERS, "/admin/reports/", "/admin/login/"):
        response = staff_client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(SETUP), path
    assert staff_client.get(INDEX)["Location"] == f"{SETUP}?next=%2Fadmin%2F"


@required
@pytest.mark.django_db
def test_an_unverified_staff_user_with_a_device_is_sent_to_the_verify_page(staff_client, device):
    response = staff_client.get(MEMBERS)
    assert response.status_code == 302
    assert response["Location"] == f"{VERIFY}?next=%2Fadmin%2Fmall%2Fmember%2F"
    # Another device cannot be added with the password alone.
    assert staff_client.get(SETUP)["Location"] == VERIFY
    # POSTs to the console are refused the same way (no change goes through).
    assert staff_client.post(MEMBERS, {"action": "delete_selected"})["Location"].startswith(VERIFY)


@required
@pytest.mark.django_db
def test_the_console_itself_refuses_an_unverified_staff_user(staff, device):
    request = RequestFactory().get(INDEX)
    request.user = staff
    staff.is_verified = lambda: False
    assert admin.site.has_permission(request) is False
    staff.is_verified = lambda: True
    assert admin.site.has_permission(request) is True


@pytest.mark.django_db
def test_without_the_requirement_the_console_opens_with_the_password_only(staff_client):
    # DEBUG (the test settings) leaves it off by default: make run's demo staff are exempt.
    assert staff_client.get(INDEX).status_code == 200


@required
@pytest.mark.django_db
def test_members_and_anonymous_visitors_are_not_affected(client, member):
    assert client.get(INDEX)["Location"].startswith("/admin/login/")
    client.force_login(member)
    assert client.get("/accounts/profile/").status_code == 200
    assert client.get(INDEX)["Location"].startswith("/admin/login/")


@required
@pytest.mark.django_db
def test_the_password_sign_in_leads_to_the_second_factor(client, staff, device):
    response = client.post("/admin/login/?next=/admin/", {
        "username": staff.username, "password": "pass-for-tests-1", "next": "/admin/"})
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"].startswith(VERIFY)


# --------------------------------------------------------------------------- verify


@required
@pytest.mark.django_db
def test_a_wrong_code_is_refused(staff_client, device, staff):
    response = staff_client.post(VERIFY, {"code": a_wrong_code(device), "next": INDEX},
                                 HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert "This code is not correct, or was used already." in response.content.decode()
    assert staff_client.get(INDEX)["Location"].startswith(VERIFY)
    assert LogEntry.objects.filter(additional_data__event="auth.2fa_failed", object_pk=str(staff.pk)).exists()


@required
@pytest.mark.django_db
def test_the_right_totp_code_opens_the_console(staff_client, device, staff):
    page = staff_client.get(VERIFY, {"next": MEMBERS}, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "Enter the code your authenticator app shows" in page.content.decode()

    response = staff_client.post(VERIFY, {"code": code_of(device), "next": MEMBERS})

    assert response.status_code == 302 and response["Location"] == MEMBERS
    assert staff_client.get(MEMBERS).status_code == 403  # past the gate: down to the permissions
    assert staff_client.get(INDEX).status_code == 200
    assert LogEntry.objects.filter(additional_data__event="auth.2fa_verified",
                                   additional_data__method="totp").exists()


@required
@pytest.mark.django_db
def test_an_outside_next_is_not_followed(staff_client, device):
    response = staff_client.post(VERIFY, {"code": code_of(device), "next": "https://evil.example/"})
    assert response["Location"] == INDEX


@required
@pytest.mark.django_db
def test_a_recovery_code_works_once(client, staff, device):
    codes = issue_recovery_codes(staff)
    assert len(codes) == len(set(codes)) == 10

    client.force_login(staff)
    assert client.post(VERIFY, {"code": codes[3].upper()})["Location"] == INDEX
    assert client.get(INDEX).status_code == 200
    assert StaticToken.objects.filter(device__user=staff).count() == 9

    client.post("/admin/logout/")
    client.force_login(staff)
    again = client.post(VERIFY, {"code": codes[3]})
    assert again.status_code == 400
    assert client.get(INDEX)["Location"].startswith(VERIFY)


# --------------------------------------------------------------------------- setup


@required
@pytest.mark.django_db
def test_setting_up_shows_a_qr_code_confirms_with_a_first_code_and_issues_recovery_codes(
        staff_client, staff):
    page = staff_client.get(SETUP, {"next": INDEX}, HTTP_ACCEPT_LANGUAGE="en")

    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'class="otp-qr"' in html  # rendered here, no QR service
    assert "Scan this QR code" in html
    pending = TOTPDevice.objects.get(user=staff)
    assert not pending.confirmed
    secret = re.search(r'data-testid="otp-secret"[^>]*>([^<]+)<', html).group(1)
    from base64 import b32encode

    assert secret.replace(" ", "") == b32encode(pending.bin_key).decode().rstrip("=")
    # Reloading keeps the same secret (the app scanned it already).
    staff_client.get(SETUP)
    assert TOTPDevice.objects.get(user=staff).pk == pending.pk

    done = staff_client.post(SETUP, {"code": code_of(pending), "next": INDEX}, HTTP_ACCEPT_LANGUAGE="en")

    assert done.status_code == 200
    shown = re.findall(r"<li>([a-z2-7]+)</li>", done.content.decode())
    assert len(shown) == 10
    assert sorted(shown) == sorted(StaticToken.objects.filter(device__user=staff)
                                   .values_list("token", flat=True))
    assert TOTPDevice.objects.get(user=staff).confirmed
    assert staff_client.get(INDEX).status_code == 200  # verified by the first code
    assert LogEntry.objects.filter(additional_data__event="auth.2fa_setup", object_pk=str(staff.pk)).exists()


@required
@pytest.mark.django_db
def test_setup_refuses_a_wrong_first_code(staff_client, staff):
    staff_client.get(SETUP)
    pending = TOTPDevice.objects.get(user=staff)

    response = staff_client.post(SETUP, {"code": a_wrong_code(pending)}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert "This code is not correct." in response.content.decode()
    assert not TOTPDevice.objects.get(user=staff).confirmed
    assert not StaticToken.objects.filter(device__user=staff).exists()
    assert staff_client.get(INDEX)["Location"].startswith(SETUP)


@required
@pytest.mark.django_db
def test_the_pages_want_a_signed_in_staff_user(client, member):
    assert client.get(SETUP)["Location"].startswith("/admin/login/")
    client.force_login(member)
    assert client.get(VERIFY)["Location"].startswith("/admin/login/")


# --------------------------------------------------------------------------- the setting


def test_the_requirement_cannot_be_turned_off_without_debug():
    assert staff_2fa_required(False, None) is True
    assert staff_2fa_required(False, "0") is True
    assert staff_2fa_required(False, "false") is True
    assert staff_2fa_required(True, None) is False
    assert staff_2fa_required(True, "") is False
    assert staff_2fa_required(True, "1") is True


def test_production_settings_require_two_factors_whatever_the_environment_says():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "HOOKS_SECRET")}
    env.update(DJANGO_SETTINGS_MODULE="mall.settings", DEBUG="0", STAFF_2FA_REQUIRED="0",
               SECRET_KEY="x" * 50, HOOKS_SECRET="hooks-secret", ALLOWED_HOSTS="mall.example.com",
               FIELD_ENCRYPTION_KEYS="k1:MDEyMzQ1Njc4OWFiY2RlZg==")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
                               "print(settings.STAFF_2FA_REQUIRED, settings.STAFF_SESSION_IDLE_MINUTES)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "30"]
