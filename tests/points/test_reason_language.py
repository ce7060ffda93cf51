"""Ledger reasons and explanations are stored in the site's language and shown in the reader's:
each entry keeps the message it was made from (``Entry.reason_message``)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy, gettext_noop

from common.text import Text, clip, message_of, render, stored_text
from points import selectors, services
from points.models import Entry
from points.services import earning, jobs

pytestmark = pytest.mark.django_db


def test_text_keeps_its_message_through_concatenation_join_and_nesting():
    with translation.override("en"):
        first = Text.of(gettext_noop("%(points)s points expired"), points=5)
        joined = Text.join("; ", [first, "staff note", Text.of(gettext_noop("Initial stock"))])
        nested = Text.of(gettext_noop("Redemption #%(id)s cancelled: %(reason)s"), id=7,
                         reason=Text.of(gettext_noop("Cancelled by the member")))
        lazy = Text.of(gettext_noop("%(kind)s, order %(order)s"), kind=gettext_lazy("Expire"),
                       order="A1")
    assert joined == "5 points expired; staff note; Initial stock"
    with translation.override("zh-hans"):
        assert render(joined.message) == "5 积分已过期; staff note; 初始库存"
        assert render(nested.message) == "兑换单 #7 已取消：会员主动取消"
        assert render(lazy.message).startswith("过期")
    with translation.override("en"):
        assert render(nested.message) == "Redemption #7 cancelled: Cancelled by the member"
    assert message_of("plain text") is None
    assert clip(first, 255) is first
    assert message_of(clip(Text.of(gettext_noop("Initial stock")) + "x" * 300, 255)) is None


def test_an_unreadable_message_falls_back_to_the_stored_text():
    assert render(None, "存的") == "存的"
    assert render([["%(missing)s points", {}]], "存的") in ("%(missing)s points", "存的")
    assert render([[1, 2, 3]], "存的") == "存的"


def test_check_in_reason_and_explanation_render_in_the_readers_language(member):
    earning.check_in(member)
    entry = Entry.objects.get(account__member=member, reference="check-in")
    assert entry.reason_message, "the message is stored beside the text"
    with translation.override("zh-hans"):
        chinese = selectors.reason_text(entry)
    with translation.override("en"):
        english = selectors.reason_text(entry)
    assert chinese == entry.reason  # stored in the site's language (zh-hans)
    assert english.startswith("check-in day 1:")
    assert "签到" in chinese


def test_order_explanation_lines_render_in_english(member):
    now = timezone.now()
    result = earning.record_paid_order(member, order_id="LANG-1", amount=Decimal("100.00"),
                                       lines=[{"sku": "SKU1", "amount": "100.00"}], paid_at=now)
    entry = Entry.objects.get(pk=result.entry.pk)
    with translation.override("en"):
        lines = selectors.explanation_lines(entry)
        reason = selectors.reason_text(entry)
    assert lines[-1].startswith("total ") and "points (rules v" in lines[-1]
    assert lines[0].startswith("SKU1: 100.00 yuan")
    assert reason == "Points for order LANG-1"
    with translation.override("zh-hans"):
        assert selectors.explanation_lines(entry) == entry.explanation["lines"]


def test_job_entries_keep_their_message(member):
    services.earn(member, 40, key="lang:soon", reason="活动积分",
                  expires_at=timezone.now() + timedelta(seconds=1))
    jobs.expire_due(timezone.now() + timedelta(days=1))
    entry = Entry.objects.get(account__member=member, kind="expire")
    with translation.override("en"):
        assert selectors.reason_text(entry) == "40 points expired"
    with translation.override("zh-hans"):
        assert selectors.reason_text(entry) == entry.reason


def test_rows_without_a_message_and_staff_reasons_show_their_stored_text(member):
    entry = services.earn(member, 10, key="lang:staff", reason="门店活动")
    entry = Entry.objects.get(pk=entry.pk)
    assert entry.reason_message is None
    with translation.override("en"):
        assert selectors.reason_text(entry) == "门店活动"


def test_batch_earnings_store_the_message(member):
    reason = stored_text(gettext_noop("Badge earned: %(badge)s"), badge="积分达人")
    [entry] = services.earn_many([services.Credit(member.pk, 5, key="lang:batch", reason=reason)])
    entry = Entry.objects.get(pk=entry.pk)
    with translation.override("en"):
        assert selectors.reason_text(entry) == "Badge earned: 积分达人"


def test_the_api_shows_reasons_in_the_requests_language(member):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    earning.check_in(member)
    token = RefreshToken.for_user(member).access_token
    for language, expected in (("en", "check-in day 1"), ("zh-hans", "签到")):
        client = APIClient(HTTP_ACCEPT_LANGUAGE=language, HTTP_AUTHORIZATION=f"Bearer {token}")
        body = client.get("/api/v1/me/points/entries/").json()
        assert expected in body["results"][0]["reason"]
