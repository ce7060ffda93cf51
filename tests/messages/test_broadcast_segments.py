"""Broadcasts by RFM segment beside tiers: the admin's checkboxes, the audience count on the
confirmation page and the send reach exactly the members of the ticked segments."""

import pytest
from django.test import Client
from django.urls import reverse

from mall.models import Broadcast, Message
from mall.services import messages
from rules.segments import Segment
from tests.factories import MemberFactory, StaffFactory
from tests.messages.test_admin import broadcast_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(MemberFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def members(db):
    return {
        "gold_value": MemberFactory(tier="gold", segment=Segment.IMPORTANT_VALUE),
        "silver_value": MemberFactory(tier="silver", segment=Segment.IMPORTANT_VALUE),
        "gold_keep": MemberFactory(tier="gold", segment=Segment.IMPORTANT_KEEP),
        "gold_retain": MemberFactory(tier="gold", segment=Segment.GENERAL_RETAIN),
        "gold_unscored": MemberFactory(tier="gold"),
        "inactive_value": MemberFactory(tier="gold", segment=Segment.IMPORTANT_VALUE, is_active=False),
        "staff_value": StaffFactory(tier="gold", segment=Segment.IMPORTANT_VALUE),
    }


def test_the_draft_form_offers_segments_and_saves_them(admin):
    form = admin.get(reverse("admin:mall_broadcast_add")).content.decode()
    for code in Segment.values:
        assert f'type="checkbox" name="segments" value="{code}"' in form
    response = admin.post(reverse("admin:mall_broadcast_add"), broadcast_data(
        segments=["important_value", "important_keep"]))
    assert response.status_code == 302
    assert Broadcast.objects.get().segments == ["important_value", "important_keep"]
    response = admin.post(reverse("admin:mall_broadcast_add"), broadcast_data(segments=["vip"]))
    assert response.status_code == 200 and "segments" in response.context["adminform"].form.errors


def test_segments_and_tiers_narrow_the_audience_and_the_send(admin, members):
    everyone = messages.save_broadcast(Broadcast(**broadcast_data(inactive_days=None)))
    assert messages.broadcast_recipients(everyone).count() == 5
    broadcast = messages.save_broadcast(Broadcast(**broadcast_data(
        inactive_days=None, tiers=["gold"], segments=["important_value", "important_keep"])))
    url = reverse("admin:mall_broadcast_send", args=[broadcast.pk])
    confirm = admin.get(url)
    assert confirm.status_code == 200 and confirm.context["count"] == 2
    assert "Important value" in confirm.context["segment"] and "Gold" in confirm.context["segment"]
    admin.post(url)
    assert sorted(Message.objects.values_list("member_id", flat=True)) == sorted(
        [members["gold_value"].pk, members["gold_keep"].pk])
    only_segment = messages.save_broadcast(Broadcast(**broadcast_data(
        inactive_days=None, segments=["important_value"])))
    assert set(messages.broadcast_recipients(only_segment)) == {members["gold_value"],
                                                                 members["silver_value"]}
