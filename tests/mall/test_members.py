"""The members service (mall.services.members), the one sign-in backend and django-axes: every
way in meets the same rules (issue 8 §3)."""

import pytest
from django.contrib.auth import authenticate
from django.db import IntegrityError
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from common.errors import InvalidFields
from mall.errors import MemberNotFound
from mall.models import Member
from mall.services import members
from points.models import Entry
from tests.factories import MemberFactory
from tests.mall.signing import post_hook

PASSWORD = "pass-for-tests-1"
TAKEN = "This username is taken by another member."
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    from django.utils import translation

    with translation.override("en"):
        yield


# --------------------------------------------------------------------------- usernames ignoring case


def test_the_database_refuses_a_username_that_differs_only_in_case():
    MemberFactory(username="alice")
    with pytest.raises(IntegrityError):
        Member.objects.create(username="ALICE")


def test_sign_up_refuses_a_username_that_differs_only_in_case():
    MemberFactory(username="alice")
    with pytest.raises(InvalidFields) as refused:
        members.register(username="Alice", password="a-long-enough-pass-9")
    assert refused.value.fields == {"username": [TAKEN]}
    assert Member.objects.filter(username__iexact="alice").count() == 1


def test_the_shop_hook_cannot_create_alice_beside_alice():
    MemberFactory(username="alice")
    response = post_hook(Client(HTTP_ACCEPT_LANGUAGE="en"), "/api/v1/hooks/members/", {
        "event_id": "m-ci-1", "member": {"external_id": "u-ci", "username": "Alice"}})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"member": {"username": [TAKEN]}}
    assert not Member.objects.filter(external_id="u-ci").exists()
    assert Entry.objects.count() == 0


def test_the_shop_hook_cannot_rename_a_member_onto_another_name_in_other_case():
    client = Client()
    MemberFactory(username="bob")
    MemberFactory(username="ext_u-1", external_id="u-1")
    response = post_hook(client, "/api/v1/hooks/members/", {
        "event_id": "m-ci-2", "member": {"external_id": "u-1", "username": "BOB"}})

    assert response.status_code == 400
    assert Member.objects.get(external_id="u-1").username == "ext_u-1"


# --------------------------------------------------------------------------- the service


def test_by_external_id_raises_member_not_found():
    with pytest.raises(MemberNotFound) as missing:
        members.by_external_id("nobody")
    assert (missing.value.code, missing.value.kind) == ("member_not_found", "not_found")


def test_change_phone_refuses_a_phone_another_member_holds_and_changes_nothing():
    MemberFactory(phone="13600000000")
    member = MemberFactory(phone="13600000001")
    with pytest.raises(InvalidFields) as refused:
        members.change_phone(member, phone="13600000000")
    assert refused.value.fields == {"phone": ["This phone number is taken by another member."]}
    member.refresh_from_db()
    assert member.phone == "13600000001"


def test_change_phone_sets_and_removes_the_phone():
    member = MemberFactory()
    members.change_phone(member, phone="13600000002")
    assert Member.objects.get(pk=member.pk).phone == "13600000002"
    members.change_phone(member, phone=None)
    assert Member.objects.get(pk=member.pk).phone is None


# --------------------------------------------------------------------------- one backend


def test_the_backend_takes_a_username_or_a_phone():
    member = MemberFactory(phone="13700000000")
    request = RequestFactory().post("/accounts/login/")
    assert authenticate(request, username=member.username, password=PASSWORD) == member
    assert authenticate(request, username="13700000000", password=PASSWORD) == member
    assert authenticate(request, username="13700000000", password="wrong") is None


def test_a_username_wins_over_someone_elses_phone():
    owner = MemberFactory(username="13700000009")
    MemberFactory(phone="13700000009", password="other-pass-for-tests")
    request = RequestFactory().post("/accounts/login/")
    assert authenticate(request, username="13700000009", password=PASSWORD) == owner


def test_the_api_token_endpoint_accepts_a_phone_too():
    MemberFactory(phone="13700000001")
    response = APIClient().post("/api/v1/auth/token/", {"username": "13700000001", "password": PASSWORD},
                                format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


def test_the_admin_login_accepts_a_phone_too():
    MemberFactory(phone="13700000002", is_staff=True, is_superuser=True)
    response = Client().post("/admin/login/", {"username": "13700000002", "password": PASSWORD,
                                               "next": "/admin/"})
    assert response.status_code == 302 and response.url == "/admin/"


# --------------------------------------------------------------------------- django-axes


def test_failed_api_sign_ins_lock_the_username_and_address_as_on_the_pages(settings):
    framework = dict(settings.REST_FRAMEWORK)
    framework["DEFAULT_THROTTLE_RATES"] = {**framework["DEFAULT_THROTTLE_RATES"],
                                           "login_username": "100/min", "login_ip": "100/min"}
    settings.REST_FRAMEWORK = framework
    member = MemberFactory()
    api = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    statuses = [api.post("/api/v1/auth/token/", {"username": member.username, "password": "wrong"},
                         format="json").status_code for _ in range(5)]
    right = api.post("/api/v1/auth/token/", {"username": member.username, "password": PASSWORD},
                     format="json")

    assert statuses == [401] * 5  # the fifth failure is answered as what it is
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "throttled"
    assert int(right["Retry-After"]) == 900
    # The pages count the same failures: the same username from the same address is locked there too.
    page = Client(HTTP_ACCEPT_LANGUAGE="en").post("/accounts/login/", {"username": member.username,
                                                                         "password": PASSWORD})
    assert page.status_code == 429
