"""A validly signed token whose ``user_id`` claim is not a member id is a 401 ``token_not_valid``,
as an access token and as a refresh token (mall.authentication, issue 8 §4); it never reaches
``Member.objects.get`` (where ``"abc"`` was a 500 and ``true`` member 1)."""

import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from mall.authentication import is_member_id

pytestmark = pytest.mark.django_db

ME, REFRESH = "/api/v1/me/", "/api/v1/auth/token/refresh/"
NOT_IDS = ["abc", "", "1.0", "-1", " 1", "１", "9" * 20, [1], {"id": 1}, None, True, False, 0, -3, 1.0]


def token(kind, member, user_id):
    made = kind.for_user(member)
    made["user_id"] = user_id
    return str(made)


@pytest.mark.parametrize("user_id", NOT_IDS, ids=repr)
def test_an_access_token_naming_no_member_id_is_401(api, member, user_id):
    response = api.get(ME, HTTP_AUTHORIZATION=f"Bearer {token(AccessToken, member, user_id)}")
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "token_not_valid", "fields": {},
                                          "message": "Given token not valid for any token type"}}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("user_id", NOT_IDS, ids=repr)
def test_a_refresh_token_naming_no_member_id_is_401(api, member, user_id):
    response = api.post(REFRESH, {"refresh": token(RefreshToken, member, user_id)}, format="json")
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "token_not_valid", "fields": {},
                                          "message": "Token has no valid member id"}}


def test_member_ids_as_text_or_integer_still_work(api, member):
    for user_id in (str(member.pk), member.pk):
        response = api.get(ME, HTTP_AUTHORIZATION=f"Bearer {token(AccessToken, member, user_id)}")
        assert (response.status_code, response.json()["id"]) == (200, member.pk)
        response = api.post(REFRESH, {"refresh": token(RefreshToken, member, user_id)}, format="json")
        assert response.status_code == 200


def test_an_unknown_member_id_is_still_user_not_found(api, member):
    response = api.get(ME, HTTP_AUTHORIZATION=f"Bearer {token(AccessToken, member, '9' * 19)}")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "user_not_found")


def test_is_member_id():
    assert [is_member_id(value) for value in ("1", "42", "0012", 7)] == [True] * 4
    assert [is_member_id(value) for value in NOT_IDS if value not in ("", )] == [False] * (len(NOT_IDS) - 1)


def test_the_refusal_is_translated(api, member):
    response = api.post(REFRESH, {"refresh": token(RefreshToken, member, "abc")}, format="json",
                        HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.json()["error"]["message"] == "令牌中没有有效的会员 ID"
