"""The inbox in the member API: own messages only, newest first, the unread filter, marking
read (idempotent), and the unread count in /me/. Exact bodies."""

from datetime import timedelta

import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone

from mall.models import Message
from mall.services import messages
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/me/messages/"
READ_ALL = "/api/v1/me/messages/read-all/"
T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)


def read_url(message_id) -> str:
    return f"/api/v1/me/messages/{message_id}/read/"


def send(member, purpose="win_back", period="p", *, minutes=0, **context):
    context = context or {"points": 200, "days": 60}
    messages.send(member, purpose, period=period, context=context, now=T0 + timedelta(minutes=minutes))
    return Message.objects.get(member=member, purpose=purpose, period=period)


def not_found():
    return {"error": {"code": "message_not_found", "message": "No such message.", "fields": {}}}


def test_list_is_the_members_own_newest_first_with_every_field(member_api, member):
    old = send(member, "expiry_reminder", "e1", minutes=1, points=1288, date="2026-12-31", days=30)
    new = send(member, "win_back", "w1", minutes=2)
    send(MemberFactory(), "welcome", "join")
    messages.mark_read(member, old.pk, now=T0 + timedelta(hours=1))

    response = member_api.get(LIST)

    assert response.status_code == 200
    assert response.json() == {
        "count": 2, "next": None, "previous": None,
        "results": [
            {"id": new.pk, "purpose": "win_back", "kind": "points", "kind_display": "Points",
             "title": "We miss you: 200 points for you",
             "body": "It has been 60 days. Here are 200 points to welcome you back to the points mall.",
             "link": "/mall/", "created_at": timezone.localtime(new.created_at).isoformat(),
             "read": False, "read_at": None},
            {"id": old.pk, "purpose": "expiry_reminder", "kind": "points", "kind_display": "Points",
             "title": "Points expiring soon",
             "body": "1,288 of your points expire on 2026-12-31 (30 days left). Redeem them for a "
                     "gift before they go.",
             "link": "/mall/?affordable=1", "created_at": timezone.localtime(old.created_at).isoformat(),
             "read": True, "read_at": timezone.localtime(T0 + timedelta(hours=1)).isoformat()},
        ],
    }


def test_text_is_in_the_requests_language(member, api_for):
    send(member)

    body = api_for(member, "zh-hans").get(LIST).json()["results"][0]

    assert body["title"] == "好久不见，送您200积分"
    assert body["kind_display"] == "积分"


def test_pages_newest_first(member_api, member):
    for n in range(5):
        send(member, period=f"w{n}", minutes=n)

    first = member_api.get(LIST, {"page_size": 2}).json()
    last = member_api.get(LIST, {"page_size": 2, "page": 3}).json()

    assert first["count"] == 5
    assert [m["id"] for m in first["results"]] == list(
        Message.objects.filter(period__in=["w4", "w3"]).order_by("-created_at").values_list("id", flat=True))
    assert first["next"].endswith("page=2&page_size=2")
    assert [m["id"] for m in last["results"]] == [Message.objects.get(period="w0").pk]
    assert member_api.get(LIST, {"page": 4, "page_size": 2}).status_code == 404


def test_unread_filter(member_api, member):
    read, unread = send(member, period="a"), send(member, period="b", minutes=1)
    messages.mark_read(member, read.pk)

    only_unread = member_api.get(LIST, {"unread": "true"}).json()
    only_read = member_api.get(LIST, {"unread": "false"}).json()
    either = member_api.get(LIST, {"unread": ""}).json()

    assert [m["id"] for m in only_unread["results"]] == [unread.pk]
    assert [m["id"] for m in only_read["results"]] == [read.pk]
    assert either["count"] == 2


@pytest.mark.parametrize("value", ["yes", "1", "True", "maybe"])
def test_a_bad_unread_value_is_a_400(member_api, member, value):
    response = member_api.get(LIST, {"unread": value})

    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid", "message": "The request has invalid fields.",
                                         "fields": {"unread": ["Must be true or false."]}}}


def test_read_marks_and_returns_the_message_idempotently(member_api, member):
    message = send(member)

    first = member_api.post(read_url(message.pk))
    second = member_api.post(read_url(message.pk))

    assert first.status_code == 200 and second.status_code == 200
    assert first.json()["id"] == message.pk and first.json()["read"] is True
    assert first.json()["read_at"] is not None
    assert second.json() == first.json()  # the first read time stays
    assert messages.unread_count(member) == 0


@pytest.mark.parametrize("raw", ["theirs", "0", "-1", "abc", "1.0", "１", "9" * 19, "9" * 30])
def test_another_members_unknown_or_malformed_id_is_404_message_not_found(member_api, member, raw):
    theirs = send(MemberFactory())
    target = theirs.pk if raw == "theirs" else raw

    response = member_api.post(read_url(target))

    assert response.status_code == 404
    assert response.json() == not_found()
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_read_all_marks_only_own_and_counts_what_it_marked(member_api, member):
    for n in range(3):
        send(member, period=f"w{n}")
    messages.mark_read(member, Message.objects.filter(member=member).first().pk)
    theirs = send(MemberFactory())

    first = member_api.post(READ_ALL)
    second = member_api.post(READ_ALL)

    assert first.status_code == 200 and first.json() == {"marked": 2}
    assert second.json() == {"marked": 0}
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_me_has_the_unread_count(member_api, member):
    send(member, period="a")
    send(member, period="b")
    send(MemberFactory())

    assert member_api.get("/api/v1/me/").json()["unread_messages"] == 2
    member_api.post(READ_ALL)
    assert member_api.get("/api/v1/me/").json()["unread_messages"] == 0


@pytest.mark.parametrize("method, url", [("get", LIST), ("post", READ_ALL), ("post", read_url(1))])
def test_signed_out_is_401(api_for, method, url):
    from rest_framework.test import APIClient

    response = getattr(APIClient(), method)(url)

    assert response.status_code == 401


def test_schema_documents_the_three_operations(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--lang", "en", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    operations = {(path, method): op for path, item in schema["paths"].items()
                  for method, op in item.items()}

    listing = operations[("/api/v1/me/messages/", "get")]
    read = operations[("/api/v1/me/messages/{message_id}/read/", "post")]
    read_all = operations[("/api/v1/me/messages/read-all/", "post")]
    assert [op["operationId"] for op in (listing, read, read_all)] == [
        "me_messages_list", "me_messages_read", "me_messages_read_all"]
    assert all(op["tags"] == ["messages"] for op in (listing, read, read_all))
    assert {"400", "401", "404", "429"} <= set(listing["responses"])
    assert {"401", "404", "429"} <= set(read["responses"])
    assert {p["name"] for p in listing["parameters"]} == {"page", "page_size", "unread"}
    components = schema["components"]["schemas"]
    assert set(components["Message"]["properties"]) == {
        "id", "purpose", "kind", "kind_display", "title", "body", "link", "created_at", "read",
        "read_at"}
    assert set(components["MessageReadAllOutput"]["properties"]) == {"marked"}
    assert components["MeOutput"]["properties"]["unread_messages"]["type"] == "integer"
