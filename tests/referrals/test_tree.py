"""The invite tree and the team tree: binding, refusals, upgrade and sliding (issue 9)."""

import pytest

from referrals.errors import AlreadyInvited, InvalidInviteCode, InviteClosed, InviteCycle, SelfInvite
from referrals.models import Node
from referrals.services import tree
from tests.factories import MemberFactory
from tests.referrals.helpers import make_leader, member, node, pay, set_plan

pytestmark = pytest.mark.django_db


def code_of(someone):
    return tree.node_of(someone.pk).invite_code


def test_binding_stores_the_chain_and_depth():
    a = member()
    b = member(a)
    c = member(b)
    d = member(c)
    e = member(d)
    assert (node(e).inviter_id, node(e).inviter_2_id, node(e).inviter_3_id) == (d.pk, c.pk, b.pk)
    assert node(e).depth == 4
    assert node(a).direct_count == 1 and node(a).depth == 0


def test_codes_are_case_insensitive_and_stable():
    a = member()
    code = code_of(a)
    assert code == tree.derive_code(a.pk) and len(code) == 8
    b = MemberFactory()
    tree.bind(b, code.lower())
    assert node(b).inviter_id == a.pk


def test_self_invite_and_cycles_are_refused():
    a = member()
    with pytest.raises(SelfInvite):
        tree.bind(a, code_of(a))
    b = member(a)
    c = member(b)
    Node.objects.filter(member=a).update(direct_count=0)  # let only the cycle check stand in the way
    with pytest.raises(InviteCycle):
        tree.bind(a, code_of(c))
    assert node(a).inviter_id is None


def test_unknown_code_is_refused():
    with pytest.raises(InvalidInviteCode) as raised:
        tree.bind(member(), "ZZZZ2222")
    assert raised.value.code == "invalid_invite_code" and raised.value.fields == {
        "invite_code": [raised.value.message]}


def test_the_inviter_never_changes():
    a, other = member(), member()
    b = member(a)
    tree.bind(b, code_of(a))  # the same inviter again: nothing changes
    with pytest.raises(AlreadyInvited):
        tree.bind(b, code_of(other))
    assert node(b).inviter_id == a.pk and node(a).direct_count == 1


def test_binding_closes_after_a_paid_order_or_a_first_invitee():
    a = member()
    buyer = member()
    pay(buyer)
    with pytest.raises(InviteClosed):
        tree.bind(buyer, code_of(a))
    host = member()
    member(host)
    with pytest.raises(InviteClosed):
        tree.bind(host, code_of(a))


def test_new_members_join_the_inviters_team():
    leader = member()
    make_leader(leader)
    b = member(leader)
    c = member(b)
    loner = member()
    d = member(loner)
    assert (node(b).leader_id, node(c).leader_id) == (leader.pk, leader.pk)
    assert node(d).leader_id is None


@pytest.mark.parametrize("threshold", [2, 3])
def test_upgrade_and_sliding(threshold):
    set_plan(upgrade_threshold=threshold, slide_keep=None)
    a = member(username="A")
    make_leader(a)
    b = member(a, username="B")
    invitees = [member(b) for _ in range(threshold + 2)]
    grandchild = member(invitees[-1])  # below an invitee who will move: moves with them
    for i, c in enumerate(invitees[:threshold]):
        assert not node(b).is_leader
        pay(c, order_id=f"slide-{threshold}-{i}")
    b_node = node(b)
    assert b_node.is_leader and b_node.leader_id is None and b_node.qualified_direct_count == threshold
    teams = [node(c).leader_id for c in invitees]
    assert teams == [a.pk] * threshold + [b.pk] * 2  # the first N stay, the next ones slide
    assert node(grandchild).leader_id == b.pk
    assert node(member(b)).leader_id == b.pk  # from now on invitees join B's team


def test_upgrade_from_no_team_takes_every_invitee():
    b = member()
    kids = [member(b) for _ in range(4)]
    for i, kid in enumerate(kids[:3]):
        pay(kid, order_id=f"noteam-{i}")
    assert node(b).is_leader
    assert [node(kid).leader_id for kid in kids] == [b.pk] * 4


def test_unqualified_invitees_do_not_count():
    b = member()
    kids = [member(b) for _ in range(3)]
    pay(kids[0], order_id="q-0")
    pay(kids[0], order_id="q-0b")  # a second order of the same invitee counts once
    pay(kids[1], order_id="q-1")
    assert node(b).qualified_direct_count == 2 and not node(b).is_leader
