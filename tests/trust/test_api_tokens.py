"""API tokens (issue 16, staff access): refresh tokens rotate and are blacklisted on use and on
logout; a password change revokes every token of the member (mall.services.accounts,
mall.authentication)."""

from datetime import timedelta
from unittest.mock import patch

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import aware_utcnow

from mall.models import Member
from mall.services import accounts
from tests.factories import MemberFactory
from tests.threads import failures, run_together

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
PASSWORD_API = "/api/v1/me/password/"
ME = "/api/v1/me/"
PASSWORD = "pass-for-tests-1"
NEW_PASSWORD = "a-brand-new-secret-42"


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def sign_in(api, member, password=PASSWORD) -> dict:
    response = api.post(TOKEN, {"username": member.username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


def code(response):
    return response.json()["error"]["code"]


@pytest.mark.django_db
def test_a_refresh_token_works_once_and_its_successor_works(api, member):
    pair = sign_in(api, member)

    first = api.post(REFRESH, {"refresh": pair["refresh"]})
    again = api.post(REFRESH, {"refresh": pair["refresh"]})
    assert first.status_code == 200
    assert again.status_code == 401 and code(again) == "token_not_valid"

    successor = api.post(REFRESH, {"refresh": first.json()["refresh"]})
    assert successor.status_code == 200
    assert api.get(ME, **bearer(successor.json()["access"])).status_code == 200


@pytest.mark.django_db
def test_logout_blacklists_the_refresh_token(api, member):
    pair = sign_in(api, member)

    response = api.post(LOGOUT, {"refresh": pair["refresh"]})

    assert response.status_code == 204
    refused = api.post(REFRESH, {"refresh": pair["refresh"]})
    assert refused.status_code == 401 and code(refused) == "token_not_valid"
    # Twice, or with anything that is not a live refresh token: 401, never a 500.
    for bad in (pair["refresh"], pair["access"], "not-a-token", "0" * 2000):
        refused = api.post(LOGOUT, {"refresh": bad})
        assert refused.status_code == 401 and code(refused) == "token_not_valid"
        assert refused["WWW-Authenticate"] == 'Bearer realm="api"'
    missing = api.post(LOGOUT, {})
    assert missing.status_code == 400 and "refresh" in missing.json()["error"]["fields"]


@pytest.mark.django_db
def test_changing_the_password_by_api_revokes_every_token(api, member):
    phone, laptop = sign_in(api, member), sign_in(api, member)

    response = api.post(PASSWORD_API, {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                        **bearer(phone["access"]))

    assert response.status_code == 200
    fresh = response.json()
    for pair in (phone, laptop):
        old_access = api.get(ME, **bearer(pair["access"]))
        assert old_access.status_code == 401 and code(old_access) == "token_revoked"
        assert api.post(REFRESH, {"refresh": pair["refresh"]}).status_code == 401
    # The answer's pair is issued after the revocation: it works, and so does signing in anew.
    assert api.get(ME, **bearer(fresh["access"])).status_code == 200
    assert api.post(REFRESH, {"refresh": fresh["refresh"]}).status_code == 200
    assert api.post(TOKEN, {"username": member.username, "password": PASSWORD}).status_code == 401
    assert api.get(ME, **bearer(sign_in(api, member, NEW_PASSWORD)["access"])).status_code == 200


@pytest.mark.django_db
def test_password_change_refusals_are_field_errors_and_change_nothing(api, member):
    pair = sign_in(api, member)

    wrong = api.post(PASSWORD_API, {"current_password": "nope", "new_password": NEW_PASSWORD},
                     **bearer(pair["access"]))
    weak = api.post(PASSWORD_API, {"current_password": PASSWORD, "new_password": "123"},
                    **bearer(pair["access"]))

    assert wrong.status_code == 400 and "current_password" in wrong.json()["error"]["fields"]
    assert weak.status_code == 400 and "new_password" in weak.json()["error"]["fields"]
    assert api.get(ME, **bearer(pair["access"])).status_code == 200
    member.refresh_from_db()
    assert member.check_password(PASSWORD) and member.tokens_valid_after is None
    assert api.post(PASSWORD_API, {"current_password": PASSWORD,
                                   "new_password": NEW_PASSWORD}).status_code == 401


@pytest.mark.django_db
def test_changing_the_password_on_the_page_revokes_the_tokens_and_keeps_the_session(client, member):
    api = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    pair = sign_in(api, member)
    client.force_login(member)

    response = client.post("/accounts/password/", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    assert client.get("/accounts/profile/").status_code == 200  # still signed in here
    assert code(api.get(ME, **bearer(pair["access"]))) == "token_revoked"
    assert api.post(REFRESH, {"refresh": pair["refresh"]}).status_code == 401
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_the_page_shows_a_wrong_current_password_on_its_field(client, member):
    client.force_login(member)
    response = client.post("/accounts/password/", {
        "current_password": "wrong", "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "The current password is not correct." in response.content.decode()


@pytest.mark.django_db
def test_tokens_issued_before_the_revocation_are_refused_even_without_auth_time(api, member):
    # A token of simplejwt's own (no auth_time claim: issued before this change) is judged by iat.
    with patch("rest_framework_simplejwt.tokens.aware_utcnow",
               return_value=aware_utcnow() - timedelta(minutes=2)):
        old = RefreshToken.for_user(member)
        access = str(old.access_token)
    accounts.revoke_tokens(member, now=timezone.now() - timedelta(minutes=1))

    response = api.get(ME, **bearer(access))
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "token_revoked", "fields": {},
        "message": "This token was revoked (a password change or a sign-out everywhere). "
                   "Please sign in again."}
    # A new sign-in right after (the same second) is not caught by it.
    assert api.get(ME, **bearer(sign_in(api, member)["access"])).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_racing_with_one_token_give_one_new_pair():
    member = MemberFactory()
    refresh = sign_in(APIClient(), member)["refresh"]

    def refresh_once(_i):
        return APIClient().post(REFRESH, {"refresh": refresh}, format="json").status_code

    results = run_together(4, refresh_once)

    assert not failures(results)
    assert sorted(results) == [200, 401, 401, 401]
    assert Member.objects.filter(pk=member.pk).exists()
