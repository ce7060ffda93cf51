"""The shop's hooks drive referrals: ``invite_code`` in the member hook binds the inviter,
``merchant`` in the order hook funds the rewards, a refund reverses them (issue 9)."""

from decimal import Decimal

import pytest
from django.test import Client

from mall.models import HookEvent, Member
from points.models import Order
from referrals.models import Merchant, Node, RewardRecord
from referrals.services import tree
from tests.mall.signing import post_hook
from tests.referrals.helpers import member, node

pytestmark = pytest.mark.django_db

MEMBERS, ORDERS = "/api/v1/hooks/members/", "/api/v1/hooks/orders/"


def member_event(event_id, external_id, **fields):
    return {"event_id": event_id, "member": {"external_id": external_id, **fields}}


def paid(event_id, order_id, member_id, amount="100.00", merchant=None):
    order = {"id": order_id, "member": member_id, "amount": amount,
             "lines": [{"sku": "tea", "amount": amount}], "paid_at": "2026-11-30T10:00:00+08:00"}
    if merchant is not None:
        order["merchant"] = merchant
    return {"event_id": event_id, "type": "order.paid", "order": order}


def error(response):
    return response.json()["error"]


def test_member_hook_binds_the_inviter_once():
    client = Client()
    inviter = member(username="inviter")
    code = tree.node_of(inviter.pk).invite_code
    response = post_hook(client, MEMBERS, member_event("m-1", "u-1", invite_code=code))
    assert response.status_code == 200, response.content
    new = Member.objects.get(external_id="u-1")
    assert node(new).inviter_id == inviter.pk
    # The same code again (an ordinary profile update) changes nothing.
    response = post_hook(client, MEMBERS, member_event("m-2", "u-1", nickname="N", invite_code=code))
    assert response.status_code == 200
    other = member()
    response = post_hook(client, MEMBERS, member_event(
        "m-3", "u-1", invite_code=tree.node_of(other.pk).invite_code))
    assert response.status_code == 409
    assert error(response)["code"] == "already_invited"
    assert error(response)["fields"] == {"member": {"invite_code": [error(response)["message"]]}}
    assert node(new).inviter_id == inviter.pk


def test_member_hook_refuses_unknown_codes_and_writes_nothing():
    client = Client()
    response = post_hook(client, MEMBERS, member_event("m-1", "u-1", invite_code="NOPE2222"))
    assert response.status_code == 400
    assert error(response)["code"] == "invalid_invite_code"
    assert "invite_code" in error(response)["fields"]["member"]
    assert not Member.objects.filter(external_id="u-1").exists()
    assert not HookEvent.objects.exists()


def test_member_hook_binding_after_a_paid_order_is_refused():
    client = Client()
    post_hook(client, MEMBERS, member_event("m-1", "u-1"))
    assert post_hook(client, ORDERS, paid("o-e-1", "o-1", "u-1")).status_code == 200
    inviter = member()
    response = post_hook(client, MEMBERS, member_event(
        "m-2", "u-1", invite_code=tree.node_of(inviter.pk).invite_code))
    assert response.status_code == 409 and error(response)["code"] == "invite_closed"


def test_self_invite_through_the_hook():
    client = Client()
    post_hook(client, MEMBERS, member_event("m-1", "u-1"))
    code = tree.node_of(Member.objects.get(external_id="u-1").pk).invite_code
    response = post_hook(client, MEMBERS, member_event("m-2", "u-1", invite_code=code))
    assert response.status_code == 400 and error(response)["code"] == "self_invite"


def test_order_hook_with_a_merchant_pays_the_shares_and_a_refund_reverses_them():
    client = Client()
    owner = member(username="owner")
    Merchant.objects.create(code="tea-shop", name="Tea", owner=owner, rebate_percent=Decimal("10"))
    inviter = member(username="inv")
    buyer = member(inviter, username="buyer", external_id="u-buyer")
    response = post_hook(client, ORDERS, paid("o-e-1", "o-1", "u-buyer", merchant="tea-shop"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert {(r["kind"], r["points"]) for r in body["rewards"]} == {
        ("buyer_rebate", 300), ("merchant_rebate", 100), ("direct", 300)}
    # Redelivery rewards once.
    assert post_hook(client, ORDERS, paid("o-e-1", "o-1", "u-buyer", merchant="tea-shop")).json() == body
    assert RewardRecord.objects.count() == 3
    response = post_hook(client, ORDERS, {"event_id": "r-1", "type": "order.refunded",
                                          "order": {"id": "o-1", "refund_amount": "100.00"}})
    assert response.status_code == 200
    assert response.json()["rewards_reversed"] == 700
    assert not node(buyer).qualified and node(inviter).qualified_direct_count == 0


@pytest.mark.parametrize("merchant", ["unknown", "closed"])
def test_order_hook_refuses_an_unknown_or_inactive_merchant(merchant):
    client = Client()
    owner = member()
    Merchant.objects.create(code="closed", name="Closed", owner=owner, rebate_percent=Decimal("5"),
                            active=False)
    member(external_id="u-buyer")
    response = post_hook(client, ORDERS, paid("o-e-1", "o-1", "u-buyer", merchant=merchant))
    assert response.status_code == 400
    assert error(response)["code"] == "unknown_merchant"
    assert "merchant" in str(error(response)["fields"])
    assert not Order.objects.exists() and not HookEvent.objects.exists()


def test_nodes_exist_for_members_created_by_the_hook():
    client = Client()
    post_hook(client, MEMBERS, member_event("m-1", "u-9"))
    assert Node.objects.filter(member__external_id="u-9").exists()
