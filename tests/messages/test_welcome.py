"""The welcome message (issue 10): every new member gets it once (purpose ``welcome``, period
``join``) in the transaction that creates them — sign-up on the pages or the API
(``members.register``) and the shop's member hook when it creates (``upsert_from_shop``); the
hook's updates send nothing."""

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from common.errors import InvalidFields
from mall.models import Member, Message
from mall.services import members
from tests.factories import MemberFactory
from tests.mall.signing import post_hook
from tests.threads import run_together

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-pass-9"
MEMBERS_HOOK = "/api/v1/hooks/members/"


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


def welcomes(member) -> list[tuple]:
    return list(Message.objects.filter(member=member, purpose="welcome")
                .values_list("period", "kind", "title", "body", "title_en", "body_en", "link"))


def test_register_sends_the_welcome_message_with_the_offer_once():
    registration = members.register(username="xiaoming", password=PASSWORD)

    assert welcomes(registration.member) == [(
        "join", "offer", "欢迎加入会员",
        "xiaoming，欢迎加入！7天内首次兑换立减50积分，快去积分商城看看吧。",
        "Welcome", "Welcome, xiaoming! Your first redemption within 7 days costs 50 points less. "
        "Have a look at the points mall.", "/mall/",
    )]
    assert Message.objects.filter(member=registration.member).count() == 1


def test_a_refused_sign_up_sends_nothing():
    MemberFactory(username="taken")

    with pytest.raises(InvalidFields):
        members.register(username="taken", password=PASSWORD)

    assert Message.objects.count() == 0


def test_sign_up_pages_and_api_send_it():
    page = Client(HTTP_ACCEPT_LANGUAGE="en").post("/accounts/register/", {
        "username": "pageuser", "password": PASSWORD, "password2": PASSWORD})
    api = APIClient(HTTP_ACCEPT_LANGUAGE="en").post("/api/v1/auth/register/", {
        "username": "apiuser", "password": PASSWORD}, format="json")

    assert (page.status_code, api.status_code) == (302, 201)
    for username in ("pageuser", "apiuser"):
        member = Member.objects.get(username=username)
        assert [row[0] for row in welcomes(member)] == ["join"]


def test_the_shop_hook_welcomes_on_create_only():
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    created = post_hook(client, MEMBERS_HOOK, {
        "event_id": "m-1", "member": {"external_id": "u-7", "nickname": "阿七"}})
    updated = post_hook(client, MEMBERS_HOOK, {
        "event_id": "m-2", "member": {"external_id": "u-7", "nickname": "小七", "tier": "gold"}})

    assert (created.json()["created"], updated.json()["created"]) == (True, False)
    member = Member.objects.get(external_id="u-7")
    [welcome] = welcomes(member)
    assert welcome[0] == "join"
    assert welcome[3].startswith("阿七，欢迎加入！")  # the name when it was sent
    assert Message.objects.filter(member=member).count() == 1


def test_upsert_from_shop_sends_it_once_and_not_for_an_update():
    member, created, _points = members.upsert_from_shop(external_id="u-8", fields={})
    again, created_again, _points = members.upsert_from_shop(external_id="u-8",
                                                             fields={"nickname": "八"})

    assert (created, created_again, again.pk) == (True, False, member.pk)
    assert [row[0] for row in welcomes(member)] == ["join"]
    assert "ext_u-8，欢迎加入！" in welcomes(member)[0][3]


def test_members_made_otherwise_get_no_welcome():
    assert Message.objects.filter(member=MemberFactory()).count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_hook_deliveries_welcome_the_one_member_once():
    results = run_together(4, lambda i: post_hook(
        Client(), MEMBERS_HOOK, {"event_id": f"m-{i}", "member": {"external_id": "u-race"}}))

    assert [getattr(r, "status_code", r) for r in results] == [200] * 4
    member = Member.objects.get(external_id="u-race")
    assert [row[0] for row in welcomes(member)] == ["join"]


def test_a_member_the_shop_created_meanwhile_is_updated_not_refused(monkeypatch):
    """Two deliveries for one new member: the second read found no member, then the first
    committed it, so its default username looks taken. It updates that member (a 200), rather
    than refusing a taken username (a 400), and welcomes nobody twice."""
    from django.db.models.query import QuerySet

    first, created, _points = members.upsert_from_shop(external_id="u-race", fields={})
    assert created
    real_first = QuerySet.first
    missed = []

    def first_read_misses(self):
        if self.model is Member and self.query.select_for_update and not missed:
            missed.append(True)  # the read made before the other delivery committed
            return None
        return real_first(self)

    monkeypatch.setattr(QuerySet, "first", first_read_misses)
    member, created, points = members.upsert_from_shop(external_id="u-race",
                                                       fields={"nickname": "Late"})
    assert missed and not created and points == 0
    assert member.pk == first.pk
    assert Member.objects.get(pk=first.pk).nickname == "Late"
    assert Member.objects.filter(external_id="u-race").count() == 1
    assert Message.objects.filter(member=first, purpose="welcome").count() == 1
