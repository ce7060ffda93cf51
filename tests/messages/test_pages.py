"""The inbox on the member pages: the list, marking read, the unread badge."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mall.models import Message
from mall.services import messages
from tests.factories import MemberFactory
from tests.pages.helpers import messages_of, text

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)


def send(member, purpose="win_back", period="p", *, minutes=0, **context):
    context = context or {"points": 200, "days": 60}
    messages.send(member, purpose, period=period, context=context, now=T0 + timedelta(minutes=minutes))
    return Message.objects.get(member=member, purpose=purpose, period=period)


def inbox_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if '"mall_message"' in q["sql"]]


# --------------------------------------------------------------------------- the list


def test_list_is_the_members_own_newest_first_in_their_language(member_client, member):
    old = send(member, "expiry_reminder", "e1", minutes=1, points=1288, date="2026-12-31", days=30)
    new = send(member, "win_back", "w1", minutes=2)
    send(MemberFactory(), "welcome", "join", name="someone else")

    response = member_client.get("/messages/")

    page = text(response)
    assert response.status_code == 200
    assert [row["message"].pk for row in response.context["rows"]] == [new.pk, old.pk]
    assert page.index("We miss you: 200 points for you") < page.index("Points expiring soon")
    assert "1,288 of your points expire on 2026-12-31 (30 days left)." in page
    assert "someone else" not in page and "Welcome" not in page
    assert page.count('class="message unread"') == 2
    assert ">Points</span>" in page  # the kind


def test_chinese_client_reads_the_chinese_text(member):
    send(member)
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(member)

    page = text(client.get("/messages/"))

    assert "好久不见，送您200积分" in page
    assert "We miss you" not in page


def test_read_message_is_not_highlighted_and_has_no_mark_read_button(member_client, member):
    message = send(member)
    messages.mark_read(member, message.pk)

    page = text(member_client.get("/messages/"))

    assert 'class="message unread"' not in page and 'class="message"' in page
    assert "Mark read" not in page
    assert 'name="open" value="1"' in page  # its link still opens
    assert "Mark all read" not in page


def test_empty_inbox(member_client):
    page = text(member_client.get("/messages/"))

    assert "No messages yet." in page
    assert "Mark all read" not in page


def test_pages_of_twenty(member_client, member):
    for n in range(23):
        send(member, period=f"w{n}", minutes=n)

    first = member_client.get("/messages/")
    second = member_client.get("/messages/?page=2")

    assert [row["message"].period for row in first.context["rows"]] == [f"w{n}" for n in range(22, 2, -1)]
    assert [row["message"].period for row in second.context["rows"]] == ["w2", "w1", "w0"]
    assert "Page 1 of 2" in text(first) and 'href="?page=2"' in text(first)


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get("/messages/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --------------------------------------------------------------------------- marking read


def test_view_marks_read_and_opens_the_link(member_client, member):
    message = send(member, "expiry_reminder", "e1", points=1, date="2026-12-31", days=7)

    response = member_client.post(f"/messages/{message.pk}/read/", {"open": "1"})

    assert response.status_code == 302
    assert response["Location"] == "/mall/?affordable=1"
    message.refresh_from_db()
    first = message.read_at
    assert first is not None
    # Again: idempotent, the first read time stays.
    assert member_client.post(f"/messages/{message.pk}/read/", {"open": "1"}).status_code == 302
    message.refresh_from_db()
    assert message.read_at == first


def test_mark_read_without_opening_goes_back_to_the_list_page(member_client, member):
    message = send(member)

    response = member_client.post(f"/messages/{message.pk}/read/",
                                  {"next": f"/messages/?page=1#m{message.pk}"})

    assert response["Location"] == f"/messages/?page=1#m{message.pk}"
    assert messages.unread_count(member) == 0


def test_next_off_the_site_is_ignored(member_client, member):
    message = send(member)

    response = member_client.post(f"/messages/{message.pk}/read/", {"next": "https://evil.example/"})

    assert response["Location"] == "/messages/"


def test_link_off_the_site_is_never_opened(member_client, member):
    message = send(member)
    Message.objects.filter(pk=message.pk).update(link="https://evil.example/")

    page = text(member_client.get("/messages/"))
    response = member_client.post(f"/messages/{message.pk}/read/", {"open": "1"})

    assert 'name="open"' not in page and "Mark read" in page
    assert response["Location"] == "/messages/"


@pytest.mark.parametrize("message_id", ["other", "999999999", "99999999999999999999999"])
def test_another_members_or_unknown_message_is_404_and_unchanged(member_client, member, message_id):
    theirs = send(MemberFactory())
    target = theirs.pk if message_id == "other" else message_id

    response = member_client.post(f"/messages/{target}/read/", {"open": "1"})

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_marking_read_needs_a_post(member_client, member):
    message = send(member)

    assert member_client.get(f"/messages/{message.pk}/read/").status_code == 405
    assert member_client.get("/messages/read-all/").status_code == 405
    assert messages.unread_count(member) == 1


def test_read_all_marks_only_the_members_own_and_is_idempotent(member_client, member):
    for n in range(3):
        send(member, period=f"w{n}")
    other = send(MemberFactory())

    response = member_client.post("/messages/read-all/", follow=True)

    assert messages_of(response) == ["Marked 3 messages read."]
    assert messages.unread_count(member) == 0
    other.refresh_from_db()
    assert other.read_at is None
    again = member_client.post("/messages/read-all/", follow=True)
    assert messages_of(again) == []
    assert 'data-testid="unread-badge"' not in text(again)


def test_forms_need_the_csrf_token(member):
    message = send(member)
    client = Client(HTTP_ACCEPT_LANGUAGE="en", enforce_csrf_checks=True)
    client.force_login(member)

    assert client.post("/messages/read-all/").status_code == 403
    assert client.post(f"/messages/{message.pk}/read/").status_code == 403
    assert messages.unread_count(member) == 1
    page = text(client.get("/messages/"))
    assert page.count('name="csrfmiddlewaretoken"') >= 3  # read-all, the message, sign out


# --------------------------------------------------------------------------- the badge


def test_badge_counts_unread_with_one_count_query(member_client, member):
    for n in range(3):
        send(member, period=f"w{n}")
    messages.mark_read(member, Message.objects.filter(member=member).first().pk)
    send(MemberFactory())

    with CaptureQueriesContext(connection) as captured:
        page = text(member_client.get("/accounts/profile/"))

    assert '<span class="badge-count" data-testid="unread-badge">2<' in page
    assert "2 unread" in page  # the account page's link
    queries = inbox_queries(captured)
    assert len(queries) == 1 and "COUNT(*)" in queries[0] and '"read_at" IS NULL' in queries[0]


def test_home_shows_the_badge_and_a_link_to_unread_messages(member_client, member):
    send(member)

    with CaptureQueriesContext(connection) as captured:
        page = text(member_client.get("/"))

    assert 'data-testid="unread-badge">1<' in page
    assert 'data-testid="inbox-notice">Unread messages: 1' in page
    assert len(inbox_queries(captured)) == 1


def test_no_badge_without_unread_messages(member_client, member):
    page = text(member_client.get("/"))

    assert 'data-testid="unread-badge"' not in page and "inbox-notice" not in page
    assert 'href="/messages/"' in page


def test_badge_caps_at_99_plus(member_client, member):
    messages.send_many("win_back", [messages.Outgoing(member.pk, f"w{n}") for n in range(100)])

    assert 'data-testid="unread-badge">99+<' in text(member_client.get("/"))


def test_anonymous_pages_never_count(client):
    with CaptureQueriesContext(connection) as captured:
        page = text(client.get("/accounts/login/"))

    assert inbox_queries(captured) == []
    assert "unread-badge" not in page and 'href="/messages/"' not in page


def test_staff_text_is_escaped(member_client, member):
    from mall.models import Broadcast

    body = "<script>alert(1)</script>\n第二行"
    broadcast = messages.save_broadcast(Broadcast(title="<b>规则</b>", body=body))
    messages.send_draft(broadcast)

    page = text(member_client.get("/messages/"))

    assert "&lt;b&gt;规则&lt;/b&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>第二行" in page and "<script>alert" not in page
