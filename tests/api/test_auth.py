"""Auth API: tokens, refresh, expiry, sign-up with points, and login throttling."""

from datetime import timedelta
from unittest.mock import patch

import pytest
from rest_framework_simplejwt.utils import aware_utcnow

from mall.invite import invite_code
from mall.models import Member
from points.models import Entry
from points.selectors import balance
from tests.factories import MemberFactory

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
REGISTER = "/api/v1/auth/register/"
ME = "/api/v1/me/"
PASSWORD = "pass-for-tests-1"  # tests.factories.MemberFactory's

pytestmark = pytest.mark.django_db


def error(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --------------------------------------------------------------------------- tokens


def test_token_pair_for_a_username_and_password_opens_the_api(api, member):
    response = api.post(TOKEN, {"username": member.username, "password": PASSWORD})

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    me = api.get(ME, **bearer(response.json()["access"]))
    assert me.status_code == 200
    assert me.json()["username"] == member.username


def test_wrong_password_is_401_in_the_error_shape(api, member):
    response = api.post(TOKEN, {"username": member.username, "password": "wrong-password"})

    assert response.status_code == 401
    assert response.json() == error(
        "no_active_account", "No active account found with the given credentials"
    )
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_inactive_member_gets_no_token(api):
    member = MemberFactory(is_active=False)

    response = api.post(TOKEN, {"username": member.username, "password": PASSWORD})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


def test_token_request_without_fields_is_400_with_field_errors(api):
    response = api.post(TOKEN, {}, format="json")

    assert response.status_code == 400
    assert response.json() == error("invalid", "The request has invalid fields.", {
        "username": ["This field is required."],
        "password": ["This field is required."],
    })


def test_refresh_gives_a_new_working_access_token(api, member):
    pair = api.post(TOKEN, {"username": member.username, "password": PASSWORD}).json()

    response = api.post(REFRESH, {"refresh": pair["refresh"]})

    assert response.status_code == 200
    # Rotation: a new refresh token too (the one sent is used up: tests/trust/test_api_tokens.py).
    assert set(response.json()) == {"access", "refresh"}
    assert api.get(ME, **bearer(response.json()["access"])).status_code == 200


def test_refresh_refuses_an_access_token_and_garbage(api, member):
    pair = api.post(TOKEN, {"username": member.username, "password": PASSWORD}).json()

    for bad in (pair["access"], "not-a-token"):
        response = api.post(REFRESH, {"refresh": bad})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "token_not_valid"
        assert response.json()["error"]["fields"] == {}


def test_refresh_for_a_deactivated_member_is_401(api, member):
    pair = api.post(TOKEN, {"username": member.username, "password": PASSWORD}).json()
    Member.objects.filter(pk=member.pk).update(is_active=False)

    response = api.post(REFRESH, {"refresh": pair["refresh"]})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


def test_refresh_for_a_deleted_member_is_401_not_500(api):
    member = MemberFactory()  # no points account yet, so it can be deleted
    pair = api.post(TOKEN, {"username": member.username, "password": PASSWORD}).json()
    member.delete()

    response = api.post(REFRESH, {"refresh": pair["refresh"]})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


def issued_ago(api, member, minutes) -> dict:
    """A token pair as the API issued it ``minutes`` ago."""
    with patch("rest_framework_simplejwt.tokens.aware_utcnow",
               return_value=aware_utcnow() - timedelta(minutes=minutes)):
        return api.post(TOKEN, {"username": member.username, "password": PASSWORD}).json()


def test_access_token_lives_15_minutes_then_is_401_token_not_valid(api, member):
    assert api.get(ME, **bearer(issued_ago(api, member, 14)["access"])).status_code == 200

    response = api.get(ME, **bearer(issued_ago(api, member, 16)["access"]))

    assert response.status_code == 401
    assert response.json() == error("token_not_valid", "Given token not valid for any token type")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_refresh_token_lives_7_days(api, member):
    fresh = issued_ago(api, member, 7 * 24 * 60 - 5)["refresh"]
    stale = issued_ago(api, member, 7 * 24 * 60 + 5)["refresh"]

    assert api.post(REFRESH, {"refresh": fresh}).status_code == 200
    response = api.post(REFRESH, {"refresh": stale})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_no_credentials_and_a_forged_token_are_401(api, member, token_for):
    response = api.get(ME)
    assert response.status_code == 401
    assert response.json() == error("not_authenticated",
                                    "Authentication credentials were not provided.")

    forged = token_for(member)[:-4] + "AAAA"
    response = api.get(ME, **bearer(forged))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


# --------------------------------------------------------------------------- register


def test_register_creates_the_member_earns_the_register_points_and_returns_tokens(api):
    inviter = MemberFactory()
    response = api.post(REGISTER, {"username": "newbie", "password": "correct-horse-77",
                                   "phone": "13800138000", "invite_code": invite_code(inviter)})

    assert response.status_code == 201
    body = response.json()
    member = Member.objects.get(username="newbie")
    assert body["member"] == {
        "id": member.pk, "username": "newbie", "nickname": "", "phone": "138****8000",
        "tier": "normal", "tier_name": "Normal", "invite_code": invite_code(member),
        "joined": body["member"]["joined"],
    }
    assert member.phone == "13800138000"  # stored in full (encrypted), shown masked
    assert body["points"] == 200  # the default rule set's register behaviour
    assert member.check_password("correct-horse-77")
    assert balance(member).available == 200
    assert list(Entry.objects.filter(account__member=member).values_list("kind", "delta")) == [
        ("earn", 200)
    ]
    assert member.referral.inviter == inviter
    # The tokens work.
    assert api.get(ME, **bearer(body["access"])).json()["id"] == member.pk
    assert api.post(REFRESH, {"refresh": body["refresh"]}).status_code == 200


def test_register_without_phone(api):
    response = api.post(REGISTER, {"username": "nophone", "password": "correct-horse-77"})

    assert response.status_code == 201
    assert response.json()["member"]["phone"] is None
    assert Member.objects.get(username="nophone").phone is None


def test_register_duplicate_username_ignoring_case_is_400_field_error(api, member):
    response = api.post(REGISTER, {"username": member.username.upper(),
                                   "password": "correct-horse-77"})

    assert response.status_code == 400
    assert response.json() == error("invalid", "The request has invalid fields.", {
        "username": ["This username is taken by another member."],
    })
    assert Member.objects.count() == 1


def test_register_duplicate_phone_is_400_field_error(api):
    MemberFactory(phone="13800138000")

    response = api.post(REGISTER, {"username": "other", "password": "correct-horse-77",
                                   "phone": "13800138000"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "phone": ["This phone number is taken by another member."]
    }


def test_register_weak_password_is_400_with_the_validators_messages(api):
    response = api.post(REGISTER, {"username": "weakling", "password": "12345"})

    assert response.status_code == 400
    assert response.json() == error("invalid", "The request has invalid fields.", {
        "password": [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
            "This password is entirely numeric.",
        ],
    })
    assert not Member.objects.filter(username="weakling").exists()
    assert Entry.objects.count() == 0


def test_register_password_like_the_username_is_refused(api):
    response = api.post(REGISTER, {"username": "sunflower2026", "password": "sunflower2026"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "password": ["The password is too similar to the username."]
    }


@pytest.mark.parametrize(("field", "value", "message"), [
    ("username", "has space", "Enter a valid username. This value may contain only letters, "
                              "numbers, and @/./+/-/_ characters."),
    ("phone", "12-34", "Enter a phone number of 6 to 20 digits."),
    ("invite_code", "no!", "No member has this invite code."),  # code invalid_invite_code
    ("password", "x" * 129, "Ensure this field has no more than 128 characters."),
])
def test_register_malformed_fields_are_400(api, field, value, message):
    data = {"username": "fine", "password": "correct-horse-77", field: value}

    response = api.post(REGISTER, data)

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [message]}
    if field == "invite_code":
        assert response.json()["error"]["code"] == "invalid_invite_code"
    assert not Member.objects.exists()


# --------------------------------------------------------------------------- throttling


def test_login_is_throttled_per_username_from_any_address(api, member, throttle_rates):
    throttle_rates(login_username="3/min", login_ip="100/min")
    attempts = [
        api.post(TOKEN, {"username": member.username, "password": "wrong-password"},
                 REMOTE_ADDR=f"10.0.0.{n}").status_code
        for n in range(3)
    ]
    # Another case of the same name shares the counter; the right password does not help.
    response = api.post(TOKEN, {"username": member.username.upper(), "password": PASSWORD},
                        REMOTE_ADDR="10.0.0.99")

    assert attempts == [401, 401, 401]
    assert response.status_code == 429
    body = response.json()
    assert body["error"]["code"] == "throttled"
    assert body["error"]["fields"] == {}
    assert body["error"]["message"].startswith("Request was throttled.")
    assert 0 < int(response["Retry-After"]) <= 60
    # Another username is not affected.
    other = MemberFactory()
    assert api.post(TOKEN, {"username": other.username, "password": PASSWORD},
                    REMOTE_ADDR="10.0.0.99").status_code == 200


def test_login_is_throttled_per_address_across_usernames(api, throttle_rates):
    throttle_rates(login_username="100/min", login_ip="3/min")
    members = MemberFactory.create_batch(4)
    statuses = [
        api.post(TOKEN, {"username": m.username, "password": PASSWORD},
                 REMOTE_ADDR="10.1.1.1").status_code
        for m in members
    ]

    assert statuses == [200, 200, 200, 429]
    assert api.post(TOKEN, {"username": members[3].username, "password": PASSWORD},
                    REMOTE_ADDR="10.1.1.2").status_code == 200


def test_a_forged_forwarded_for_header_does_not_dodge_the_address_throttle(api, throttle_rates):
    throttle_rates(login_username="100/min", login_ip="2/min")
    member = MemberFactory()
    statuses = [
        api.post(TOKEN, {"username": member.username, "password": PASSWORD},
                 REMOTE_ADDR="10.2.2.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
        for n in range(3)
    ]

    assert statuses == [200, 200, 429]


def test_register_is_throttled_per_address(api, throttle_rates):
    throttle_rates(register="2/min")
    statuses = [
        api.post(REGISTER, {"username": f"signup{n}", "password": "correct-horse-77"}).status_code
        for n in range(3)
    ]

    assert statuses == [201, 201, 429]
    assert Member.objects.count() == 2


def test_signed_in_requests_are_throttled_per_member(member_api, throttle_rates):
    throttle_rates(user="2/min")

    statuses = [member_api.get(ME).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_a_body_that_is_not_json_is_415(api, member):
    response = api.post(TOKEN, {"username": member.username, "password": PASSWORD},
                        format="multipart")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert response.json()["error"]["fields"] == {}


def test_malformed_json_is_400_parse_error(api):
    response = api.post(REGISTER, data=b'{"username": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
