"""Staff sessions end after inactivity, and the console's sign-in is throttled with its lockouts
in the audit trail (issue 16, staff access: mall.staff_security)."""

import time

import pytest
from auditlog.models import LogEntry
from axes.models import AccessAttempt
from django.conf import settings
from django.test import override_settings

from mall.staff_security import IDLE_SESSION_KEY

pytestmark = pytest.mark.django_db
INDEX, LOGIN = "/admin/", "/admin/login/"


def last_seen(client, seconds_ago: int) -> None:
    """Time travel: the session says the previous request was ``seconds_ago`` ago."""
    session = client.session
    session[IDLE_SESSION_KEY] = int(time.time()) - seconds_ago
    session.save()


def test_a_staff_session_idle_past_the_limit_is_signed_out(client, staff):
    client.force_login(staff)
    assert client.get(INDEX).status_code == 200
    assert isinstance(client.session[IDLE_SESSION_KEY], int)

    last_seen(client, 31 * 60)
    response = client.get(INDEX, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    assert "You were signed out after 30 minutes without activity." in page.content.decode()
    assert LogEntry.objects.filter(additional_data__event="auth.idle_logout",
                                   object_pk=str(staff.pk)).exists()


def test_activity_within_the_limit_keeps_the_staff_session(client, staff):
    client.force_login(staff)
    for _ in range(3):
        last_seen(client, 29 * 60)
        assert client.get(INDEX).status_code == 200
    # Each request moves the mark forward (at most once a minute).
    assert int(time.time()) - client.session[IDLE_SESSION_KEY] < 60
    mark = client.session[IDLE_SESSION_KEY]
    client.get(INDEX)
    assert client.session[IDLE_SESSION_KEY] == mark


@override_settings(STAFF_SESSION_IDLE_MINUTES=5)
def test_the_limit_is_a_setting(client, staff):
    client.force_login(staff)
    client.get(INDEX)
    last_seen(client, 6 * 60)
    assert client.get(INDEX)["Location"].startswith(LOGIN)


def test_member_sessions_are_not_affected(client, member):
    client.force_login(member)
    client.get("/accounts/profile/")
    assert IDLE_SESSION_KEY not in client.session
    session = client.session
    session[IDLE_SESSION_KEY] = int(time.time()) - 24 * 3600
    session.save()
    assert client.get("/accounts/profile/").status_code == 200


def test_a_staff_user_idle_on_the_member_pages_is_signed_out_there_too(client, staff):
    client.force_login(staff)
    client.get("/accounts/profile/")
    last_seen(client, 31 * 60)
    assert client.get("/accounts/profile/")["Location"].startswith("/accounts/login/")


# --------------------------------------------------------------------------- the console's sign-in


def test_the_console_sign_in_is_locked_out_after_repeated_failures_and_the_lockout_audited(client, staff):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(LOGIN, {"username": staff.username, "password": "wrong"},
                               REMOTE_ADDR="10.9.8.7")
        assert response.status_code == 200  # the form again, with its error
    assert not LogEntry.objects.filter(additional_data__event="auth.lockout").exists()

    # The attempt that reaches the limit keeps its own answer; from then on the right password
    # is refused too, on the console's own sign-in page.
    client.post(LOGIN, {"username": staff.username, "password": "wrong"}, REMOTE_ADDR="10.9.8.7")
    refused = client.post(LOGIN, {"username": staff.username, "password": "pass-for-tests-1"},
                          REMOTE_ADDR="10.9.8.7", HTTP_ACCEPT_LANGUAGE="en")

    assert refused.status_code == 429
    html = refused.content.decode()
    assert "Too many failed sign-ins. Please try again in 15 minutes." in html
    assert 'id="login-form"' in html  # unfold's console sign-in, not the member page
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.filter(username=staff.username).exists()
    record = LogEntry.objects.filter(additional_data__event="auth.lockout").first()
    assert record is not None
    assert record.object_pk == str(staff.pk)
    assert record.additional_data["username"] == staff.username
    assert record.additional_data["ip_address"] == "10.9.8.7"
    assert record.remote_addr == "10.9.8.7"
    # Another address is not locked out.
    other = client.post(LOGIN, {"username": staff.username, "password": "pass-for-tests-1"},
                        REMOTE_ADDR="10.1.1.1")
    assert other.status_code == 302


def test_a_lockout_of_an_unknown_username_is_recorded_on_the_members(client):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "nobody-here", "password": "wrong"}, REMOTE_ADDR="10.2.2.2")
    record = LogEntry.objects.filter(additional_data__event="auth.lockout").get()
    assert record.object_pk == "" and record.additional_data["username"] == "nobody-here"
