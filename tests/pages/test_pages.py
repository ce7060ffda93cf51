"""Member pages through the Django test client: home and check-in, the points history, the
invite and account pages, CSRF, escaping, and members seeing only their own data. Signing in and
up are in ``test_sign_in.py``, the mall and redemptions in ``test_mall_pages.py``."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Redemption
from mall import invite
from mall.models import Member
from points.models import Entry
from points.services import earning
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory
from tests.pages.helpers import available, messages_of, text

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- home and check-in


def test_home_shows_balance_pending_expiring_streak_and_affordable_products(member_client, member):
    now = timezone.now()
    fund(member, 300, key="a", expires_at=now + timedelta(days=20))
    fund(member, 40, key="p", available_at=now + timedelta(days=7))
    make_product(name="Cheap tea", points_price=100)
    make_product(name="Pricey wine", points_price=5000)

    response = member_client.get("/")

    page = text(response)
    assert response.status_code == 200
    assert 'data-testid="available">300<' in page
    assert 'data-testid="pending">40<' in page
    day = timezone.localdate(now + timedelta(days=20))
    assert response.context["expiring"][0][1] == 300
    assert response.context["expiring"][0][0].month == day.month
    assert "300 points expire after" in page
    assert "Streak: 0 days" in page
    assert "You can redeem" in page
    assert "Cheap tea" in page and "Pricey wine" not in page


def test_home_with_nothing_affordable_shows_the_cheapest_products(member_client):
    make_product(name="Pricey wine", points_price=5000)

    page = text(member_client.get("/"))

    assert "Keep earning for these" in page
    assert "Pricey wine" in page


def test_check_in_posts_once_a_day_and_shows_the_streak(member_client, member):
    response = member_client.post("/check-in/", follow=True)

    assert response.redirect_chain == [("/", 302)]
    assert messages_of(response) == ["Checked in: +5 points, 1 day in a row."]
    assert "Streak: 1 day" in text(response)
    assert "Checked in · +5" in text(response)
    assert available(member) == 5

    again = member_client.post("/check-in/", follow=True)

    assert messages_of(again) == ["You have already checked in today (1 day in a row)."]
    assert available(member) == 5


def test_check_in_continues_yesterdays_streak(member_client, member):
    earning.check_in(member, now=timezone.now() - timedelta(days=1))

    assert "Streak: 1 day" in text(member_client.get("/"))
    response = member_client.post("/check-in/", follow=True)

    assert messages_of(response) == ["Checked in: +8 points, 2 days in a row."]
    assert "Streak: 2 days" in text(response)


def test_check_in_with_htmx_returns_the_card_only(member_client, member):
    response = member_client.post("/check-in/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    page = text(response)
    assert page.startswith('<section class="card check-in" id="check-in">')
    assert "Checked in: +5 points, 1 day in a row." in page
    assert "Streak: 1 day" in page
    assert "<html" not in page
    # The balance and the task list elsewhere on the page are updated out of band.
    assert '<p class="big" id="available" data-testid="available" hx-swap-oob="true">5</p>' in page
    assert '<section class="card tasks" id="tasks" data-testid="tasks" hx-swap-oob="true">' in page


def test_check_in_is_post_only(member_client):
    assert member_client.get("/check-in/").status_code == 405


def test_forms_refuse_a_post_without_the_csrf_token(member):
    strict = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    strict.force_login(member)
    product = make_product(name="Tea", points_price=10)
    fund(member, 100)

    assert strict.post("/check-in/").status_code == 403
    assert strict.post(f"/mall/{product.pk}/redeem/",
                       {"key": "a" * 32, "quantity": 1, "address": "Road 1"}).status_code == 403
    assert strict.post("/accounts/profile/", {"nickname": "x"}).status_code == 403
    assert Client(enforce_csrf_checks=True).post(
        "/accounts/login/", {"username": member.username, "password": "pass-for-tests-1"}
    ).status_code == 403
    assert Entry.objects.filter(account__member=member).count() == 1  # only the funding
    assert not Redemption.objects.exists()

    # With the token from the page, the same post goes through.
    page = strict.get("/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text(page)).group(1)
    assert strict.post("/check-in/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert available(member) == 105


# --------------------------------------------------------------------------- points history


def test_history_lists_entries_with_reason_and_explanation(member_client, member):
    earning.check_in(member)
    fund(member, 70, key="gift")

    response = member_client.get("/points/")

    page = text(response)
    assert response.status_code == 200
    entries = list(response.context["page"].object_list)
    assert [(e.kind, e.delta, e.balance_after) for e in entries] == [("earn", 70, 75), ("earn", 5, 5)]
    check_in_entry = entries[1]
    # Stored in the site's default language, shown in the reader's (English here).
    assert check_in_entry.explanation["lines"] == ["连续签到第 1 天：5"]
    assert "<li>check-in day 1: 5</li>" in page
    assert "check-in day 1: 5" in page and check_in_entry.reason not in page
    assert "+70" in page and "Balance 75" in page


def test_history_filters_by_kind_and_day_and_shows_only_own_entries(member_client, member):
    other = MemberFactory()
    fund(other, 999, key="other")
    fund(member, 500, key="mine")
    product = make_product(name="Tea", points_price=120)
    catalog_services.redeem(member, product, key="r1", address="Road 1")

    spends = member_client.get("/points/?kind=spend")
    assert [(e.kind, e.delta) for e in spends.context["page"].object_list] == [("spend", -120)]
    assert "Tea" in text(spends)

    today = timezone.localdate().isoformat()
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert len(member_client.get(f"/points/?date_from={today}&date_to={today}")
               .context["page"].object_list) == 2
    assert len(member_client.get(f"/points/?date_from={tomorrow}").context["page"].object_list) == 0
    everything = member_client.get("/points/")
    assert [e.delta for e in everything.context["page"].object_list] == [-120, 500]
    assert "999" not in text(everything)


def test_history_with_a_malformed_filter_shows_the_error_and_all_entries(member_client, member):
    fund(member, 10)

    response = member_client.get("/points/?kind=bogus&date_from=yesterday")

    assert response.status_code == 200
    assert "Select a valid choice. bogus is not one of the available choices." in text(response)
    assert "Enter a valid date." in text(response)
    assert len(response.context["page"].object_list) == 1


def test_history_is_paginated_and_keeps_the_filters(member_client, member):
    for n in range(23):
        fund(member, n + 1, key=f"f{n}")

    first = member_client.get("/points/?kind=earn")
    second = member_client.get("/points/?kind=earn&page=2")

    assert len(first.context["page"].object_list) == 20
    assert "Page 1 of 2" in text(first)
    assert 'href="?kind=earn&amp;page=2"' in text(first)
    assert [e.delta for e in second.context["page"].object_list] == [3, 2, 1]


# --------------------------------------------------------------------------- invite and account


def test_invite_page_shows_code_link_and_qr(member_client, member):
    response = member_client.get("/invite/")

    page = text(response)
    code = invite.invite_code(member)
    assert re.fullmatch(r"[A-Z2-7]{8}", code)
    assert code == invite.invite_code(Member.objects.get(pk=member.pk))  # stable
    assert code != invite.invite_code(MemberFactory())
    assert f'data-testid="invite-code">{code}<' in page
    assert f'value="http://testserver/accounts/register/?invite={code}"' in page
    assert '<svg viewBox="0 0 ' in page and 'class="qr"' in page and 'class="qrline"' in page
    # The link works: the register form carries the code.
    register = Client(HTTP_ACCEPT_LANGUAGE="en").get(f"/accounts/register/?invite={code}")
    assert f'name="invite_code" value="{code}"' in text(register)


def test_account_shows_and_saves_nickname_and_phone(member_client, member):
    page = text(member_client.get("/accounts/profile/"))
    assert f'value="{member.nickname}"' in page
    assert invite.invite_code(member) in page

    response = member_client.post("/accounts/profile/", {"nickname": "Ali <b>", "phone": "13700000000"},
                                  follow=True)

    member.refresh_from_db()
    assert (member.nickname, member.phone) == ("Ali <b>", "13700000000")
    assert messages_of(response) == ["Your account is saved."]
    assert "Ali &lt;b&gt;" in text(response)

    member_client.post("/accounts/profile/", {"nickname": "Ali", "phone": ""})
    member.refresh_from_db()
    assert member.phone is None


def test_account_refuses_a_taken_or_malformed_phone(member_client, member):
    MemberFactory(phone="13600000000")

    taken = member_client.post("/accounts/profile/", {"nickname": "A", "phone": "13600000000"})
    malformed = member_client.post("/accounts/profile/", {"nickname": "A", "phone": "12ab"})
    too_long = member_client.post("/accounts/profile/", {"nickname": "x" * 65, "phone": ""})

    assert taken.status_code == malformed.status_code == too_long.status_code == 400
    assert "This phone number is taken by another member." in text(taken)
    assert "Enter a phone number of 6 to 20 digits." in text(malformed)
    assert "Ensure this value has at most 64 characters (it has 65)." in text(too_long)
    member.refresh_from_db()
    assert member.phone is None and member.nickname != "A"


def test_language_switch_through_set_language(member):
    c = Client()
    c.force_login(member)
    assert '<html lang="zh-hans">' in text(c.get("/accounts/profile/"))

    response = c.post("/i18n/setlang/", {"language": "en", "next": "/accounts/profile/"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    page = text(c.get("/accounts/profile/"))
    assert '<html lang="en">' in page
    assert "My account" in page
    assert 'action="/i18n/setlang/"' in page
