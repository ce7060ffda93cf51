"""The message service: once per (member, purpose, period), both languages, the channels."""

import pytest
from django.core import mail

from mall.errors import MessageNotFound
from mall.models import Message, MessageTemplate
from mall.services import messages
from mall.services.messages import Outgoing
from tests.factories import MemberFactory
from tests.threads import run_together

pytestmark = pytest.mark.django_db


def test_send_renders_both_languages_with_separators():
    member = MemberFactory()
    assert messages.send(member, "win_back", period="w1", context={"points": 1288000, "days": 60})
    message = Message.objects.get(member=member)
    assert message.title == "好久不见，送您1,288,000积分"
    assert message.title_en == "We miss you: 1,288,000 points for you"
    assert message.kind == "points"
    assert message.link == "/mall/"
    assert message.text("en")[0] == message.title_en
    assert message.text("zh-hans")[1].startswith("您已60天没有来了")


def test_same_occasion_twice_sends_once():
    member = MemberFactory()
    assert messages.send(member, "win_back", period="w1", context={"points": 5, "days": 60})
    assert not messages.send(member, "win_back", period="w1", context={"points": 5, "days": 60})
    assert messages.send(member, "win_back", period="w2", context={"points": 5, "days": 60})
    assert Message.objects.filter(member=member).count() == 2


def test_send_many_counts_only_new_rows_and_duplicates_in_one_call():
    a, b = MemberFactory(), MemberFactory()
    first = [Outgoing(a.pk, "p"), Outgoing(b.pk, "p"), Outgoing(a.pk, "p")]
    assert messages.send_many("welcome", first) == 2
    assert messages.send_many("welcome", first) == 0


def test_edited_template_is_used_and_missing_placeholders_stay_visible():
    MessageTemplate.objects.filter(purpose="welcome").update(title="你好 {name} {unknown}", title_en="")
    member = MemberFactory()
    messages.send(member, "welcome", period="join", context={"name": "小宝"})
    message = Message.objects.get(member=member)
    assert message.title == "你好 小宝 {unknown}"
    assert message.text("en")[0] == "你好 小宝 {unknown}"  # no English written: the Chinese


def test_email_goes_out_after_commit_only_for_new_rows(django_capture_on_commit_callbacks):
    MessageTemplate.objects.filter(purpose="win_back").update(email=True, sms=True)
    with_mail, without = MemberFactory(email="m@example.com"), MemberFactory(email="")
    with django_capture_on_commit_callbacks(execute=True):
        messages.send_many("win_back", [Outgoing(with_mail.pk, "w"), Outgoing(without.pk, "w")],
                           )
    assert [m.to for m in mail.outbox] == [["m@example.com"]]
    assert mail.outbox[0].subject.startswith("好久不见")
    with django_capture_on_commit_callbacks(execute=True):
        messages.send_many("win_back", [Outgoing(with_mail.pk, "w")])
    assert len(mail.outbox) == 1


def test_mark_read_only_own_messages():
    member, other = MemberFactory(), MemberFactory()
    messages.send(member, "welcome", period="join")
    messages.send(member, "win_back", period="w")
    mine = Message.objects.filter(member=member).first()
    assert messages.unread_count(member) == 2
    with pytest.raises(MessageNotFound):
        messages.mark_read(other, mine.pk)
    assert messages.mark_read(member, mine.pk).read_at is not None
    assert messages.unread_count(member) == 1
    assert messages.mark_all_read(member) == 1
    assert messages.unread_count(member) == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_batch_insert_once():
    members = [MemberFactory() for _ in range(50)]
    batch = [Outgoing(m.pk, "2026-12") for m in members]
    counts = run_together(2, lambda i: messages.send_many("win_back", batch))
    assert sum(counts) == 50
    assert Message.objects.count() == 50
