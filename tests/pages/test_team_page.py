"""The "my team" member page (issue 9), and the invite page's code and link binding the inviter."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mall.models import Member
from referrals.models import Node
from tests.pages.helpers import text
from tests.referrals.helpers import make_leader, member, pay, refund

pytestmark = pytest.mark.django_db


def client_of(someone, language="en"):
    c = Client(HTTP_ACCEPT_LANGUAGE=language)
    c.force_login(someone)
    return c


@pytest.fixture
def example():
    """A leads a team and invited B; B invites C1-C3, whose first orders make B a leader; then C4."""
    a = member(username="alice_a", nickname="alice")
    make_leader(a)
    b = member(a, username="bob_b", nickname="bobby")
    cs = [member(b, username=f"c{i}_user", nickname=f"carol{i}") for i in (1, 2, 3)]
    for i, c in enumerate(cs, start=1):
        pay(c, "100.00", order_id=f"first-C{i}")
    c4 = member(b, username="c4_user", nickname="dave")
    return a, b, cs, c4


def test_team_page_of_a_leader_shows_masked_names_status_and_totals(example):
    a, b, cs, c4 = example
    pay(c4, "100.00", order_id="C4-order")
    refund("first-C1", "100.00")

    response = client_of(b).get("/team/")

    page = text(response)
    assert response.status_code == 200
    assert 'data-testid="inviter">a***e<' in page
    assert "Team leader" in page
    assert 'data-testid="team-size">1 member<' in page
    assert "You lead a team since" in page
    assert 'data-testid="rewards-pending">550<' in page  # 700 less C1's refunded 150 direct
    assert 'data-testid="rewards-settled">0<' in page
    assert 'data-testid="rewards-reversed">150<' in page
    assert 'data-testid="direct-count">3 of 4 qualified<' in page
    for name in ("c***1", "c***2", "c***3", "d**e"):
        assert f'<span class="invitee-name">{name}</span>' in page
    assert page.count('class="status status-qualified"') == 3  # C1 was refunded in full
    assert page.count('class="status status-waiting"') == 1
    # Raw names of other members never appear.
    for someone in (a, *cs, c4):
        assert someone.username not in page and someone.nickname not in page
    # The reward records, newest first, with status and explanation.
    assert page.count('class="entry reward"') == 5
    assert "Order C4-order" in page
    assert "Team reward: 20% of the 500-point budget of order C4-order" in page
    assert page.count('class="status status-pending"') == 4
    assert page.count('class="status status-reversed"') == 1
    assert page.index("Order C4-order") < page.index("Order first-C3") < page.index("Order first-C1")


def test_team_page_shows_the_progress_to_leader(example):
    _a, b, (c1, c2, _c3), _c4 = example
    newcomer = member(c1, username="new_user", nickname="Newcomer")
    member(newcomer)
    friend = member(newcomer)
    pay(friend, "50.00", order_id="friend-order")

    page = text(client_of(newcomer).get("/team/"))

    assert 'data-testid="inviter">c***1<' in page
    assert 'data-testid="leader-status">Member<' in page
    assert 'data-testid="progress">1 / 3 qualified invitees<' in page
    assert '<progress class="progress" max="100" value="33"' in page
    assert "Invite 2 more friends who place an order to lead your own team." in page
    assert "team-size" not in page
    assert 'data-testid="rewards-pending">75<' in page  # 30% of the 250-point budget


def test_team_page_of_a_new_member_without_inviter_or_rewards(member_client):
    page = text(member_client.get("/team/"))

    assert 'data-testid="inviter"><span class="muted">No inviter</span><' in page
    assert 'data-testid="progress">0 / 3 qualified invitees<' in page
    assert '<progress class="progress" max="100" value="0"' in page
    assert "You have not invited anyone yet." in page
    assert "No rewards yet" in page
    assert 'href="/invite/"' in page


def test_team_page_settled_and_partly_refunded_rewards():
    parent = member(username="parent_user")
    kid = member(parent)
    pay(kid, "100.00", order_id="old", paid_at=timezone.now() - timedelta(days=10))
    pay(kid, "200.00", order_id="new")
    refund("new", "100.00")  # half of the 300-point direct reward

    page = text(client_of(parent).get("/team/"))

    assert 'data-testid="rewards-pending">150<' in page
    assert 'data-testid="rewards-settled">150<' in page
    assert 'data-testid="rewards-reversed">150<' in page
    assert page.count('class="status status-settled"') == 1
    assert page.count('class="status status-pending"') == 1
    assert "150 reversed" in page


def test_team_page_records_are_paginated_like_the_history():
    parent = member(username="parent_user")
    kid = member(parent)
    for i in range(21):
        pay(kid, "10.00", order_id=f"o-{i:02d}")

    first = client_of(parent).get("/team/")
    second = client_of(parent).get("/team/?page=2")

    assert text(first).count('class="entry reward"') == 20
    assert "Page 1 of 2" in text(first)
    assert 'href="?page=2"' in text(first)
    assert text(second).count('class="entry reward"') == 1
    assert "Order o-00" in text(second)


def test_team_page_renders_in_chinese(example):
    _a, b, _cs, _c4 = example

    response = client_of(b, language="zh-hans").get("/team/")

    page = text(response)
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in page
    assert "待生效" in page  # "Pending", already translated
    assert 'data-testid="inviter">a***e<' in page
    assert 'data-testid="rewards-pending">450<' in page


def test_team_page_needs_sign_in(client):
    response = client.get("/team/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/team/"


def test_team_is_linked_from_home_invite_and_account(member_client):
    for url in ("/", "/invite/", "/accounts/profile/"):
        assert 'href="/team/"' in text(member_client.get(url)), url


# --------------------------------------------------------------------------- the invite page


def test_invite_page_shows_the_stored_code_and_its_link_binds_the_inviter(member_client, member):
    page = text(member_client.get("/invite/"))
    code = Node.objects.get(member=member).invite_code
    assert f'data-testid="invite-code">{code}<' in page
    assert f'value="http://testserver/accounts/register/?invite={code}"' in page

    visitor = Client(HTTP_ACCEPT_LANGUAGE="en")
    form = text(visitor.get(f"/accounts/register/?invite={code}"))
    assert f'name="invite_code" value="{code}"' in form
    response = visitor.post("/accounts/register/", {
        "username": "newbie", "password": "a-long-passphrase-9", "password2": "a-long-passphrase-9",
        "invite_code": code,
    })

    assert response.status_code == 302
    newbie = Member.objects.get(username="newbie")
    assert Node.objects.get(member=newbie).inviter_id == member.pk
    assert Node.objects.get(member=member).direct_count == 1
    assert 'data-testid="direct-count">0 of 1 qualified<' in text(member_client.get("/team/"))


def test_register_with_an_unknown_code_is_refused_on_the_page(client):
    response = client.post("/accounts/register/", {
        "username": "newbie", "password": "a-long-passphrase-9", "password2": "a-long-passphrase-9",
        "invite_code": "ZZZZ2222",
    })

    assert response.status_code == 400
    assert "No member has this invite code." in text(response)
    assert not Member.objects.filter(username="newbie").exists()
