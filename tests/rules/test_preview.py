"""Preview before publishing: "try an order" (function and admin page) and the "simulate" page.

The pages are reached through the admin URLs that RuleSetAdmin.get_urls wires
(``admin/rules/ruleset/<id>/try-order/`` and ``.../simulate/``); the views' own permission check
is also tested by calling them directly, since it must hold wherever they are mounted.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from rules.evaluator import OrderLine
from rules.models import RuleSet, RuleSetStatus
from rules.preview import simulate_view, try_order, try_order_view
from tests.factories import MemberFactory, StaffFactory
from tests.rules.test_simulation import make_candidate, paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def candidate():
    """Silver ×1.1, gold ×2, imported +100%, 50 points per yuan (see test_simulation)."""
    return make_candidate()


@pytest.fixture
def viewer():
    user = StaffFactory(username="viewer")
    user.user_permissions.add(view_permission())
    return user


def view_permission():
    return Permission.objects.get(codename="view_ruleset", content_type__app_label="rules")


@pytest.fixture
def client_en(client, viewer):
    client.force_login(viewer)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def try_url(rule_set):
    return reverse("admin:rules_ruleset_try_order", args=[rule_set.pk])


def simulate_url(rule_set):
    return reverse("admin:rules_ruleset_simulate", args=[rule_set.pk])


# --------------------------------------------------------------------------- try_order()


def test_try_order_shows_both_decisions(candidate):
    with translation.override("en"):
        result = try_order(candidate, tier="gold",
                           lines=[OrderLine("apple", Decimal("100.00"), ("imported",))])
    assert (result.candidate.version, result.candidate.points) == (candidate.version, 410)
    assert (result.active.version, result.active.points) == (1, 235)
    assert result.difference == 175
    assert result.order.amount == Decimal("100.00")
    assert result.candidate.explanation == (
        "apple: 100.00 yuan × 1/yuan × gold ×2 × (1 + 进口水果 100%) = 400",
        "spend tier: order 100.00 ≥ 100, +10",
        f"total 410 points (rules v{candidate.version})",
    )
    assert result.active.explanation == (
        "apple: 100.00 yuan × 1/yuan × gold ×1.5 × (1 + 进口水果 50%) = 225",
        "spend tier: order 100.00 ≥ 100, +10",
        "total 235 points (rules v1)",
    )
    assert result.member_version is None


def test_try_order_takes_mappings_and_an_order_amount(candidate):
    lines = [{"sku": "a", "amount": "150.00"}, {"sku": "b", "amount": "150.00", "categories": []}]
    result = try_order(candidate, tier="silver", lines=lines)
    assert result.order.amount == Decimal("300.00")
    assert (result.active.points, result.candidate.points) == (400, 370)
    # An order-level discount: the spend tier follows the order amount.
    result = try_order(candidate, tier="silver", lines=lines, order_amount=Decimal("299.00"))
    assert (result.active.points, result.candidate.points) == (370, 340)


def test_try_order_with_a_member_uses_their_tier_and_says_which_version_they_earn_under(candidate):
    member = MemberFactory(tier="gold")
    result = try_order(candidate, member=member, lines=[OrderLine("x", Decimal("80.00"))])
    assert (result.member.tier, result.member.member_id) == ("gold", member.pk)
    assert (result.active.points, result.candidate.points) == (120, 160)
    assert result.member_version == 1
    # An explicit tier wins over the member's (what if they were silver?).
    assert try_order(candidate, member=member, tier="silver", lines=[OrderLine("x", Decimal("80.00"))]) \
        .active.points == 96


def test_try_order_needs_a_tier_or_a_member(candidate):
    with pytest.raises(ValueError):
        try_order(candidate, lines=[OrderLine("x", Decimal("1.00"))])


def test_try_order_writes_nothing(candidate, django_assert_max_num_queries):
    counts = (RuleSet.objects.count(), candidate.events.count())
    with django_assert_max_num_queries(10) as queries:
        try_order(candidate, tier="gold", lines=[OrderLine("x", Decimal("80.00"))])
    assert not [q for q in queries.captured_queries
                if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert (RuleSet.objects.count(), candidate.events.count()) == counts


# --------------------------------------------------------------------------- the try-order page


def test_try_order_page_shows_the_form_with_breadcrumbs(client_en, candidate):
    response = client_en.get(try_url(candidate))
    assert response.status_code == 200
    assert [t.name for t in response.templates][:2] == [
        "admin/rules/try_order.html", "admin/console_page.html"]
    body = response.content.decode()
    assert f'<a href="{reverse("admin:app_list", args=["rules"])}">Rules</a>' in body
    assert f'<a href="{reverse("admin:rules_ruleset_changelist")}">Rule sets</a>' in body
    assert f'href="{reverse("admin:rules_ruleset_change", args=[candidate.pk])}"' in body
    assert 'name="lines"' in body and 'name="member"' in body and 'name="tier"' in body
    assert response.context["result"] is None


def test_try_order_page_shows_both_decisions_side_by_side(client_en, candidate):
    response = client_en.post(try_url(candidate), {"tier": "gold", "lines": "apple 100.00 imported\n"})
    assert response.status_code == 200
    result = response.context["result"]
    assert (result.candidate.points, result.active.points) == (410, 235)
    body = response.content.decode()
    assert f"v{candidate.version} (Draft)" in body and "Active v1" in body
    assert '<td class="candidate-points"><strong>410 points</strong></td>' in body
    assert '<td class="active-points"><strong>235 points</strong></td>' in body
    assert "<li>apple: 100.00 yuan × 1/yuan × gold ×2 × (1 + 进口水果 100%) = 400</li>" in body
    assert "<li>apple: 100.00 yuan × 1/yuan × gold ×1.5 × (1 + 进口水果 50%) = 225</li>" in body
    assert "Difference: +175 points" in body


def test_try_order_page_with_a_member_and_several_lines(client_en, candidate):
    member = MemberFactory(username="lily", tier="silver")
    response = client_en.post(try_url(candidate), {
        "member": "lily", "lines": "a 150.00\n\n  b 150.00 seasonal,imported  \n", "order_amount": "",
    })
    result = response.context["result"]
    assert result.member.member_id == member.pk
    assert [(line.sku, line.amount, line.categories) for line in result.order.lines] == [
        ("a", Decimal("150.00"), ()), ("b", Decimal("150.00"), ("seasonal", "imported")),
    ]
    # silver: 180 + 150×1.2×1.5 = 270, + 40 | candidate: 165 + 150×1.1×2 = 330, + 40
    assert (result.active.points, result.candidate.points) == (490, 535)
    assert "This member earns under v1 today." in response.content.decode()


def test_try_order_page_finds_members_by_phone_external_id_or_id(client_en, candidate):
    member = MemberFactory(phone="13800000001", external_id="shop-7", tier="gold")
    for value in ("13800000001", "shop-7", str(member.pk)):
        response = client_en.post(try_url(candidate), {"member": value, "lines": "x 80.00"})
        assert response.context["result"].member.member_id == member.pk


@pytest.mark.parametrize("data, error", [
    ({"tier": "gold", "lines": ""}, "Enter at least one order line."),
    ({"tier": "gold", "lines": " \n \n"}, "Enter at least one order line."),
    ({"tier": "gold", "lines": "apple"}, "Line 1: write the SKU and the amount, e.g. “apple-fuji 60.00”."),
    ({"tier": "gold", "lines": "apple 1\npear abc"}, "Line 2: “abc” is not an amount in yuan."),
    ({"tier": "gold", "lines": "pear -5"}, "Line 1: the amount cannot be negative."),
    ({"tier": "gold", "lines": "pear 1.234"}, "Line 1: the amount has more than 2 decimal places."),
    ({"tier": "gold", "lines": "pear NaN"}, "Line 1: “NaN” is not an amount in yuan."),
    ({"tier": "gold", "lines": "pear 1e20"}, "Line 1: the amount is too large."),
    ({"tier": "gold", "lines": "pear 1 Imported"},
     "Line 1: category “Imported”: use 1-32 lower-case letters, digits or _."),
    ({"tier": "gold", "lines": "x 1\n" * 51}, "Enter at most 50 order lines."),
    ({"tier": "gold", "lines": "x 1", "order_amount": "-1"},
     "Ensure this value is greater than or equal to 0."),
    ({"tier": "platinum", "lines": "x 1"},
     "Select a valid choice. platinum is not one of the available choices."),
    ({"lines": "x 1"}, "Pick a member or a tier."),
    ({"member": "nobody", "lines": "x 1"}, "No member with username, phone, external id or id “nobody”."),
])
def test_try_order_page_explains_bad_input(client_en, candidate, data, error):
    response = client_en.post(try_url(candidate), data)
    assert response.status_code == 200
    assert response.context["result"] is None
    errors = [e for field_errors in response.context["form"].errors.values() for e in field_errors]
    assert error in errors
    assert escape(error) in response.content.decode()


def test_try_order_page_reports_every_bad_line(client_en, candidate):
    response = client_en.post(try_url(candidate), {"tier": "gold", "lines": "a x\nb 1.00\nc -1"})
    assert response.context["form"].errors["lines"] == [
        "Line 1: “x” is not an amount in yuan.", "Line 3: the amount cannot be negative.",
    ]


def test_try_order_page_refuses_a_member_and_a_tier_together(client_en, candidate):
    MemberFactory(username="lily")
    response = client_en.post(try_url(candidate), {"member": "lily", "tier": "gold", "lines": "x 1"})
    assert response.context["form"].non_field_errors() == ["Pick a member or a tier, not both."]
    assert "Pick a member or a tier, not both." in response.content.decode()


def test_unknown_rule_set_is_404(client_en):
    assert client_en.get(reverse("admin:rules_ruleset_try_order", args=[987654])).status_code == 404
    assert client_en.get(reverse("admin:rules_ruleset_simulate", args=[987654])).status_code == 404


# --------------------------------------------------------------------------- the simulate page


def test_simulate_page_shows_the_form_with_30_days(client_en, candidate):
    response = client_en.get(simulate_url(candidate))
    assert response.status_code == 200
    assert [t.name for t in response.templates][:2] == [
        "admin/rules/simulate.html", "admin/console_page.html"]
    assert 'name="days" value="30"' in response.content.decode()
    assert response.context["result"] is None


def test_simulate_page_shows_the_figures(client_en, candidate):
    a, b = MemberFactory(username="a", nickname=""), MemberFactory(username="b", nickname="Bee")
    now = timezone.now()
    paid_order(a, "gold", [("100.00", "imported")], paid_at=now - timedelta(days=1))
    paid_order(b, "silver", [("150.00",), ("150.00",)], paid_at=now - timedelta(days=6))
    paid_order(b, "gold", [("500.00",)], paid_at=now - timedelta(days=8))
    response = client_en.post(simulate_url(candidate), {"days": "7"})
    assert response.status_code == 200
    result = response.context["result"]
    assert (result.orders, result.active_points, result.candidate_points, result.members_affected) == \
        (2, 635, 780, 2)
    body = response.content.decode()
    for cell in ('<td id="orders">2</td>', '<td id="active-points">635</td>',
                 '<td id="candidate-points">780</td>', '<td id="difference">+145</td>',
                 '<td id="members-affected">2 of 2</td>',
                 '<td id="cost">2.90 yuan (at 50 points per yuan)</td>'):
        assert cell in body
    assert "<tr><td>a</td><td>1</td><td>235</td>\n          <td>410</td><td>+175</td></tr>" in body
    assert "<tr><td>b (Bee)</td><td>1</td><td>400</td>\n          <td>370</td><td>-30</td></tr>" in body
    assert client_en.post(simulate_url(candidate), {"days": "30"}).context["result"].orders == 3


@pytest.mark.parametrize("days, error", [
    ("0", "Ensure this value is greater than or equal to 1."),
    ("abc", "Enter a whole number."),
    ("", "This field is required."),
])
def test_simulate_page_explains_bad_days(client_en, candidate, days, error):
    response = client_en.post(simulate_url(candidate), {"days": days})
    assert response.context["result"] is None
    assert response.context["form"].errors["days"] == [error]


def test_simulate_page_with_no_orders(client_en, candidate):
    response = client_en.post(simulate_url(candidate), {"days": "30"})
    assert response.context["result"].orders == 0
    assert "No member's points change." in response.content.decode()


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("url", [try_url, simulate_url])
def test_pages_need_a_staff_login(client, candidate, url):
    response = client.get(url(candidate))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(MemberFactory())
    response = client.get(url(candidate))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("url", [try_url, simulate_url])
def test_pages_need_the_view_permission(client, candidate, url):
    client.force_login(StaffFactory())
    assert client.get(url(candidate)).status_code == 403
    assert client.post(url(candidate), {"tier": "gold", "lines": "x 1", "days": "30"}).status_code == 403


@pytest.mark.parametrize("view", [try_order_view, simulate_view])
def test_views_check_permission_themselves(candidate, viewer, view):
    """Wherever they are mounted: anonymous, non-staff, staff without rules.view_ruleset and
    inactive users are refused; a staff user with it gets the page."""
    factory = RequestFactory()
    no_perm_staff = StaffFactory()
    member = MemberFactory()
    member.user_permissions.add(view_permission())
    inactive = StaffFactory(is_active=False)
    inactive.user_permissions.add(view_permission())
    for user in (AnonymousUser(), member, no_perm_staff, inactive):
        request = factory.get("/")
        request.user = user
        with pytest.raises(PermissionDenied):
            view(request, candidate.pk)
    request = factory.get("/")
    request.user = viewer
    response = view(request, candidate.pk)
    response.render()
    assert response.status_code == 200
    with pytest.raises(Http404):
        view(request, 987654)


def test_superuser_may_preview(client, candidate):
    client.force_login(StaffFactory(is_superuser=True))
    assert client.get(try_url(candidate)).status_code == 200


def test_published_version_can_be_tried_too(client_en):
    published = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    response = client_en.post(try_url(published), {"tier": "gold", "lines": "x 100 imported"})
    result = response.context["result"]
    assert (result.candidate.points, result.active.points) == (235, 235)
