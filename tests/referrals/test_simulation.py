"""Simulating a reward plan over past paid orders (referrals.simulation), the ``simulate_plan``
command and the admin's "Simulate" page.

The strongest check: replayed under the published plan, orders paid through the live path give
exactly what their live reward records paid, when nothing changed in between."""

from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Max
from django.http import Http404
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse
from django.utils import timezone, translation

from referrals import simulation
from referrals.admin_simulation import simulate_view
from referrals.models import LEVEL_LIMIT, Merchant, Outcome, RewardKind, RewardPlan, RewardRecord
from referrals.services import plans
from referrals.simulation import compare_with_published, simulate_plan
from tests.factories import StaffFactory
from tests.referrals.helpers import make_leader, member, pay, set_plan

pytestmark = pytest.mark.django_db


def local_midnight(days_ago: int) -> datetime:
    """The start of a past day in the site's time zone (Asia/Shanghai)."""
    today = timezone.localtime(timezone.now(), timezone.get_default_timezone()).date()
    day = today - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, tzinfo=timezone.get_default_timezone())


def at(days_ago: int, hour: int, minute: int = 0) -> datetime:
    return local_midnight(days_ago) + timedelta(hours=hour, minutes=minute)


def live_figures(order_filter) -> dict:
    """What the live reward records of the orders paid: the figures a simulation reports."""
    records = list(RewardRecord.objects.filter(**order_filter))
    paid = [r for r in records if r.outcome != Outcome.LAPSED and r.points > 0]
    by_kind = dict.fromkeys(RewardKind.values, 0)
    for record in paid:
        by_kind[record.kind] += record.points
    levels = [r.level for r in paid if r.level is not None]
    return {
        "total_points": sum(r.points for r in paid),
        "by_kind": by_kind,
        "members_rewarded": len({r.beneficiary_id for r in paid}),
        "deepest_level": max(levels) if levels else None,
        "passed_up": sum(r.outcome == Outcome.PASSED_UP for r in records),
        "lapsed_points": sum(r.detail.get("planned", 0) for r in records if r.outcome == Outcome.LAPSED),
    }


def figures(result) -> dict:
    return {name: getattr(result, name) for name in
            ("total_points", "by_kind", "members_rewarded", "deepest_level", "passed_up", "lapsed_points")}


# --------------------------------------------------------------------------- the live rule, replayed


@pytest.fixture
def busy_tree():
    """Two leaders (A, and B whom A invited), a chain below B four deep, an inactive member in it,
    two merchants, and three days of orders paid through the live path, with a repurchase
    threshold, a daily cap, excluded lines and a free order so that gating, passing up, lapsing
    and capping all happen. No upgrade happens (the threshold is out of reach): the trees the
    orders met are the trees of today."""
    set_plan(upgrade_threshold=50, repurchase_points=400, daily_cap_per_member=700)
    a = member(username="A")
    make_leader(a)
    b = member(a, username="B")
    make_leader(b)
    c = member(b, username="C")
    d = member(c, username="D")
    e = member(d, username="E")
    f = member(e, username="F")  # B, their team leader, is 4 levels up
    x = member(c, username="X", is_active=False)
    y = member(x, username="Y")
    owner = member(username="O")
    Merchant.objects.create(code="shop", name="Shop", owner=owner, rebate_percent=Decimal("10"))
    Merchant.objects.create(code="gone", name="Gone", owner=owner, rebate_percent=Decimal("8"))
    pay(a, "80.00", order_id="old", paid_at=at(40, 10))  # outside a 30-day window
    package = [{"sku": "vip", "amount": Decimal("60.00"), "categories": ["package"]},
               {"sku": "tea", "amount": Decimal("90.00")}]
    schedule = [
        (3, 9, e, "100.00", None, None), (3, 10, d, "100.00", None, None),
        (3, 11, c, "100.00", "shop", None), (3, 12, y, "100.00", None, None),
        (3, 13, f, "100.00", None, None), (3, 14, e, "150.00", None, package),
        (3, 15, d, "250.00", "gone", None), (3, 16, y, "120.00", "shop", None),
        (3, 23, e, "300.00", None, None),
        (2, 0, f, "100.00", None, None), (2, 8, c, "0.00", None, None),  # a free order
        (2, 9, d, "100.00", None, None), (2, 10, e, "200.00", "shop", None),
        (2, 11, y, "100.00", None, None), (2, 12, c, "50.00", None, None),
        (2, 13, d, "100.00", None, None), (2, 14, f, "400.00", "gone", None),
        (1, 9, e, "100.00", None, None), (1, 10, f, "100.00", None, None),
        (1, 11, d, "180.00", "shop", None), (1, 12, y, "100.00", None, None),
    ]
    for n, (days_ago, hour, buyer, amount, shop, lines) in enumerate(schedule):
        pay(buyer, amount, order_id=f"busy-{n}", paid_at=at(days_ago, hour), merchant=shop, lines=lines)
    # A merchant closed since: its past orders still count, with its current rebate and owner.
    Merchant.objects.filter(code="gone").update(active=False)
    return {"A": a, "B": b, "C": c, "D": d, "E": e, "F": f, "X": x, "Y": y, "O": owner,
            "orders": len(schedule)}


def test_the_published_plan_replayed_gives_what_live_paid(busy_tree):
    live = live_figures({"order__external_id__startswith": "busy-"})
    # The scenario exercises every path of the rule, or the equality below would prove little.
    whys = {r.detail.get("why") for r in RewardRecord.objects.exclude(outcome=Outcome.PAID)}
    assert {"inactive", "repurchase", "beyond_level_limit"} <= whys
    assert RewardRecord.objects.filter(detail__capped="daily_cap").exists() or "daily_cap" in whys
    assert live["passed_up"] > 0 and live["lapsed_points"] > 0
    assert all(points > 0 for points in live["by_kind"].values())

    result = simulate_plan(plans.published_plan(), days=30)
    assert figures(result) == live
    assert result.orders == busy_tree["orders"]  # the order 40 days ago is outside the window
    assert result.revenue == Decimal("2850.00")
    assert result.deepest_level == LEVEL_LIMIT


def test_figures_are_valued_at_the_published_rule_set_rate(busy_tree):
    result = simulate_plan(plans.published_plan(), days=30)
    assert result.redemption_points_per_yuan == 100
    assert result.value_yuan == (Decimal(result.total_points) / 100).quantize(Decimal("0.01"))
    assert result.percent_of_revenue == (result.value_yuan / result.revenue * 100).quantize(Decimal("0.01"))
    assert result.version == plans.published_plan().version and result.days == 30
    assert result.until - result.since == timedelta(days=30)


def test_the_window_takes_the_orders_of_the_last_days(busy_tree):
    now = timezone.now()
    # [now - 2 days, now): day 1 is in, day 3 is out, day 2 depends on the hour the test runs.
    result = simulate_plan(plans.published_plan(), days=2, now=now)
    day_two = sum(1 for hour in (0, 8, 9, 10, 11, 12, 13, 14) if at(2, hour) >= now - timedelta(days=2))
    assert result.orders == 4 + day_two
    # The whole of day 2 in the site's time zone: its 8 orders (the free one included).
    assert simulate_plan(plans.published_plan(), days=1, now=local_midnight(1)).orders == 8


# ------------------------------------------------------------------- a draft and the published plan


@pytest.fixture
def small_tree():
    """A leads; A invited B, B invited C; O owns a 10% merchant. C pays 100 (own), B pays 100,
    C pays 200 at the merchant: 400.00 of revenue, live under the default plan."""
    a = member(username="A")
    make_leader(a)
    b = member(a, username="B")
    c = member(b, username="C")
    owner = member(username="O")
    Merchant.objects.create(code="shop", name="Shop", owner=owner, rebate_percent=Decimal("10"))
    pay(c, "100.00", order_id="s-1", paid_at=at(2, 10))
    pay(b, "100.00", order_id="s-2", paid_at=at(2, 11))
    pay(c, "200.00", merchant="shop", order_id="s-3", paid_at=at(1, 10))
    return a, b, c, owner


@pytest.fixture
def draft(small_tree):
    editor = StaffFactory(username="editor")
    draft = plans.clone_as_draft(plans.published_plan(), actor=editor)
    plans.save_draft(draft, actor=editor, fields={
        "own_order_budget_percent": Decimal("4"), "direct_share": Decimal("40"),
        "team_share": Decimal("10"), "buyer_share": Decimal("20"), "merchant_share": Decimal("5"),
        "max_levels": 1,
    })
    return draft


def test_the_published_plan_of_the_small_tree(small_tree):
    # s-1: 500-point budget: direct B 150, team A (level 2) 100. s-2: direct A 150, team A 100.
    # s-3: 2,000 points: buyer C 600, merchant O 200, direct B 600, team A 400.
    result = simulate_plan(plans.published_plan(), days=30)
    assert (result.orders, result.revenue, result.total_points) == (3, Decimal("400.00"), 2300)
    assert result.by_kind == {"direct": 900, "team": 600, "same_level": 0, "buyer_rebate": 600,
                              "merchant_rebate": 200}
    assert (result.value_yuan, result.percent_of_revenue) == (Decimal("23.00"), Decimal("5.75"))
    assert (result.members_rewarded, result.deepest_level) == (4, 2)
    assert (result.lapsed_points, result.passed_up) == (0, 0)
    assert result.total_points == live_figures({"order__external_id__startswith": "s-"})["total_points"]


def test_a_draft_with_other_shares_side_by_side(draft):
    # 4% of own orders (400 points per 100.00), direct 40%, team 10%, buyer 20%, merchant 5%, one
    # level: s-1 direct B 160, team A (level 2) lapses (40 planned); s-2 direct A 160, team A 40;
    # s-3 (2,000 points) buyer C 400, merchant O 100, direct B 800, team A lapses (200 planned).
    mine, published = compare_with_published(draft, days=30)
    assert (mine.version, mine.status) == (draft.version, "draft")
    assert (mine.orders, mine.revenue, mine.total_points) == (3, Decimal("400.00"), 1660)
    assert mine.by_kind == {"direct": 1120, "team": 40, "same_level": 0, "buyer_rebate": 400,
                            "merchant_rebate": 100}
    assert (mine.value_yuan, mine.percent_of_revenue) == (Decimal("16.60"), Decimal("4.15"))
    assert (mine.members_rewarded, mine.deepest_level) == (4, 1)
    assert (mine.lapsed_points, mine.passed_up) == (240, 0)
    assert (published.version, published.total_points, published.deepest_level) == (1, 2300, 2)
    assert (mine.since, mine.until) == (published.since, published.until)


def test_compare_without_a_published_plan(draft):
    RewardPlan.objects.filter(status="published").update(status="retired")
    mine, published = compare_with_published(draft, days=30)
    assert published is None and mine.total_points == 1660


def test_comparing_the_published_plan_with_itself(small_tree):
    mine, published = compare_with_published(plans.published_plan(), days=30)
    assert mine is published and mine.total_points == 2300


def test_an_order_received_while_reading_the_trees_is_replayed_too(small_tree, monkeypatch):
    """The chains and merchants are read before the orders; a buyer or merchant that turns up in
    the orders only (an order received in between) is read then, on its own."""
    _a, b, c, _owner = small_tree
    real_chains, real_merchants = simulation._chains, simulation._Trees._read_merchants
    reads = []

    def chains_missing_at_first(buyers, active):
        reads.append(buyers)
        return {} if len(reads) == 1 else real_chains(buyers, active)

    def merchants_missing_at_first(self, queryset):
        if getattr(self, "_first_read_done", False):
            real_merchants(self, queryset)
        self._first_read_done = True

    monkeypatch.setattr(simulation, "_chains", chains_missing_at_first)
    monkeypatch.setattr(simulation._Trees, "_read_merchants", merchants_missing_at_first)
    result = simulate_plan(plans.published_plan(), days=30)
    assert reads[1:] == [[c.pk], [b.pk]]  # once each, in paid_at order
    assert (result.total_points, result.by_kind["merchant_rebate"]) == (2300, 200)


def test_no_orders_no_revenue():
    result = simulate_plan(plans.published_plan(), days=7)
    assert (result.orders, result.revenue, result.total_points) == (0, Decimal("0"), 0)
    assert (result.value_yuan, result.percent_of_revenue) == (Decimal("0.00"), Decimal("0.00"))
    assert (result.members_rewarded, result.deepest_level) == (0, None)


@pytest.mark.parametrize("days", [0, 366, -1, "30", 1.5, True])
def test_days_must_be_1_to_365(days):
    with pytest.raises(ValueError, match="1 to 365"):
        simulate_plan(plans.published_plan(), days=days)


# --------------------------------------------------------------------------- the level limit


def test_no_one_beyond_three_levels_is_paid_even_by_passing_up():
    """The buyer's three inviters are inactive: the direct reward could only pass up to the fourth
    one, which the law forbids; it lapses. The leader 4 levels up is not paid either."""
    top = member(username="top")
    make_leader(top)
    i3 = member(top, username="i3", is_active=False)
    i2 = member(i3, username="i2", is_active=False)
    i1 = member(i2, username="i1", is_active=False)
    buyer = member(i1, username="buyer")
    pay(buyer, "100.00", order_id="deep", paid_at=at(1, 10))
    result = simulate_plan(plans.published_plan(), days=30)
    assert (result.total_points, result.members_rewarded, result.deepest_level) == (0, 0, None)
    assert result.lapsed_points == 150 + 100  # direct (no eligible inviter) and team (level 4)
    assert figures(result) == live_figures({"order__external_id": "deep"})


def test_deepest_level_never_exceeds_the_limit(busy_tree):
    editor = StaffFactory()
    generous = plans.clone_as_draft(plans.published_plan(), actor=editor)
    plans.save_draft(generous, actor=editor, fields={"repurchase_points": 0, "daily_cap_per_member": None})
    result = simulate_plan(generous, days=30)
    assert result.deepest_level == LEVEL_LIMIT
    assert result.passed_up > 0  # X (inactive) still passes up, within the levels


# --------------------------------------------------------------------------- writes nothing, few queries


def table_counts() -> dict:
    models = [*apps.get_app_config("referrals").get_models(), *apps.get_app_config("points").get_models()]
    return {model._meta.label: model.objects.count() for model in models}


def test_simulating_writes_nothing(busy_tree):
    editor = StaffFactory()
    draft = plans.clone_as_draft(plans.published_plan(), actor=editor)
    before = table_counts()
    latest = RewardRecord.objects.aggregate(top=Max("id"))["top"]
    with CaptureQueriesContext(connection) as queries:
        compare_with_published(draft, days=30)
        with translation.override("en"):
            call_command("simulate_plan", stdout=StringIO())
    assert table_counts() == before
    assert RewardRecord.objects.aggregate(top=Max("id"))["top"] == latest
    statements = [q["sql"].lstrip().split(None, 1)[0].upper() for q in queries.captured_queries]
    assert set(statements) <= {"SELECT", "DECLARE", "FETCH", "CLOSE"}, statements


def test_reads_do_not_grow_with_the_orders(small_tree):
    _a, b, c, _owner = small_tree

    def queries_of_a_run():
        with CaptureQueriesContext(connection) as queries:
            simulate_plan(plans.published_plan(), days=30)
        return len(queries.captured_queries)

    few = queries_of_a_run()
    for n in range(20):
        pay(c if n % 2 else b, "10.00", order_id=f"more-{n}", paid_at=at(1, 12, n))
    assert queries_of_a_run() == few <= 6


# --------------------------------------------------------------------------- manage.py simulate_plan


def run_command(*args) -> str:
    out = StringIO()
    with translation.override("en"):
        call_command("simulate_plan", *args, stdout=out)
    return out.getvalue()


def table_row(text: str, label: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(label))
    return line[len(label):].split()


def test_command_prints_the_newest_draft_against_the_published_plan(draft):
    text = run_command("--days", "30")
    assert f"Reward plan v{draft.version} against the published plan" in text
    assert table_row(text, " ") == [f"v{draft.version}", "(Draft)", "v1", "(Published)"]
    assert table_row(text, "Paid orders") == ["3", "3"]
    assert table_row(text, "Revenue (yuan)") == ["400.00", "400.00"]
    assert table_row(text, "Reward points") == ["1660", "2300"]
    assert table_row(text, "Value (yuan)") == ["16.60", "23.00"]
    assert table_row(text, "Share of revenue") == ["4.15%", "5.75%"]
    assert table_row(text, "Members rewarded") == ["4", "4"]
    assert table_row(text, "Deepest level paid") == ["1", "2"]
    assert table_row(text, "Points: Direct reward") == ["1120", "900"]
    assert table_row(text, "Points: Team reward") == ["40", "600"]
    assert table_row(text, "Points: Buyer rebate") == ["400", "600"]
    assert table_row(text, "Points lapsed") == ["240", "0"]
    assert table_row(text, "Rewards passed up") == ["0", "0"]
    assert "nothing was written" in text


def test_command_takes_a_version_and_defaults_to_the_published_plan(draft):
    text = run_command("--plan", "1", "--days", "1")
    assert table_row(text, " ") == ["v1", "(Published)"]  # the published plan alone: one column
    RewardPlan.objects.filter(pk=draft.pk).update(status="retired")
    text = run_command()
    assert table_row(text, " ") == ["v1", "(Published)"]
    assert table_row(text, "Reward points") == ["2300"]


def test_command_refuses_an_unknown_version_or_bad_days(draft):
    with pytest.raises(CommandError, match="There is no reward plan v999"):
        run_command("--plan", "999")
    for days in ("0", "366"):
        with pytest.raises(CommandError, match="--days must be from 1 to 365"):
            run_command("--days", days)


# --------------------------------------------------------------------------- the admin page


@pytest.fixture
def viewer():
    user = StaffFactory(username="viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_rewardplan",
                                                     content_type__app_label="referrals"))
    return user


def plan_admin():
    # The plan admin (referrals/admin.py) is written separately: a plain one stands in for it.
    return admin.ModelAdmin(RewardPlan, admin.site)


@pytest.fixture
def english():
    # The pages' texts and the form's messages (lazy) in English, whatever the site's language.
    with translation.override("en"):
        yield


def get_page(user, plan, query=None, object_id=None):
    request = RequestFactory().get("/admin/referrals/rewardplan/x/simulate/", query or {})
    request.user = user
    response = simulate_view(plan_admin(), request, str(object_id or plan.pk))
    return response.render()


def test_page_shows_the_form_first(english, viewer, draft):
    response = get_page(viewer, draft)
    assert response.status_code == 200
    assert response.template_name == "admin/referrals/rewardplan/simulate.html"
    body = response.content.decode()
    assert 'id="site-name"' in body and '<div class="breadcrumbs">' in body  # admin/base_site.html
    assert 'name="days" value="30"' in body
    assert response.context_data["result"] is None
    assert "Nothing is written" in body and "with today" in body and "invite and team trees" in body


def test_page_shows_both_columns(english, viewer, draft):
    response = get_page(viewer, draft, {"days": "30"})
    assert response.status_code == 200
    assert response.context_data["result"].total_points == 1660
    body = response.content.decode()
    assert f"<th scope=\"col\">v{draft.version} (Draft)</th><th scope=\"col\">v1 (Published)</th>" in body
    assert ('<tr id="row-total_points"><th scope="row">Reward points</th><td>1660</td><td>2300</td></tr>'
            in body)
    assert ('<tr id="row-deepest_level"><th scope="row">Deepest level paid</th><td>1</td><td>2</td></tr>'
            in body)
    assert '<tr id="row-percent_of_revenue"><th scope="row">Share of revenue</th><td>4.15%</td>' in body
    # The breadcrumb links back to the plan's page (referrals.admin registers it).
    back = reverse("admin:referrals_rewardplan_change", args=[draft.pk])
    assert f'&rsaquo; <a href="{back}">v{draft.version} {draft.name} (Draft)</a>' in body


@pytest.mark.parametrize("days, error", [
    ("0", "Ensure this value is greater than or equal to 1."),
    ("366", "Ensure this value is less than or equal to 365."),
    ("abc", "Enter a whole number."),
    ("", "This field is required."),
])
def test_page_explains_bad_days(english, viewer, draft, days, error):
    response = get_page(viewer, draft, {"days": days})
    assert response.status_code == 200
    assert response.context_data["result"] is None
    assert response.context_data["form"].errors["days"] == [error]
    assert error in response.content.decode()


def test_page_needs_the_view_permission_and_a_plan(english, viewer, draft):
    with pytest.raises(PermissionDenied):
        get_page(StaffFactory(), draft)
    with pytest.raises(Http404):
        get_page(viewer, draft, object_id=987654)


def _mounted(request, object_id):
    return simulate_view(plan_admin(), request, object_id)


# A throwaway URL through the admin site's login and CSRF wrapping, as the plan admin will mount it.
urlpatterns = [
    path("admin/referrals/rewardplan/<path:object_id>/simulate/", admin.site.admin_view(_mounted),
         name="plan_simulate"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # the console's language switch
]


@pytest.mark.urls("tests.referrals.test_simulation")
def test_page_through_the_admin_site(client, viewer, draft):
    url = f"/admin/referrals/rewardplan/{draft.pk}/simulate/"
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(viewer)
    response = client.get(url, {"days": "30"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and response.context["result"].total_points == 1660
