"""Messages in the admin: templates with checked placeholders and a preview, messages read
only, broadcasts to a segment sent once, with their own permission."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mall.errors import BroadcastSent
from mall.models import Broadcast, Member, Message, MessageTemplate
from mall.services import messages
from tests.factories import MemberFactory, StaffFactory
from tests.threads import failures, run_together

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return MemberFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin(root):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(root)
    return client


def text(response) -> str:
    return response.content.decode()


def staff_client(*codenames):
    staff = StaffFactory()
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="mall",
                                                          codename__in=codenames))
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(staff)
    return client


# --------------------------------------------------------------------------- templates


def template_url(purpose):
    pk = MessageTemplate.objects.get(purpose=purpose).pk
    return reverse("admin:mall_messagetemplate_change", args=[pk])


def template_post(purpose, **changes):
    template = MessageTemplate.objects.get(purpose=purpose)
    data = {"kind": template.kind, "title": template.title, "body": template.body,
            "title_en": template.title_en, "body_en": template.body_en, "link": template.link}
    return {**data, **changes}


def test_templates_are_listed_by_purpose_label_and_cannot_be_added_or_deleted(admin):
    page = text(admin.get(reverse("admin:mall_messagetemplate_changelist")))

    assert "Expiry reminder" in page and "Win-back (inactive members)" in page
    assert admin.get(reverse("admin:mall_messagetemplate_add")).status_code == 403
    pk = MessageTemplate.objects.get(purpose="welcome").pk
    assert admin.get(reverse("admin:mall_messagetemplate_delete", args=[pk])).status_code == 403


def test_template_page_lists_placeholders_and_previews_both_languages(admin):
    page = text(admin.get(template_url("expiry_reminder")))

    assert "<code>{points}</code> (1,288), <code>{date}</code> (2026-12-31), <code>{days}</code> (30)" in page
    assert "Expiry reminder" in page
    assert ('data-testid="preview-body-zh">您有1,288积分将于2026-12-31过期（还有30天）。'
            "兑换好礼，别让积分白白过期。<") in page
    assert ('data-testid="preview-body-en">1,288 of your points expire on 2026-12-31 (30 days left). '
            "Redeem them for a gift before they go.<") in page
    assert 'name="purpose"' not in page  # shown, not editable


def test_tier_samples_are_in_each_language(admin):
    page = text(admin.get(template_url("tier_upgrade")))

    assert 'data-testid="preview-title-zh"><strong>恭喜升级为金卡会员<' in page
    assert 'data-testid="preview-title-en"><strong>You are now Gold<' in page


@pytest.mark.parametrize("field, value, error", [
    ("body", "您有{points}积分，{coupon}", "Unknown placeholder {coupon}: this message may use "
                                         "{points}, {date}, {days}."),
    ("title_en", "{points points", "A brace is not closed or not opened"),
    ("body", "剩余 {points:>8} 分", "Write a placeholder as a name in braces"),
    ("title", "{tier.name}", "Unknown placeholder {tier.name}"),
    ("body_en", "{} left", "Write a placeholder as a name in braces"),
    ("link", "https://evil.example/", "Enter a page of the member site starting with /"),
    ("link", "//evil.example/", "Enter a page of the member site starting with /"),
])
def test_template_form_refuses_bad_placeholders_braces_and_links(admin, field, value, error):
    before = MessageTemplate.objects.get(purpose="expiry_reminder")

    response = admin.post(template_url("expiry_reminder"), template_post("expiry_reminder", **{field: value}))

    assert response.status_code == 200
    assert error in " ".join(response.context["adminform"].form.errors[field])
    after = MessageTemplate.objects.get(purpose="expiry_reminder")
    assert (getattr(after, field), after.updated_at) == (getattr(before, field), before.updated_at)


def test_preview_shows_the_text_just_typed_when_the_form_has_errors(admin):
    response = admin.post(template_url("win_back"),
                          template_post("win_back", title="送您{points}积分 {oops}"))

    assert 'data-testid="preview-title-zh"><strong>送您1,288积分 {oops}<' in text(response)


def test_saved_template_words_are_sent_and_literal_braces_allowed(admin, member):
    response = admin.post(template_url("win_back"), template_post(
        "win_back", title="{{VIP}} 送您{points}积分", title_en="", body_en="", sms="on"))

    assert response.status_code == 302
    template = MessageTemplate.objects.get(purpose="win_back")
    assert template.title == "{{VIP}} 送您{points}积分" and template.sms
    messages.send(member, "win_back", period="w", context={"points": 5, "days": 60})
    assert Message.objects.get(member=member).title == "{VIP} 送您5积分"


def test_save_template_service_refuses_unknown_placeholders():
    from common.errors import InvalidFields

    template = MessageTemplate.objects.get(purpose="welcome")
    template.body = "{points}"
    with pytest.raises(InvalidFields) as refused:
        messages.save_template(template)
    assert list(refused.value.fields) == ["body"]


# --------------------------------------------------------------------------- messages


def test_messages_are_read_only_searchable_and_filtered(admin):
    alice = MemberFactory(username="alice", phone="13900001111")
    bob = MemberFactory(username="bob")
    messages.send(alice, "win_back", period="w", context={"points": 5, "days": 60})
    messages.send(alice, "welcome", period="join", context={"name": "alice"})
    messages.send(bob, "win_back", period="w", context={"points": 7, "days": 60})
    messages.mark_read(alice, Message.objects.get(member=alice, purpose="welcome").pk)
    url = reverse("admin:mall_message_changelist")

    def titles(**query):
        response = admin.get(url, query)
        assert response.status_code == 200
        return sorted((str(m.member), m.purpose) for m in response.context["cl"].result_list)

    assert titles(q="alice") == [(str(alice), "welcome"), (str(alice), "win_back")]
    assert titles(q="13900001111") == titles(q="alice")
    assert [p for _m, p in titles(purpose="win_back")] == ["win_back", "win_back"]
    assert titles(read="yes") == [(str(alice), "welcome")]
    assert len(titles(read="no")) == 2
    assert len(titles(kind__exact="offer")) == 1
    page = text(admin.get(url))
    assert "Win-back (inactive members)" in page
    message = Message.objects.filter(member=bob).get()
    assert admin.get(reverse("admin:mall_message_add")).status_code == 403
    change = admin.get(reverse("admin:mall_message_change", args=[message.pk]))
    assert change.status_code == 200 and 'name="title"' not in text(change)
    assert admin.post(reverse("admin:mall_message_change", args=[message.pk]),
                      {"title": "x"}).status_code == 403


# --------------------------------------------------------------------------- broadcasts


def broadcast_data(**changes):
    data = {"title": "规则变更通知", "body": "下月起积分规则调整，详情见积分商城。",
            "title_en": "Rule change", "body_en": "The points rules change next month.",
            "link": "/mall/", "kind": "notice", "inactive_days": ""}
    return {**data, **changes}


@pytest.fixture
def segment(db):
    """Two gold members, a silver one, and gold members the broadcasts never reach."""
    gold = [MemberFactory(tier="gold"), MemberFactory(tier="gold")]
    silver = MemberFactory(tier="silver")
    MemberFactory(tier="gold", is_active=False)
    StaffFactory(tier="gold")
    return {"gold": gold, "silver": silver}


def test_creating_a_draft_records_its_author_and_offers_tier_checkboxes(admin, root):
    form = text(admin.get(reverse("admin:mall_broadcast_add")))
    for code in ("normal", "silver", "gold"):
        assert f'type="checkbox" name="tiers" value="{code}"' in form

    response = admin.post(reverse("admin:mall_broadcast_add"), broadcast_data(tiers=["gold", "silver"]))

    assert response.status_code == 302
    broadcast = Broadcast.objects.get()
    assert broadcast.tiers == ["gold", "silver"] and broadcast.created_by == root
    assert broadcast.sent_at is None and Message.objects.count() == 0


@pytest.mark.parametrize("changes, field", [
    ({"body": "亲爱的{name}"}, "body"),
    ({"title_en": "Save 50% {"}, "title_en"),
    ({"link": "http://other.example/"}, "link"),
    ({"inactive_days": "0"}, "inactive_days"),
    ({"tiers": ["platinum"]}, "tiers"),
])
def test_draft_form_refuses_placeholders_bad_links_days_and_tiers(admin, changes, field):
    response = admin.post(reverse("admin:mall_broadcast_add"), broadcast_data(**changes))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Broadcast.objects.exists()


def test_draft_page_counts_recipients_and_previews(admin, segment):
    broadcast = messages.save_broadcast(Broadcast(**broadcast_data(tiers=["gold"], inactive_days=None)))

    page = text(admin.get(reverse("admin:mall_broadcast_change", args=[broadcast.pk])))

    assert "2 members (counted now, and again when it is sent)" in page
    assert 'data-testid="preview-title-en"><strong>Rule change<' in page
    assert f'href="{reverse("admin:mall_broadcast_send", args=[broadcast.pk])}"' in page


def test_send_confirms_then_reaches_the_tier_once(admin, segment):
    broadcast = messages.save_broadcast(Broadcast(**broadcast_data(tiers=["gold"], inactive_days=None)))
    url = reverse("admin:mall_broadcast_send", args=[broadcast.pk])

    confirm = admin.get(url)
    assert confirm.status_code == 200 and confirm.context["count"] == 2
    assert 'value="Send to 2 members"' in text(confirm) and "规则变更通知" in text(confirm)
    assert Message.objects.count() == 0

    sent = admin.post(url, follow=True)
    again = admin.post(url, follow=True)

    assert "The broadcast was sent to 2 members." in text(sent)
    assert "it is not sent again" in text(again)
    reached = sorted(Message.objects.values_list("member_id", flat=True))
    assert reached == sorted(m.pk for m in segment["gold"])
    message = Message.objects.first()
    assert (message.purpose, message.period) == ("broadcast", f"b{broadcast.pk}")
    assert message.title_en == "Rule change"
    broadcast.refresh_from_db()
    assert broadcast.recipients == 2 and broadcast.sent_at is not None


def test_sent_broadcast_is_read_only_and_shows_when_and_to_whom(admin, segment):
    broadcast = messages.save_broadcast(Broadcast(**broadcast_data(tiers=["gold"], inactive_days=None)))
    messages.send_draft(broadcast)
    url = reverse("admin:mall_broadcast_change", args=[broadcast.pk])

    page = text(admin.get(url))

    assert 'name="title"' not in page and '/send/"' not in page
    assert "Gold" in page and f"{timezone.localtime(broadcast.sent_at):%Y}" in page
    assert admin.post(url, broadcast_data(title="changed")).status_code == 403
    assert admin.get(reverse("admin:mall_broadcast_delete", args=[broadcast.pk])).status_code == 403
    with pytest.raises(BroadcastSent):
        broadcast.title = "changed"
        messages.save_broadcast(broadcast)
    assert Broadcast.objects.get().title == "规则变更通知"


def test_broadcast_to_inactive_members_reaches_exactly_them_once_even_sent_twice():
    now = timezone.now()
    long_ago = now - timedelta(days=200)
    asleep = [MemberFactory(), MemberFactory(tier="gold")]
    awake = MemberFactory(last_login=now - timedelta(days=3))
    Member.objects.filter(pk__in=[m.pk for m in [*asleep, awake]]).update(date_joined=long_ago)
    MemberFactory()  # joined today: not inactive
    broadcast = messages.save_broadcast(Broadcast(**broadcast_data(inactive_days=60)))

    first = messages.send_broadcast(broadcast, now=now)
    second = messages.send_broadcast(broadcast, now=now)

    assert (first, second) == (2, 0)
    assert sorted(Message.objects.values_list("member_id", flat=True)) == sorted(m.pk for m in asleep)
    broadcast.refresh_from_db()
    assert broadcast.recipients == 2


def test_sending_needs_the_send_permission(segment):
    broadcast = messages.save_broadcast(Broadcast(**broadcast_data(tiers=["gold"], inactive_days=None)))
    editor = staff_client("view_broadcast", "add_broadcast", "change_broadcast")
    sender = staff_client("view_broadcast", "send_broadcast")
    send_url = reverse("admin:mall_broadcast_send", args=[broadcast.pk])

    page = text(editor.get(reverse("admin:mall_broadcast_change", args=[broadcast.pk])))
    assert '/send/"' not in page
    assert editor.get(send_url).status_code == 403
    assert editor.post(send_url).status_code == 403
    assert Message.objects.count() == 0

    assert sender.post(send_url).status_code == 302
    assert Message.objects.count() == 2


def test_the_permission_exists_for_groups():
    assert Permission.objects.filter(content_type__app_label="mall", codename="send_broadcast").exists()


@pytest.mark.django_db(transaction=True)
def test_two_clicks_at_once_send_once():
    gold = [MemberFactory(tier="gold") for _ in range(5)]
    broadcast = messages.save_broadcast(Broadcast(**broadcast_data(tiers=["gold"], inactive_days=None)))

    results = run_together(2, lambda i: messages.send_draft(Broadcast.objects.get(pk=broadcast.pk)))

    assert [r for r in results if not isinstance(r, Exception)] == [5]
    assert [type(f) for f in failures(results)] == [BroadcastSent]
    assert Message.objects.filter(member__in=gold).count() == 5
