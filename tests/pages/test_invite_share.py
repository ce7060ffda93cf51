"""The invite page: copy and share buttons (vendored JS, the share button shown only where the
browser has the Web Share API), the referral terms in plain words from the rules and the
published plan, and the friends the member invited."""

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from mall.models import Member
from tests.pages.helpers import text
from tests.referrals.helpers import member, pay, refund, set_plan

pytestmark = pytest.mark.django_db


def page_of(someone, language="en") -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(someone)
    response = client.get("/invite/")
    assert response.status_code == 200
    return text(response)


def test_copy_and_share_buttons_use_the_vendored_script():
    inviter = member(username="ivy_inviter", nickname="ivy")

    page = page_of(inviter)

    assert 'data-copy-target="invite-url"' in page and "Copy link" in page
    # Hidden until the script finds navigator.share.
    assert 'data-testid="share" data-share hidden' in page
    assert '<script src="/static/js/share.js" defer></script>' in page
    assert "//cdn" not in page and "https://" not in page.split("<body")[0]
    script = open(finders.find("js/share.js"), encoding="utf-8").read()
    assert "navigator.clipboard" in script and "navigator.share" in script
    assert "select()" in script  # the fallback without the Clipboard API


def test_the_rules_are_read_from_the_plan_and_the_behaviour_rules():
    inviter = member(username="ivy_inviter", nickname="ivy")

    page = page_of(inviter)

    assert "You get 100 points for each friend you invite." in page  # the invite behaviour
    # 5% of the order funds rewards, 30% of it to the inviter, 100 points a yuan: 150 per 100 yuan.
    assert "you get about 150 points for every 100 yuan they pay." in page
    assert "After 5000 reward points, buy something yourself to keep receiving rewards." in page
    assert "With 3 invited friends who have bought, you lead a team" in page
    assert "at most" not in page.split("How inviting works")[1].split("</section>")[0].replace(
        "After", "")  # no caps in the default plan

    set_plan(direct_share=40, buyer_share=20, daily_cap_per_member=800, cap_per_order=1000)
    changed = page_of(inviter)

    assert "you get about 200 points for every 100 yuan they pay." in changed
    assert "You can get at most 800 reward points a day." in changed
    assert "One order pays at most 1000 reward points in all." in changed


def test_the_friends_are_listed_masked_with_status_and_reward():
    inviter = member(username="ivy_inviter", nickname="ivy")
    buyer = member(inviter, username="bob_buyer", nickname="bobby")
    Member.objects.filter(pk=buyer.pk).update(phone="13900001111")
    waiting = member(inviter, username="carol_c", nickname="carol")
    member(waiting, username="dave_d", nickname="dave")  # a friend's friend is not listed here
    member(username="stranger", nickname="stranger")
    pay(buyer, "100.00", order_id="B-1")
    pay(buyer, "200.00", order_id="B-2")
    refund("B-2", "100.00")

    page = page_of(inviter)

    assert page.count('data-testid="friend"') == 2
    assert "Friends you invited (2)" in page
    assert '<span class="friend-name">139****1111</span>' in page
    assert '<span class="friend-name">c***l</span>' in page
    assert "Has bought" in page and "Signed up" in page
    assert "+300 points for you" in page  # 150 + 300, less 150 for the refunded half of B-2
    for someone in ("bobby", "bob_buyer", "carol", "dave", "stranger", "13900001111"):
        assert someone not in page


def test_nobody_invited_yet_says_so():
    page = page_of(member(username="lonely", nickname="lonely"))

    assert "No friends have joined with your link yet." in page
    assert "Friends you invited (0)" in page
