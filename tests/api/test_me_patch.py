"""PATCH /api/v1/me/: nickname and phone, changed as the account page changes them; any other field
the body names is refused (400 ``read_only_field`` / ``unknown_field``), never ignored."""

import pytest

from mall.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def stored(member):
    member.refresh_from_db()
    return member.nickname, member.phone


def test_patch_sets_and_removes_the_phone(member_api, member):
    changed = member_api.patch(ME, {"phone": "+8613900001111"})
    assert changed.status_code == 200
    assert changed.json()["phone"] == "+86139****1111"  # the profile shows it masked
    assert stored(member)[1] == "+8613900001111"

    for removal in ("", None):
        Member.objects.filter(pk=member.pk).update(phone="13900002222")
        removed = member_api.patch(ME, {"phone": removal})
        assert removed.status_code == 200
        assert removed.json()["phone"] is None
        assert stored(member)[1] is None


def test_patch_refuses_a_phone_another_member_holds_and_saves_nothing(member_api, member):
    MemberFactory(phone="13900001111")
    before = stored(member)

    response = member_api.patch(ME, {"phone": "13900001111", "nickname": "Neo"})

    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid"
    assert body["fields"] == {"phone": ["This phone number is taken by another member."]}
    assert stored(member) == before


def test_patch_validates_the_phone_as_the_account_page_does(member_api, member):
    for bad in ("12345", "phone", "1" * 21, 13900001111):
        response = member_api.patch(ME, {"phone": bad})
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "invalid"
        assert list(response.json()["error"]["fields"]) == ["phone"], bad
    assert stored(member)[1] is None


def test_patch_with_the_phone_one_already_has_changes_nothing(member_api, member):
    Member.objects.filter(pk=member.pk).update(phone="13900001111")

    response = member_api.patch(ME, {"phone": "13900001111", "nickname": "Neo"})

    assert response.status_code == 200
    assert stored(member) == ("Neo", "13900001111")


def test_patch_refuses_read_only_fields_listing_them(member_api, member):
    before = stored(member)

    response = member_api.patch(ME, {"id": 1, "tier": "gold", "unread_messages": 0,
                                     "nickname": "Neo"})

    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "read_only_field"
    assert body["fields"] == {name: ["This field cannot be changed."]
                              for name in ("id", "tier", "unread_messages")}
    assert "id, tier, unread_messages" in body["message"]
    assert stored(member) == before
    member.refresh_from_db()
    assert member.tier == "normal"


def test_patch_refuses_unknown_fields_listing_them(member_api, member):
    before = stored(member)

    response = member_api.patch(ME, {"nick_name": "Neo", "password": "x", "nickname": "Neo"})

    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "unknown_field"
    assert body["fields"] == {"nick_name": ["There is no such field."],
                              "password": ["There is no such field."]}
    assert stored(member) == before


def test_patch_with_an_empty_body_changes_nothing(member_api, member):
    before = stored(member)

    response = member_api.patch(ME, {})

    assert response.status_code == 200
    assert stored(member) == before


def test_a_member_changes_only_their_own_profile(member_api, member):
    other = MemberFactory(phone="13900003333")

    response = member_api.patch(ME, {"id": other.pk, "nickname": "Neo"})

    assert response.status_code == 400
    assert stored(other)[0] != "Neo"


def test_patch_with_a_body_that_is_not_an_object_is_a_400_invalid(member_api, member):
    for body in ("null", "[]", '["nickname"]', "5"):
        response = member_api.patch(ME, body, content_type="application/json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid", body
