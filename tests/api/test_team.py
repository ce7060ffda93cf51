"""The member's referral team in the API (issue 9): ``/me/team/`` and ``/me/team/rewards/``, and
binding an inviter at sign-up. Exact bodies, built through the real binding and order services."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.translation import override
from rest_framework.test import APIClient

from mall.models import Member
from referrals.models import Node, RewardRecord
from referrals.selectors import mask_name
from referrals.services.tree import node_of
from tests.referrals.helpers import make_leader, member, pay, refund, set_plan

pytestmark = pytest.mark.django_db

TEAM = "/api/v1/me/team/"
REWARDS = "/api/v1/me/team/rewards/"
REGISTER = "/api/v1/auth/register/"


def error(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


@pytest.fixture
def client_of(token_for):
    def make(someone, language="en"):
        return APIClient(HTTP_ACCEPT_LANGUAGE=language, HTTP_AUTHORIZATION=f"Bearer {token_for(someone)}")

    return make


@pytest.fixture
def example():
    """The worked example: A leads a team and invited B; B invites C1-C3, whose first orders make
    B a leader (C1-C3 stay in A's team); B then invites C4, who joins B's team."""
    a = member(username="alice_a", nickname="alice")
    make_leader(a)
    b = member(a, username="bob_b", nickname="张三丰")
    cs = [member(b, username=f"c{i}_user", nickname=f"carol{i}") for i in (1, 2, 3)]
    for i, c in enumerate(cs, start=1):
        pay(c, "100.00", order_id=f"first-C{i}")
    c4 = member(b, username="c4_user", nickname="carol4")
    return a, b, cs, c4


# --------------------------------------------------------------------------- /me/team/


def test_team_of_the_worked_example(client_of, example):
    a, b, _cs, c4 = example

    before = client_of(b).get(TEAM)
    assert before.status_code == 200
    assert before.json() == {
        "inviter": {"name": "a***e"},
        "is_leader": True,
        "direct_count": 4,
        "qualified_direct_count": 3,
        "team_size": 1,  # C4 only: C1-C3 stayed in A's team
        "upgrade_threshold": 3,
        "rewards": {"pending": 450, "settled": 0, "reversed": 0},  # 3 x 150 direct, first orders
    }

    pay(c4, "100.00", order_id="C4-order")

    # C4's order: B's direct 150 and team 100 (A gets the same-level 50); C4 now qualifies too.
    assert client_of(b).get(TEAM).json() == {
        "inviter": {"name": "a***e"},
        "is_leader": True,
        "direct_count": 4,
        "qualified_direct_count": 4,
        "team_size": 1,
        "upgrade_threshold": 3,
        "rewards": {"pending": 250 + 450, "settled": 0, "reversed": 0},
    }
    # A: team rewards of C3's first order (C3 stayed in A's team) and the same-level reward.
    assert client_of(a).get(TEAM).json() == {
        "inviter": None,
        "is_leader": True,
        "direct_count": 1,
        "qualified_direct_count": 0,
        "team_size": 3,
        "upgrade_threshold": 3,
        "rewards": {"pending": 300 + 50, "settled": 0, "reversed": 0},
    }
    assert client_of(c4).get(TEAM).json() == {
        "inviter": {"name": "张*丰"},
        "is_leader": False,
        "direct_count": 0,
        "qualified_direct_count": 0,
        "team_size": 0,
        "upgrade_threshold": 3,
        "rewards": {"pending": 0, "settled": 0, "reversed": 0},
    }


def test_refunds_move_reward_points_to_reversed(client_of, example):
    _a, b, _cs, c4 = example
    pay(c4, "100.00", order_id="C4-order")

    refund("C4-order", "40.00")  # 40% of direct 150 and team 100
    assert client_of(b).get(TEAM).json()["rewards"] == {"pending": 700 - 100, "settled": 0,
                                                        "reversed": 100}
    refund("C4-order", "60.00")
    assert client_of(b).get(TEAM).json()["rewards"] == {"pending": 450, "settled": 0, "reversed": 250}


def test_rewards_past_the_refund_window_are_settled(client_of):
    parent = member(username="parent_user")
    kid = member(parent)
    pay(kid, "100.00", order_id="old", paid_at=timezone.now() - timedelta(days=10))
    pay(kid, "200.00", order_id="new")

    assert client_of(parent).get(TEAM).json()["rewards"] == {"pending": 300, "settled": 150,
                                                             "reversed": 0}


def test_a_member_without_a_node_gets_one_and_an_empty_team(client_of):
    loner = Member.objects.create_user(username="loner", password="x-long-password-1")
    assert not Node.objects.filter(member=loner).exists()

    response = client_of(loner).get(TEAM)

    assert response.json() == {
        "inviter": None, "is_leader": False, "direct_count": 0, "qualified_direct_count": 0,
        "team_size": 0, "upgrade_threshold": 3, "rewards": {"pending": 0, "settled": 0, "reversed": 0},
    }
    assert Node.objects.filter(member=loner).exists()


def test_without_a_published_plan_the_threshold_is_null(client_of, member):
    from referrals.models import PlanStatus, RewardPlan

    RewardPlan.objects.filter(status=PlanStatus.PUBLISHED).update(status=PlanStatus.RETIRED)

    assert client_of(member).get(TEAM).json()["upgrade_threshold"] is None


@pytest.mark.parametrize("path", [TEAM, REWARDS])
def test_team_endpoints_need_a_signed_in_member(api, path):
    response = api.get(path)

    assert response.status_code == 401
    assert response.json() == error("not_authenticated", "Authentication credentials were not provided.")


# --------------------------------------------------------------------------- /me/team/rewards/


def test_reward_records_newest_first_with_status_and_explanation(client_of, example):
    _a, b, _cs, c4 = example
    pay(c4, "100.00", order_id="C4-order")
    refund("first-C1", "100.00")

    response = client_of(b).get(REWARDS)

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (5, None, None)
    assert [(r["order"], r["kind"], r["points"], r["points_reversed"], r["status"])
            for r in body["results"]] == [
        ("C4-order", "team", 100, 0, "pending"),
        ("C4-order", "direct", 150, 0, "pending"),
        ("first-C3", "direct", 150, 0, "pending"),
        ("first-C2", "direct", 150, 0, "pending"),
        ("first-C1", "direct", 150, 150, "reversed"),
    ]
    record = RewardRecord.objects.get(order__external_id="C4-order", kind="team")
    assert body["results"][0] == {
        "id": record.pk,
        "order": "C4-order",
        "kind": "team",
        "kind_display": "Team reward",
        "level": 1,
        "outcome": "paid",
        "points": 100,
        "points_reversed": 0,
        "status": "pending",
        "available_at": timezone.localtime(record.available_at).isoformat(),
        "created_at": timezone.localtime(record.created_at).isoformat(),
        "explanation": "Team reward: 20% of the 500-point budget of order C4-order",
    }


def test_reward_records_are_paginated_by_the_one_page_rule(client_of, example):
    _a, b, _cs, _c4 = example

    first = client_of(b).get(REWARDS, {"page_size": 2}).json()
    last = client_of(b).get(REWARDS, {"page_size": 2, "page": 2}).json()

    assert first["count"] == 3
    assert [r["order"] for r in first["results"]] == ["first-C3", "first-C2"]
    assert first["next"] == "http://testserver/api/v1/me/team/rewards/?page=2&page_size=2"
    assert [r["order"] for r in last["results"]] == ["first-C1"]
    assert last["next"] is None
    assert client_of(b).get(REWARDS, {"page": 3, "page_size": 2}).status_code == 404


def test_reward_records_are_only_the_members_own(client_of, example):
    a, b, _cs, c4 = example
    pay(c4, "100.00", order_id="C4-order")

    mine = {r["id"] for r in client_of(b).get(REWARDS).json()["results"]}
    theirs = {r["id"] for r in client_of(a).get(REWARDS).json()["results"]}

    assert mine == set(RewardRecord.objects.filter(beneficiary=b).values_list("id", flat=True))
    assert theirs == set(RewardRecord.objects.filter(beneficiary=a).values_list("id", flat=True))
    assert mine and theirs and not mine & theirs
    assert client_of(c4).get(REWARDS).json() == {"count": 0, "next": None, "previous": None,
                                                 "results": []}


def test_reward_records_filter_by_status(client_of):
    parent = member(username="parent_user")
    kid = member(parent)
    pay(kid, "100.00", order_id="old", paid_at=timezone.now() - timedelta(days=10))
    pay(kid, "100.00", order_id="new")
    pay(kid, "100.00", order_id="gone")
    refund("gone", "100.00")

    def orders(status):
        return [r["order"] for r in client_of(parent).get(REWARDS, {"status": status}).json()["results"]]

    assert orders("pending") == ["new"]
    assert orders("settled") == ["old"]
    assert orders("reversed") == ["gone"]
    assert orders("lapsed") == []
    assert orders("") == ["gone", "new", "old"]
    response = client_of(parent).get(REWARDS, {"status": "paid"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "status": ["Select a valid choice. paid is not one of the available choices."]}


def test_a_reward_passed_up_names_the_member_it_passed_from_masked(client_of):
    set_plan(repurchase_points=300)
    grand = member(username="grand_user")
    parent = member(grand, username="parent_user", nickname="parent")
    kids = [member(parent) for _ in range(3)]
    for i, kid in enumerate(kids):
        pay(kid, "100.00", order_id=f"g-{i}")  # the third is gated: parent reached 300

    records = client_of(grand).get(REWARDS).json()["results"]

    # The third order made the parent a leader, so its team reward passed up with the direct one.
    gated = ("; passed up from p***t because their rewards since their own last order reached the "
             "repurchase threshold of 300 points; a new order of theirs unlocks more")
    assert [(r["order"], r["kind"], r["outcome"], r["level"], r["points"], r["explanation"])
            for r in records] == [
        ("g-2", "team", "passed_up", 2, 100, "Team reward: 20% of the 500-point budget of order g-2" + gated),
        ("g-2", "direct", "passed_up", 2, 150,
         "Direct reward: 30% of the 500-point budget of order g-2" + gated),
    ]
    # The record itself (what staff read) names them in full.
    record = RewardRecord.objects.get(order__external_id="g-2", kind="direct")
    with override("en"):
        assert "passed up from parent because" in record.explanation


# --------------------------------------------------------------------------- sign-up binds the inviter


def test_register_with_an_invite_code_binds_the_inviter(api, client_of):
    inviter = member(username="inviter_user", nickname="Inviter")
    code = node_of(inviter.pk).invite_code

    response = api.post(REGISTER, {"username": "newbie", "password": "correct-horse-77",
                                   "invite_code": code.lower()})

    assert response.status_code == 201
    newbie = Member.objects.get(username="newbie")
    node = Node.objects.get(member=newbie)
    assert (node.inviter_id, node.depth) == (inviter.pk, 1)
    assert Node.objects.get(member=inviter).direct_count == 1
    assert client_of(newbie).get(TEAM).json()["inviter"] == {"name": "I***r"}
    assert client_of(inviter).get(TEAM).json()["direct_count"] == 1


def test_register_with_an_unknown_invite_code_is_400_and_creates_no_one(api):
    response = api.post(REGISTER, {"username": "newbie", "password": "correct-horse-77",
                                   "invite_code": "ZZZZ2222"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_invite_code"
    assert response.json()["error"]["fields"] == {"invite_code": ["No member has this invite code."]}
    assert not Member.objects.filter(username="newbie").exists()


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize(("name", "masked"), [
    ("alice", "a***e"), ("张三丰", "张*丰"), ("张三", "张*"), ("张", "*"), ("", "*"), ("ab", "a*"),
    ("abc", "a*c"), ("alexander", "a***r"), ("  bob  ", "b*b"),
])
def test_mask_name(name, masked):
    assert mask_name(name) == masked
