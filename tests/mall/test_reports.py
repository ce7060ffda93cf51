"""报表: the dashboards' numbers on a prepared ledger, exact, and the admin page."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import connection
from django.urls import reverse

from catalog.models import Category, Product, Redemption
from mall import reports
from points import services
from points.models import Entry, Order
from tests.factories import MemberFactory, StaffFactory
from tests.points.ledger import at, clock

NEXT_YEAR = at(2027, 1, 1)


@pytest.fixture
def ledger(db):
    """January 2026 (local days), then the expiry of February 1st:

    alice  earn 1000 (order, expires Feb 1), spend 300, adjust −20, spend 100 given back
    bob    earn 500 (behaviour), adjust +50, 100 of the earning reversed
    carol  joins Jan 3, earn 200 (referral reward, expires Jan 20), expired Jan 21
    dave   earn 40 (task, pending until Jan 15, activated Jan 16), earn 10 (lottery prize)
    Feb 1 00:01 local (Jan 31 UTC): alice's 780 left expire.
    """
    cache.clear()
    alice, bob, dave = (MemberFactory(username=name, date_joined=at(2025, 12, 1))
                        for name in ("alice", "bob", "dave"))
    staff = StaffFactory(username="boss", date_joined=at(2026, 1, 2))
    carol = MemberFactory(username="carol", date_joined=at(2026, 1, 3))
    with clock(at(2026, 1, 5, 10)):
        order = services.earn(alice, 1000, key="order:A1", reason="order A1", reference="A1",
                              expires_at=at(2026, 2, 1))
        behaviour = services.earn(bob, 500, key="behaviour:review:1", reason="review",
                                  reference="review", expires_at=NEXT_YEAR)
    with clock(at(2026, 1, 6, 9)):
        spend = services.spend(alice, 300, key="redeem:1", reason="coupon", reference="redemption:1")
    with clock(at(2026, 1, 7, 9)):
        services.earn(carol, 200, key="reward:O1:direct", reason="reward", reference="O1",
                      expires_at=at(2026, 1, 20))
    with clock(at(2026, 1, 8, 9)):
        services.adjust(bob, 50, key="adj:1", reason="goodwill", staff=staff)
        services.adjust(alice, -20, key="adj:2", reason="correction", staff=staff)
    with clock(at(2026, 1, 9, 9)):
        services.reverse(behaviour, 100, key="rev:1", reason="fraud")
    with clock(at(2026, 1, 10, 9)):
        services.reverse(spend, 100, key="rev:2", reason="cancelled")
    with clock(at(2026, 1, 12, 9)):
        services.earn(dave, 40, key="task:1:w1:dave", reason="task", available_at=at(2026, 1, 15),
                      expires_at=NEXT_YEAR)
        services.earn(dave, 10, key="draw-prize:k1", reason="prize", expires_at=NEXT_YEAR)
    with clock(at(2026, 1, 16, 1)):
        assert services.activate_due() == 40
    with clock(at(2026, 1, 21, 1)):
        assert services.expire_due() == 200
    with clock(at(2026, 2, 1, 0, 1)):
        assert services.expire_due() == 780
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "staff": staff,
            "order": order, "behaviour": behaviour}


def raw(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_points_flow_by_month(ledger):
    flow = reports.points_flow(date(2026, 1, 1), date(2026, 2, 28), period="month")
    jan, feb = flow["rows"]
    assert jan == {
        "period_start": date(2026, 1, 1), "issued": 1800, "activated": 40, "spent": 300,
        "expired": 200, "reversed": 100, "returned": 100, "adjusted_out": 20, "net": 1280,
        "outstanding": 1280,
        "by_source": {"orders": 1000, "behaviours": 500, "referrals": 200, "lifecycle": 40,
                      "adjustments": 50, "lottery": 10},
    }
    assert (feb["period_start"], feb["expired"], feb["net"], feb["outstanding"]) == (
        date(2026, 2, 1), 780, -780, 500)
    assert flow["opening"] == 0
    assert flow["earn_burn_ratio"] == Decimal("6.0000")


def test_points_flow_by_day_and_week_fills_quiet_periods(ledger):
    days = reports.points_flow(date(2026, 1, 4), date(2026, 1, 6))["rows"]
    assert [(r["period_start"].day, r["issued"], r["spent"], r["outstanding"]) for r in days] == [
        (4, 0, 0, 0), (5, 1500, 0, 1500), (6, 0, 300, 1200)]
    weeks = reports.points_flow(date(2026, 1, 5), date(2026, 1, 18), period="week")
    assert [(r["period_start"], r["issued"]) for r in weeks["rows"]] == [
        (date(2026, 1, 5), 1750), (date(2026, 1, 12), 50)]
    assert weeks["opening"] == 0
    # The expiry at 00:01 on Feb 1 local is January in UTC, February here.
    jan31 = reports.points_flow(date(2026, 1, 31), date(2026, 1, 31))["rows"][0]
    assert (jan31["expired"], jan31["outstanding"]) == (0, 1280)


def test_breakage_over_matured_lots(ledger):
    assert reports.breakage(at(2026, 2, 2)) == {"issued": 1200, "expired": 980,
                                                 "rate": Decimal("0.8167")}
    assert reports.breakage(at(2026, 1, 25)) == {"issued": 200, "expired": 200,
                                                  "rate": Decimal("1.0000")}


def test_liability_and_expiry_forecast(ledger):
    owed = reports.liability(date(2026, 2, 15))
    rate = reports.points_per_yuan()
    assert owed["today"] == {"available": 500, "pending": 0, "held": 0, "debt": 0,
                             "outstanding": 500,
                             "value": (Decimal(500) / rate).quantize(Decimal("0.01"))}
    assert [(m["month"], m["balance"]) for m in owed["months"]][-3:] == [
        (date(2025, 12, 1), 0), (date(2026, 1, 1), 1280), (date(2026, 2, 1), 500)]
    assert len(owed["months"]) == 12
    fixed = reports.liability(date(2026, 1, 31), point_value_yuan=Decimal("0.01"), months=1)
    assert fixed["months"] == [{"month": date(2026, 1, 1), "balance": 1280,
                                "value": Decimal("12.80")}]
    forecast = reports.expiry_forecast(at(2026, 2, 15), months=12)
    assert len(forecast) == 12 and forecast[0]["month"] == date(2026, 2, 1)
    adjust_lot_expiry = raw("SELECT expires_at FROM points_lot l JOIN points_entry e "
                            "ON e.id = l.entry_id WHERE e.key = 'adj:1'")
    expected = {date(2027, 1, 1): 400 + 50}  # bob's behaviour lot after the reversal, dave's
    adjust_month = reports.timezone.localtime(adjust_lot_expiry, reports.LOCAL).date().replace(day=1)
    expected[adjust_month] = expected.get(adjust_month, 0) + 50
    assert {row["month"]: row["points"] for row in forecast if row["points"]} == {
        month: points for month, points in expected.items() if month < date(2027, 2, 1)}


@pytest.mark.parametrize("month", [1, 2])
def test_monthly_report_reconciles_with_the_ledger(ledger, month):
    report = reports.monthly_liability_report(2026, month, point_value_yuan=Decimal("0.01"))
    since, until = at(2026, month, 1), at(2026, month + 1, 1)
    assert report["opening"] == raw("SELECT COALESCE(SUM(delta), 0) FROM points_entry "
                                    "WHERE created_at < %s", [since])
    assert report["closing"] == raw("SELECT COALESCE(SUM(delta), 0) FROM points_entry "
                                    "WHERE created_at < %s", [until])
    assert report["opening"] + report["issued"] + report["adjusted_in"] - report["redeemed"] \
        + report["returned"] - report["reversed"] - report["expired"] - report["adjusted_out"] \
        == report["closing"]
    assert reports.reconciles(report)
    if month == 1:
        assert {k: report[k] for k in ("opening", "issued", "adjusted_in", "redeemed", "returned",
                                       "reversed", "expired", "adjusted_out", "closing")} == {
            "opening": 0, "issued": 1750, "adjusted_in": 50, "redeemed": 300, "returned": 100,
            "reversed": 100, "expired": 200, "adjusted_out": 20, "closing": 1280}
        assert report["closing_value"] == Decimal("12.80")
    else:
        # The last month's closing is the accounts' totals today.
        assert (report["opening"], report["expired"], report["closing"]) == (1280, 780, 500)
        assert report["closing"] == raw(
            "SELECT SUM(available + pending + held - debt) FROM points_account")


@pytest.fixture
def shop(ledger):
    fruit = Category.objects.create(name="Fruit")
    apple = Product.objects.create(name="Apple", category=fruit, points_price=100, stock=5)
    pear = Product.objects.create(name="Pear", points_price=50, stock=0)
    alice, bob = ledger["alice"], ledger["bob"]
    for key, member, product, quantity, points, status, when in [
        ("r1", alice, apple, 2, 200, "completed", at(2026, 1, 6, 9)),
        ("r2", alice, apple, 1, 100, "cancelled", at(2026, 1, 7, 9)),
        ("r3", bob, pear, 1, 50, "created", at(2026, 1, 8, 9)),
        ("r4", bob, pear, 1, 50, "created", at(2026, 3, 8, 9)),  # out of range
    ]:
        # Any entry of the member satisfies the "paid redemptions have an entry" constraint (and
        # the foreign key (member_id, entry_id)): the stats read the redemption rows, the ledger
        # figures the entries.
        entry = ledger["order"] if member == alice else ledger["behaviour"]
        Redemption.objects.create(key=key, member=member, product=product, quantity=quantity,
                                  points=points, status=status, created_at=when,
                                  entry=None if status == "cancelled" else entry)
    for external_id, member, paid_at in [
        ("A1", alice, at(2026, 1, 5, 10)), ("A2", alice, at(2026, 1, 20)),  # alice came back
        ("B1", bob, at(2026, 1, 2)),  # bob did not, after his redemption
        ("C1", ledger["carol"], at(2026, 1, 4)), ("C2", ledger["carol"], at(2026, 1, 9)),
        ("D1", ledger["dave"], at(2026, 1, 4)),
    ]:
        Order.objects.create(external_id=external_id, member=member, tier="normal",
                             amount=Decimal("10.00"), paid_at=paid_at)
    return {"apple": apple, "pear": pear, "fruit": fruit}


def test_member_stats(shop):
    stats = reports.member_stats(date(2026, 1, 1), date(2026, 1, 31))
    assert (stats["active"], stats["new"]) == (4, 1)
    assert [(r["username"], r["points"]) for r in stats["top_earners"]] == [
        ("alice", 1000), ("bob", 550), ("carol", 200), ("dave", 50)]
    assert [(r["username"], r["points"]) for r in stats["top_holders"]] == [("bob", 450), ("dave", 50)]
    assert sum(row["members"] for row in stats["tiers"]) == 4
    assert stats["repurchase"] == {
        "redeemed": {"members": 2, "repurchased": 1, "rate": Decimal("0.5000")},
        "not_redeemed": {"members": 2, "repurchased": 1, "rate": Decimal("0.5000")},
    }


def test_catalog_stats(shop):
    stats = reports.catalog_stats(date(2026, 1, 1), date(2026, 1, 31), now=at(2026, 1, 31))
    assert [(r["name"], r["redemptions"], r["quantity"], r["points"]) for r in stats["products"]] == [
        ("Apple", 1, 2, 200), ("Pear", 1, 1, 50)]
    assert [(r["name"], r["points"]) for r in stats["categories"]] == [("Fruit", 200), (None, 50)]
    assert stats["stock_outs"] == [{"id": shop["pear"].pk, "name": "Pear"}]
    assert stats["lottery"] == {"draws": 0, "points_spent": 0, "prize_points": 10}
    assert stats["auctions"] == {"closed": 0, "points": 0, "list_points": 0, "cost": 0}


# The admin page.

URL = "/admin/reports/"
RANGE = {"start": "2026-01-01", "end": "2026-01-31", "period": "month"}


@pytest.fixture
def reporter(client, shop):
    user = StaffFactory(username="auditor")
    user.groups.add(Group.objects.get(name="审计 / Auditor"))
    client.force_login(user)
    return client


def test_the_auditor_group_has_the_permission(db):
    assert Group.objects.get(name="审计 / Auditor").permissions.filter(
        codename="view_reports", content_type__app_label="mall").exists()


def test_page_renders_with_a_bounded_number_of_queries(reporter, django_assert_max_num_queries):
    assert reverse("admin:reports") == URL
    with django_assert_max_num_queries(40):
        response = reporter.get(URL, RANGE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and "1280" in page and "Apple" in page
    assert "?start=2026-01-01&amp;end=2026-01-31&amp;period=month&amp;csv=flow" in page
    # Cached: the heavy aggregates run once per range.
    with django_assert_max_num_queries(8):
        assert reporter.get(URL, RANGE).status_code == 200
    assert reporter.get(URL).status_code == 200  # the default range


def test_csv_download(reporter):
    response = reporter.get(URL, {**RANGE, "csv": "monthly"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[1] == ["2026-01", "0", "1750", "50", "300", "100", "100", "200", "20", "1280",
                       str((Decimal(1280) / reports.points_per_yuan()).quantize(Decimal("0.01")))]
    assert len(rows) == 2
    products = list(csv.reader(io.StringIO(
        reporter.get(URL, {**RANGE, "csv": "products"}).content.decode("utf-8-sig"))))
    assert products[1:] == [["Apple", "1", "2", "200"], ["Pear", "1", "1", "50"]]
    assert reporter.get(URL, {**RANGE, "csv": "nope"}).status_code == 404


def test_staff_without_the_permission_is_refused(client, db):
    client.force_login(StaffFactory(username="clerk"))
    assert client.get(URL).status_code == 403


def test_anonymous_and_members_go_to_the_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(MemberFactory(username="shopper"))
    assert client.get(URL).status_code == 302


def test_admin_index_links_to_the_reports(client, db):
    user = StaffFactory(username="viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_reports",
                                                     content_type__app_label="mall"))
    client.force_login(user)
    assert URL in client.get(reverse("admin:index")).content.decode()
    client.force_login(StaffFactory(username="other"))
    assert URL not in client.get(reverse("admin:index")).content.decode()


def test_entries_are_untouched_by_reads(ledger):
    before = Entry.objects.count()
    reports.points_flow(date(2026, 1, 1), date(2026, 1, 31))
    assert Entry.objects.count() == before
