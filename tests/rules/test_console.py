"""The rules console (issue 13): the simulation page's daily difference, breakdowns by tier and by
rule table, % change, CSV and chart; the gray cohort against the rest; exact figures."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from points.services.postings import earn, spend
from rules import services
from rules.evaluator import MemberContext, Order, OrderLine, evaluate_order
from rules.selectors import active_rulebook, rulebook
from rules.simulation import gray_comparison, order_parts, simulate_days
from tests.factories import MemberFactory, StaffFactory
from tests.rules.test_preview import view_permission
from tests.rules.test_simulation import NOW, make_candidate, orders, paid_order  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def candidate():
    return make_candidate()


def test_daily_difference_per_tier_per_table_and_percent_change(candidate, orders):  # noqa: F811
    with translation.override("zh-hans"):
        breakdown = simulate_days(candidate, days=30, now=NOW)
    result = breakdown.result
    assert (breakdown.first_day, breakdown.last_day) == (date(2026, 3, 2), date(2026, 3, 31))
    # c's order of 31 days ago and d's after now are outside; c's of 29 days ago is in (03-02).
    assert (result.orders, result.active_points, result.candidate_points) == (7, 1315, 1650)
    assert breakdown.percent_change == Decimal("25.5")  # 335 / 1315
    assert len(breakdown.daily) == 30
    changed = {row.key: (row.orders, row.active_points, row.candidate_points, row.difference)
               for row in breakdown.daily if row.orders}
    assert changed == {
        date(2026, 3, 2): (1, 120, 160, 40),
        date(2026, 3, 11): (1, 65, 65, 0),
        date(2026, 3, 26): (1, 26, 26, 0),
        date(2026, 3, 27): (1, 10, 10, 0),
        date(2026, 3, 28): (1, 400, 370, -30),
        date(2026, 3, 29): (1, 235, 410, 175),
        date(2026, 3, 31): (1, 459, 609, 150),
    }
    assert sum(row.difference for row in breakdown.daily) == result.difference == 335
    assert [(row.key, row.label, row.orders, row.active_points, row.candidate_points)
            for row in breakdown.by_tier] == [
        ("normal", "普通会员", 3, 550, 700), ("silver", "银卡会员", 2, 410, 380),
        ("gold", "金卡会员", 2, 355, 570)]
    assert [(row.key, row.active_points, row.candidate_points) for row in breakdown.by_table] == [
        ("base", 849, 849), ("tiers", 150, 210), ("categories", 246, 521), ("spend_tiers", 70, 70),
        ("cap", 0, 0)]
    assert breakdown.by_tier[0].percent_change == Decimal("27.3")  # 150 / 550


def test_order_parts_add_up_to_the_evaluators_points(candidate):
    books = [active_rulebook(), rulebook(candidate)]
    amounts = ["0.01", "0.99", "33.33", "99.99", "100.00", "299.99", "300.00", "1234.56", "10000.00"]
    for book in books:
        for tier in ("normal", "silver", "gold", "unknown"):
            for amount in amounts:
                for categories in ((), ("imported",), ("seasonal", "imported"), ("other",)):
                    order = Order(Decimal(amount), (OrderLine("x", Decimal(amount), categories),
                                                    OrderLine("y", Decimal("7.77"))))
                    context = MemberContext(tier=tier)
                    assert sum(order_parts(book, context, order)) == \
                        evaluate_order(book, context, order, explain=False).points


def test_order_parts_count_the_cap(candidate):
    type(candidate).objects.filter(pk=candidate.pk).update(max_points_per_order=100)
    candidate.refresh_from_db()
    parts = order_parts(rulebook(candidate), MemberContext(tier="gold"),
                        Order(Decimal("100.00"), (OrderLine("x", Decimal("100.00"), ("imported",)),)))
    assert parts == (100, 100, 200, 10, -310)


# --------------------------------------------------------------------------- the page


@pytest.fixture
def client_en(client):
    viewer = StaffFactory(username="viewer")
    viewer.user_permissions.add(view_permission())
    client.force_login(viewer)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_simulate_page_shows_the_chart_breakdowns_and_csv(client_en, candidate):
    member = MemberFactory(username="lily", tier="gold")
    paid_order(member, "gold", [("100.00", "imported")], paid_at=timezone.now() - timedelta(days=2))
    url = reverse("admin:rules_ruleset_simulate", args=[candidate.pk])
    response = client_en.post(url, {"days": "30"})
    body = response.content.decode()
    assert '<td id="percent-change">+74.5%</td>' in body  # 235 -> 410
    assert '<svg class="chart"' in body and body.count('<rect class="up"') == 30
    assert "<title>" in body and ": +175</title>" in body
    assert ('<tr id="by-tier-gold"><th scope="row">Gold</th><td>1</td><td>235</td><td>410</td>'
            "<td>+175</td><td>+74.5%</td></tr>") in body
    assert '<tr id="by-table-categories"><th scope="row">Category bonuses</th><td>1</td><td>75</td>' in body
    assert response.context["csv_url"] == f"{url}?days=30&csv=1"
    download = client_en.get(response.context["csv_url"])
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["date", "orders", "points under v1", f"points under v{candidate.version}",
                       "difference"]
    assert len(rows) == 31
    day = (timezone.localdate() - timedelta(days=2)).isoformat()
    assert [day, "1", "235", "410", "175"] in rows
    assert client_en.get(f"{url}?days=0&csv=1").status_code == 400


# --------------------------------------------------------------------------- a running gray release


def _raw_sums(member_ids, since):
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT COALESCE(SUM(delta) FILTER (WHERE kind = 'earn'), 0),
                      COALESCE(-SUM(delta) FILTER (WHERE kind IN ('spend', 'capture')), 0)
                 FROM points_entry e JOIN points_account a ON a.id = e.account_id
                WHERE a.member_id = ANY(%s) AND e.created_at >= %s""", [member_ids, since])
        return cursor.fetchone()


def test_gray_cohort_against_the_rest_since_the_release_started(candidate, client_en):
    gold = [MemberFactory(tier="gold") for _ in range(2)]
    others = [MemberFactory(tier="normal") for _ in range(3)]
    earn(gold[0], 1000, key="before-gray", reason="before")  # before the release: not counted
    assert gray_comparison(candidate) is None  # a draft
    services.start_gray(candidate, actor=StaffFactory(), percent=0, tiers=["gold"])
    candidate.refresh_from_db()
    earn(gold[0], 300, key="g0", reason="x")
    earn(gold[1], 100, key="g1", reason="x")
    spend(gold[0], 250, key="g0-spend", reason="x")
    earn(others[0], 90, key="o0", reason="x")
    earn(others[1], 30, key="o1", reason="x")
    spend(others[1], 20, key="o1-spend", reason="x")

    found = gray_comparison(candidate)
    since = candidate.events.get(action="gray_started").at
    assert found.since == since
    cohort, rest = found.cohort, found.rest
    assert (cohort.members, cohort.earned, cohort.redeemed, cohort.earners, cohort.redeemers) == \
        (2, 400, 250, 2, 1)
    assert (rest.members, rest.earned, rest.redeemed, rest.earners, rest.redeemers) == (3, 120, 20, 2, 1)
    assert (cohort.earned, cohort.redeemed) == _raw_sums([m.pk for m in gold], since)
    assert (rest.earned, rest.redeemed) == _raw_sums([m.pk for m in others], since)
    assert (cohort.earned_per_member, cohort.redeemed_per_member) == (Decimal("200.00"), Decimal("125.00"))
    assert (rest.earned_per_member, rest.redeemed_per_member) == (Decimal("40.00"), Decimal("6.67"))

    body = client_en.get(reverse("admin:rules_ruleset_simulate", args=[candidate.pk])).content.decode()
    assert ('<tr id="gray-earned-per-member"><th scope="row">Points earned per member</th>'
            "<td>200.00</td><td>40.00</td></tr>") in body


# --------------------------------------------------------------------------- try an order


def test_try_order_searches_paid_orders_and_tries_one_picked_by_id(client_en, candidate):
    lily = MemberFactory(username="lily", phone="13800000009", tier="silver", nickname="")
    older = paid_order(lily, "silver", [("50.00",)], paid_at=timezone.now() - timedelta(days=3))
    order = paid_order(lily, "gold", [("100.00", "imported")], paid_at=timezone.now() - timedelta(days=1))
    paid_order(MemberFactory(), "normal", [("10.00",)], paid_at=timezone.now())
    url = reverse("admin:rules_ruleset_try_order", args=[candidate.pk])

    for text in ("13800000009", "lily"):
        found = client_en.get(url, {"q": text}).context["found"]
        assert [row["id"] for row in found] == [order.pk, older.pk]  # the most recent first
    body = client_en.get(url, {"q": order.external_id}).content.decode()
    assert (f'<tr id="found-{order.pk}"><td>{order.external_id} (#{order.pk})</td><td>lily</td>'
            "<td>Gold</td>") in body
    assert f'<input type="hidden" name="order" value="{order.pk}">' in body
    assert "No paid order found for “nobody”." in client_en.get(url, {"q": "nobody"}).content.decode()

    response = client_en.post(url, {"order": str(order.pk)})
    result = response.context["result"]
    # Its tier when paying (gold, not lily's silver today) and its lines.
    assert (result.member.tier, result.member.member_id) == ("gold", lily.pk)
    assert (result.active.points, result.candidate.points) == (235, 410)
    body = response.content.decode()
    assert "Order of 100.00 yuan, tier Gold" in body
    assert f"Paid order {order.external_id} of lily" in body
    # By the shop's order id too.
    assert client_en.post(url, {"order": order.external_id}).context["result"].candidate.points == 410


def test_try_order_refuses_an_unknown_order_and_an_order_with_lines(client_en, candidate):
    url = reverse("admin:rules_ruleset_try_order", args=[candidate.pk])
    response = client_en.post(url, {"order": "T-none"})
    assert response.context["form"].errors["order"] == ["No paid order with id “T-none”."]
    order = paid_order(MemberFactory(), "gold", [("10.00",)], paid_at=timezone.now())
    response = client_en.post(url, {"order": order.external_id, "lines": "x 1"})
    assert response.context["form"].non_field_errors() == [
        "A paid order brings its member and lines: leave the member and the lines empty."]


def test_try_order_offers_categories_actions_and_tiers_by_name(client_en, candidate):
    url = reverse("admin:rules_ruleset_try_order", args=[candidate.pk])
    form = client_en.get(url).context["form"]
    assert form.fields["line1_category"].choices == [
        ("", "---------"), ("imported", "进口水果 (imported)"), ("seasonal", "应季水果 (seasonal)")]
    assert ("review", "评价 (review)") in form.fields["action"].choices
    assert form.fields["tier"].choices[1:] == [
        ("normal", "Normal (normal)"), ("silver", "Silver (silver)"), ("gold", "Gold (gold)")]
    response = client_en.post(url, {"tier": "gold", "line1_sku": "apple", "line1_amount": "100.00",
                                    "line1_category": "imported", "action": "review", "photo": "on"})
    result = response.context["result"]
    assert (result.active.points, result.candidate.points) == (235, 410)
    behaviour = response.context["behaviour"]
    assert (behaviour.active.points, behaviour.candidate.points) == (26, 26)  # 20 + photo 30%
    response = client_en.post(url, {"tier": "gold", "line1_sku": "apple", "line1_amount": "1",
                                    "line1_category": "toys"})
    assert response.context["form"].errors["line1_category"] == [
        "Select a valid choice. toys is not one of the available choices."]
    response = client_en.post(url, {"tier": "gold", "line1_sku": "apple"})
    assert response.context["form"].errors["line1_sku"] == ["Line 1: write the SKU and the amount."]


# --------------------------------------------------------------------------- rule tables


def test_rule_table_rows_pick_codes_by_name_and_refuse_unknown_ones(client_en, candidate, request):
    from django.contrib.auth.models import Group
    from django.forms import modelform_factory

    from rules.admin import tables
    from rules.models import BehaviourRule, CategoryBonus, TierRule

    TierRuleForm = modelform_factory(TierRule, form=tables.TierRuleForm, fields=tables.TierRuleInline.fields)
    BehaviourRuleForm = modelform_factory(BehaviourRule, form=tables.BehaviourRuleForm,
                                          fields=tables.BehaviourRuleInline.fields)
    CategoryBonusForm = modelform_factory(CategoryBonus, form=tables.CategoryBonusForm,
                                          fields=tables.CategoryBonusInline.fields)
    translation.activate("en")
    request.addfinalizer(translation.deactivate)

    gold = TierRule.objects.get(rule_set=candidate, code="gold")
    data = {"code": "platinum", "name": gold.name, "name_en": "", "rank": gold.rank,
            "multiplier": gold.multiplier, "qualify_points": gold.qualify_points}
    form = TierRuleForm(data, instance=gold)
    assert not form.is_valid()
    assert form.errors["code"] == [
        "“platinum” is not in the list; pick one of Normal (normal), Silver (silver), Gold (gold)."]
    assert TierRuleForm({**data, "code": "gold"}, instance=gold).is_valid()
    # A new row may bring a new code (a draft adds a tier), offered the known ones as a list.
    new = TierRuleForm({**data, "rank": 4}, instance=TierRule(rule_set=candidate))
    assert new.is_valid(), new.errors
    html = str(new["code"])
    assert 'list="id_code-known"' in html and '<option value="gold">Gold (gold)</option>' in html

    review = BehaviourRule.objects.get(rule_set=candidate, action="review")
    assert not BehaviourRuleForm({"action": "like", "points": 5, "photo_bonus_percent": 0},
                                 instance=review).is_valid()
    imported = CategoryBonus.objects.get(rule_set=candidate, category="imported")
    assert not CategoryBonusForm({"category": "toys", "bonus_percent": 5}, instance=imported).is_valid()

    editor = StaffFactory(username="tables-editor")
    editor.groups.add(Group.objects.get(name="规则编辑 / Rule editor"))
    client_en.force_login(editor)
    body = client_en.get(reverse("admin:rules_ruleset_change", args=[candidate.pk])).content.decode()
    assert '<option value="gold" selected>Gold (gold)</option>' in body
    assert '<option value="imported" selected>进口水果 (imported)</option>' in body
    assert '<option value="review" selected>评价 (review)</option>' in body
