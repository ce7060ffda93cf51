"""Member pages: signing in, out and up, and what needs a signed-in member."""


import pytest
from django.test import Client

from mall.invite import invite_code
from mall.models import Member
from points.models import Entry
from tests.factories import MemberFactory
from tests.pages.helpers import available, messages_of, text

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- sign-in required


@pytest.mark.parametrize("url", [
    # The mall and product pages are open to anonymous visitors (tests/pages/test_anonymous_mall.py).
    "/", "/points/", "/mall/1/redeem/", "/redemptions/", "/redemptions/1/",
    "/redemptions/1/cancel/", "/invite/", "/team/", "/accounts/profile/",
])
def test_member_pages_redirect_anonymous_visitors_to_sign_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_check_in_needs_sign_in(client):
    response = client.post("/check-in/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/check-in/"


# --------------------------------------------------------------------------- sign in / out


def test_login_page_renders_in_chinese_by_default(db):
    response = Client().get("/accounts/login/")

    assert response.status_code == 200
    assert '<html lang="zh-hans">' in text(response)
    assert 'name="csrfmiddlewaretoken"' in text(response)


def test_login_signs_in_and_follows_a_local_next(client, member):
    response = client.post("/accounts/login/", {"username": member.username,
                                                "password": "pass-for-tests-1", "next": "/mall/"})

    assert response.status_code == 302
    assert response["Location"] == "/mall/"
    assert client.get("/").status_code == 200


def test_login_ignores_a_next_on_another_site(client, member):
    response = client.post("/accounts/login/", {"username": member.username,
                                                "password": "pass-for-tests-1",
                                                "next": "https://evil.example/steal"})

    assert response["Location"] == "/"


def test_login_with_phone_number(client):
    member = MemberFactory(phone="13800138000")

    response = client.post("/accounts/login/", {"username": "13800138000",
                                                "password": "pass-for-tests-1"})

    assert response.status_code == 302
    assert client.get("/").context["user"] == member


def test_login_with_a_wrong_password_is_refused(client, member):
    response = client.post("/accounts/login/", {"username": member.username, "password": "nope"})

    assert response.status_code == 400
    assert "The username or password is not correct." in text(response)
    assert client.get("/").status_code == 302


def test_login_with_missing_fields_shows_field_errors(client):
    response = client.post("/accounts/login/", {"username": "", "password": ""})

    assert response.status_code == 400
    assert text(response).count("This field is required.") == 2


def test_login_is_throttled_per_username_and_address(client, member):
    for _ in range(5):
        assert client.post("/accounts/login/", {"username": member.username,
                                                "password": "wrong"}).status_code == 400

    # Now even the right password is refused from this address for this username...
    response = client.post("/accounts/login/", {"username": member.username,
                                                "password": "pass-for-tests-1"})
    assert response.status_code == 429
    assert "Too many failed sign-ins. Please try again in 15 minutes." in text(response)
    assert client.get("/").status_code == 302

    # ...while the same username from another address, and another username, still work.
    other = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="10.9.8.7")
    assert other.post("/accounts/login/", {"username": member.username,
                                           "password": "pass-for-tests-1"}).status_code == 302
    someone = MemberFactory()
    assert client.post("/accounts/login/", {"username": someone.username,
                                            "password": "pass-for-tests-1"}).status_code == 302


def test_logout_is_a_post(member_client):
    assert member_client.get("/accounts/logout/").status_code == 405

    response = member_client.post("/accounts/logout/", follow=True)

    assert response.redirect_chain == [("/accounts/login/", 302)]
    assert messages_of(response) == ["You have signed out."]
    assert member_client.get("/").status_code == 302


def test_signed_in_member_visiting_login_goes_home(member_client):
    assert member_client.get("/accounts/login/")["Location"] == "/"
    assert member_client.get("/accounts/register/")["Location"] == "/"


# --------------------------------------------------------------------------- register


def test_register_link_keeps_the_invite_code_in_the_form(client):
    code = invite_code(MemberFactory())
    response = client.get(f"/accounts/register/?invite={code}")

    assert response.status_code == 200
    assert f'name="invite_code" value="{code}"' in text(response)
    assert f"Invited with code {code}" in text(response)
    # A code no one holds stays in the field (the sign-up will say so) but claims no invitation.
    response = client.get("/accounts/register/?invite=AB12CD34")
    assert 'name="invite_code" value="AB12CD34"' in text(response)
    assert "Invited with code" not in text(response)


def test_register_creates_the_member_signs_in_and_earns_the_register_points(client):
    inviter = MemberFactory()
    response = client.post("/accounts/register/", {
        "username": "newbie", "password": "a-long-passphrase-9", "password2": "a-long-passphrase-9",
        "phone": "13900000001", "invite_code": invite_code(inviter),
    }, follow=True)

    assert response.redirect_chain == [("/", 302)]
    assert messages_of(response) == ["Welcome! You earned 200 points for joining."]
    member = Member.objects.get(username="newbie")
    assert (member.phone, response.context["user"]) == ("13900000001", member)
    assert member.referral.inviter == inviter
    assert member.check_password("a-long-passphrase-9")
    assert available(member) == 200
    assert list(Entry.objects.filter(account__member=member).values_list("kind", "delta")) == [
        ("earn", 200)]
    assert 'data-testid="available">200<' in text(response)


def test_register_errors_keep_the_input_and_the_invite_code(client):
    MemberFactory(username="taken")

    response = client.post("/accounts/register/", {
        "username": "Taken", "password": "a-long-passphrase-9", "password2": "a-long-passphrase-9",
        "invite_code": "AB12CD34",
    })

    assert response.status_code == 400
    assert "This username is taken by another member." in text(response)
    assert 'name="invite_code" value="AB12CD34"' in text(response)
    assert 'name="username" value="Taken"' in text(response)
    assert Member.objects.filter(username__iexact="taken").count() == 1


def test_register_refuses_different_passwords_a_weak_password_and_a_bad_invite_code(client):
    response = client.post("/accounts/register/", {
        "username": "x1", "password": "a-long-passphrase-9", "password2": "another-one-9",
        "invite_code": "no!",
    })
    assert response.status_code == 400
    assert "The two passwords differ." in text(response)
    assert "An invite code is 4 to 16 letters or digits." in text(response)

    response = client.post("/accounts/register/", {
        "username": "x1", "password": "12345678", "password2": "12345678",
    })
    assert response.status_code == 400
    assert "This password is too common." in text(response)
    assert "This password is entirely numeric." in text(response)
    assert not Member.objects.filter(username="x1").exists()


def test_register_refuses_a_taken_phone(client):
    MemberFactory(phone="13900000002")

    response = client.post("/accounts/register/", {
        "username": "x2", "password": "a-long-passphrase-9", "password2": "a-long-passphrase-9",
        "phone": "13900000002",
    })

    assert response.status_code == 400
    assert "This phone number is taken by another member." in text(response)
