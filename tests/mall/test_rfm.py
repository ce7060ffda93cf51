"""The nightly RFM scoring (``mall.rfm``), its admin pages and its command.

The prepared population, at 2026-06-30 12:00 Asia/Shanghai with the default 365-day window
(2025-07-01 00:00 local onwards):

member  activity in the window                                  recency  freq  monetary
alice   orders 100.00 at 1, 5 and 10 days ago                         1     3    300.00
bob     order 500.00 40 days ago, 100.00 of it refunded              40     1    400.00
carol   order 20.00 3 days ago; redemption at 00:30 two days ago      2     2     20.00
dave    orders 10.00 at 100, 120, 130 and 200 days ago              100     4     40.00
gina    orders 1,000.00 this morning and 7 days ago                   0     2   2000.00
erin    order 365 days ago at 23:00 (outside), a cancelled redemption      none
fred    nothing                                                            none
a staff account with an order is not scored.

Medians of the five active: recency 2, frequency 2, monetary 300.00.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from catalog.models import Redemption
from mall import rfm
from mall.models import Member
from mall.rfm_models import RfmRun, RfmScore
from points.models import Order
from rules.segments import Segment
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory, StaffFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=SHANGHAI)
_ids = count(1)


def days_ago(days, hour=12, minute=0):
    day = (NOW - timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def order(member, amount, at, refunded="0"):
    return Order.objects.create(external_id=f"RFM-{next(_ids)}", member=member, tier="normal",
                                amount=Decimal(amount), refunded_amount=Decimal(refunded), paid_at=at)


def redemption(member, at, status="completed"):
    product = make_product(name=f"Tea {next(_ids)}", points_price=10)
    entry = fund(member, 10, key=f"rfm-fund-{next(_ids)}")
    return Redemption.objects.create(key=f"rfm-r-{next(_ids)}", member=member, product=product,
                                     quantity=1, points=10, status=status, created_at=at,
                                     entry=None if status == "cancelled" else entry)


@pytest.fixture
def population(db):
    people = {name: MemberFactory(username=name, established=True)
              for name in ("alice", "bob", "carol", "dave", "gina", "erin", "fred")}
    for days in (1, 5, 10):
        order(people["alice"], "100.00", days_ago(days))
    order(people["bob"], "500.00", days_ago(40), refunded="100.00")
    order(people["carol"], "20.00", days_ago(3))
    # 00:30 local is the day before in UTC: recency counts Asia/Shanghai days.
    redemption(people["carol"], days_ago(2, hour=0, minute=30))
    for days in (100, 120, 130, 200):
        order(people["dave"], "10.00", days_ago(days))
    order(people["gina"], "1000.00", days_ago(0, hour=9))
    order(people["gina"], "1000.00", days_ago(7))
    order(people["erin"], "999.00", days_ago(365, hour=23))  # the day before the window
    redemption(people["erin"], days_ago(1), status="cancelled")
    staff = StaffFactory()
    order(staff, "5000.00", days_ago(1))
    return people


def scores(run=None):
    run = run or RfmRun.objects.get()
    return {row.member.username: (row.recency_days, row.frequency, row.monetary, row.r_score,
                                  row.f_score, row.m_score, row.segment)
            for row in RfmScore.objects.filter(run=run).select_related("member")}


def test_exact_scores_quintiles_and_segments(population):
    summary = rfm.score_members(now=NOW)
    assert (summary["day"], summary["members_scored"], summary["members_active"]) == ("2026-06-30", 7, 5)
    assert summary["thresholds"] == {"recency": Decimal("2.00"), "frequency": Decimal("2.00"),
                                     "monetary": Decimal("300.00")}
    # R: 5 = most recent (gina); F: carol and gina tie at 2, carol (the older id) first; M by amount.
    assert scores() == {
        "alice": (1, 3, Decimal("300.00"), 4, 4, 3, Segment.IMPORTANT_VALUE),
        "bob": (40, 1, Decimal("400.00"), 2, 1, 4, Segment.IMPORTANT_RETAIN),
        "carol": (2, 2, Decimal("20.00"), 3, 2, 1, Segment.GENERAL_VALUE),
        "dave": (100, 4, Decimal("40.00"), 1, 5, 2, Segment.GENERAL_KEEP),
        "gina": (0, 2, Decimal("2000.00"), 5, 3, 5, Segment.IMPORTANT_VALUE),
        "erin": (None, 0, Decimal("0.00"), 1, 1, 1, Segment.GENERAL_RETAIN),
        "fred": (None, 0, Decimal("0.00"), 1, 1, 1, Segment.GENERAL_RETAIN),
    }
    assert dict(Member.objects.filter(is_staff=False).values_list("username", "segment")) == {
        "alice": "important_value", "bob": "important_retain", "carol": "general_value",
        "dave": "general_keep", "gina": "important_value", "erin": "general_retain",
        "fred": "general_retain"}
    assert Member.objects.get(is_staff=True).segment == ""
    run = RfmRun.objects.get()
    assert run.counts == {"important_value": 2, "important_keep": 0, "important_develop": 0,
                          "important_retain": 1, "general_value": 1, "general_keep": 1,
                          "general_develop": 0, "general_retain": 2}
    assert run.medians == {"recency": True, "frequency": True, "monetary": True}
    assert run.movement == {} and run.previous_day is None


def test_a_rerun_the_same_day_replaces_the_run(population):
    rfm.score_members(now=NOW)
    first = RfmRun.objects.get()
    order(population["fred"], "50.00", days_ago(0, hour=10))
    rfm.score_members(now=NOW)
    assert RfmRun.objects.count() == 1 and RfmRun.objects.get().id != first.id
    assert RfmScore.objects.count() == 7
    # fred is active now: six in the medians (recency 1.5, frequency 2, monetary 170.00).
    assert scores()["fred"][:3] == (0, 1, Decimal("50.00"))
    assert RfmRun.objects.get().recency_threshold == Decimal("1.50")


def test_movement_between_two_runs_is_counted_exactly(population):
    rfm.score_members(now=NOW)
    newcomer = MemberFactory(username="newcomer")
    order(newcomer, "10.00", NOW + timedelta(hours=1))
    # The next day fred buys big, dave is gone (deactivated), the others stay put or drift.
    order(population["fred"], "5000.00", NOW + timedelta(hours=2))
    Member.objects.filter(username="dave").update(is_active=False)
    rfm.score_members(now=NOW + timedelta(days=1))
    run = RfmRun.objects.get(day="2026-07-01")
    assert run.previous_day.isoformat() == "2026-06-30"
    after = scores(run)
    # Active: alice(2,3,300) bob(41,1,400) carol(3,2,20) gina(1,2,2000) fred(1,1,5000) newcomer(1,1,10)
    # medians: recency 1.5, frequency 1.5, monetary 350.00.
    assert run.monetary_threshold == Decimal("350.00")
    assert {name: row[6] for name, row in after.items()} == {
        "alice": Segment.GENERAL_KEEP, "bob": Segment.IMPORTANT_RETAIN, "carol": Segment.GENERAL_KEEP,
        "gina": Segment.IMPORTANT_VALUE, "fred": Segment.IMPORTANT_DEVELOP,
        "newcomer": Segment.GENERAL_DEVELOP, "erin": Segment.GENERAL_RETAIN}
    # dave, no longer scored, is in neither; the newcomer comes from "" (not in the previous run).
    assert run.movement == {
        "important_value": {"general_keep": 1, "important_value": 1},
        "important_retain": {"important_retain": 1},
        "general_value": {"general_keep": 1},
        "general_retain": {"important_develop": 1, "general_retain": 1},
        "": {"general_develop": 1},
    }
    assert Member.objects.get(username="dave").segment == ""
    table = rfm.movement_table(run)
    assert [row["code"] for row in table["rows"]] == [
        "", "important_value", "important_keep", "important_develop", "important_retain",
        "general_value", "general_keep", "general_develop", "general_retain"]
    assert table["rows"][0]["cells"] == [0, 0, 0, 0, 0, 0, 1, 0]
    assert table["totals"] == [1, 0, 1, 1, 0, 2, 1, 1]


def test_scores_of_old_runs_are_pruned_and_summaries_kept(population):
    for day in range(rfm.KEEP_RUNS + 2):
        rfm.score_members(now=NOW + timedelta(days=day))
    assert RfmRun.objects.count() == rfm.KEEP_RUNS + 2
    kept = RfmRun.objects.order_by("-day")[:rfm.KEEP_RUNS]
    assert set(RfmScore.objects.values_list("run_id", flat=True)) == {run.id for run in kept}
    assert RfmScore.objects.count() == 7 * rfm.KEEP_RUNS


def test_staff_set_thresholds_replace_the_medians(population):
    rfm.save_settings(actor=None, window_days=365, recency_days=None, frequency=3,
                      monetary=Decimal("30.00"))
    summary = rfm.score_members(now=NOW)
    assert summary["thresholds"] == {"recency": Decimal("2.00"), "frequency": Decimal("3.00"),
                                     "monetary": Decimal("30.00")}
    assert {name: row[6] for name, row in scores().items() if row[0] is not None} == {
        "alice": Segment.IMPORTANT_VALUE, "bob": Segment.IMPORTANT_RETAIN,
        "carol": Segment.GENERAL_DEVELOP, "dave": Segment.IMPORTANT_KEEP,
        "gina": Segment.IMPORTANT_DEVELOP}
    assert RfmRun.objects.get().medians == {"recency": True, "frequency": False, "monetary": False}


def test_a_shorter_window_leaves_older_activity_out(population):
    rfm.save_settings(actor=None, window_days=30, recency_days=None, frequency=None, monetary=None)
    summary = rfm.score_members(now=NOW)
    # bob (40 days) and dave (100+) drop out; alice, carol and gina remain.
    assert summary["members_active"] == 3
    assert scores()["bob"][:3] == (None, 0, Decimal("0.00"))
    # gina's order 7 days ago and this morning count; 30 days ago would be outside (day 29 is in).
    assert scores()["gina"][:3] == (0, 2, Decimal("2000.00"))


def test_the_command_prints_the_counts(population):
    out = StringIO()
    call_command("rfm", stdout=out)
    text = out.getvalue()
    assert "7 members scored" in text
    assert RfmRun.objects.count() == 1


def test_the_task_runs_the_job(population):
    from mall import tasks

    assert tasks.rfm()["members_scored"] == 7


# The admin ------------------------------------------------------------------------------------


def campaign_manager():
    user = StaffFactory()
    user.groups.add(Group.objects.get(name="活动运营 / Campaign manager"))
    return user


def auditor():
    user = StaffFactory()
    user.groups.add(Group.objects.get(name="审计 / Auditor"))
    return user


def test_a_threshold_edit_in_the_admin_takes_effect_on_the_next_run(population, client):
    rfm.score_members(now=NOW)
    assert scores()["dave"][6] == Segment.GENERAL_KEEP
    client.force_login(campaign_manager())
    settings_row = rfm.current_settings()
    response = client.get("/admin/mall/rfmsettings/")
    assert response.status_code == 302 and response["Location"].endswith(f"/{settings_row.pk}/change/")
    url = f"/admin/mall/rfmsettings/{settings_row.pk}/change/"
    assert "median" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    response = client.post(url, {"window_days": "365", "recency_days": "", "frequency": "",
                                 "monetary": "30"})
    assert response.status_code == 302
    settings_row.refresh_from_db()
    assert (settings_row.monetary, settings_row.frequency, settings_row.updated_by.is_staff) == (
        Decimal("30.00"), None, True)
    rfm.score_members(now=NOW)
    # dave's 40.00 is valuable at 30.00: important to keep.
    assert scores()["dave"][6] == Segment.IMPORTANT_KEEP


def test_the_landing_dashboard_shows_the_segments_and_their_movement(population, client):
    rfm.score_members(now=NOW)
    order(population["fred"], "5000.00", NOW + timedelta(hours=2))
    rfm.score_members(now=NOW + timedelta(days=1))
    client.force_login(auditor())
    response = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert 'id="dashboard-rfm"' in page and 'href="/admin/mall/rfmrun/"' in page
    assert dict((str(label), count) for label, count in response.context["latest_counts"])[
        "General to keep"] == 2
    assert 'id="rfm-movement"' in page
    # Staff who may not read the runs do not see them.
    client.force_login(StaffFactory())
    assert 'id="dashboard-rfm"' not in client.get("/admin/").content.decode()


def test_the_settings_refuse_what_is_not_positive(db, client):
    client.force_login(campaign_manager())
    url = f"/admin/mall/rfmsettings/{rfm.current_settings().pk}/change/"
    response = client.post(url, {"window_days": "0", "recency_days": "-3", "frequency": "0",
                                 "monetary": "0"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"window_days", "recency_days", "frequency", "monetary"}
    assert rfm.current_settings().window_days == 365


def test_the_runs_page_shows_counts_in_words_and_the_movement(population, client):
    rfm.score_members(now=NOW)
    order(population["fred"], "5000.00", NOW + timedelta(hours=2))
    rfm.score_members(now=NOW + timedelta(days=1))
    client.force_login(auditor())
    response = client.get("/admin/mall/rfmrun/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    page = response.content.decode()
    # The latest run's counts by name, in the segments' order.
    assert [(str(label), count) for label, count in response.context["latest_counts"]] == [
        ("Important value", 1), ("Important to keep", 0), ("Important to develop", 1),
        ("Important to win back", 1), ("General value", 1), ("General to keep", 2),
        ("General to develop", 0), ("General to win back", 1)]
    assert "<td style=\"padding:2px 12px 2px 0\">Important value</td>" in page
    movement = response.context["movement"]
    fred_row = next(row for row in movement["rows"] if row["code"] == "general_retain")
    assert fred_row["cells"] == [0, 0, 1, 0, 0, 0, 0, 1]
    assert 'id="rfm-movement"' in page
    # The auditor reads; neither the button nor the settings link shows, and running is refused.
    assert "mall/rfmrun/run/" not in page
    assert client.post("/admin/mall/rfmrun/run/").status_code == 403
    assert client.get(f"/admin/mall/rfmsettings/{rfm.current_settings().pk}/change/").status_code == 200
    response = client.post(f"/admin/mall/rfmsettings/{rfm.current_settings().pk}/change/",
                           {"window_days": "30"})
    assert response.status_code == 403
    assert rfm.current_settings().window_days == 365


def test_run_now_is_post_only_and_queues_the_job(db, client, monkeypatch):
    from celery import current_app

    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, *a, **k: sent.append(name))
    client.force_login(campaign_manager())
    assert "mall/rfmrun/run/" in client.get("/admin/mall/rfmrun/").content.decode()
    assert client.get("/admin/mall/rfmrun/run/").status_code == 405
    response = client.post("/admin/mall/rfmrun/run/")
    assert response.status_code == 302 and sent == ["mall.rfm"]


def test_the_member_list_filters_and_shows_segments(population, admin_client):
    rfm.score_members(now=NOW)
    response = admin_client.get("/admin/mall/member/?segment__exact=important_value",
                                HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert sorted(m.username for m in response.context["cl"].result_list) == ["alice", "gina"]
    page = response.content.decode()
    assert page.count('<td class="field-segment_display') == 2 and "Important value" in page


@pytest.mark.django_db(transaction=True)
def test_runs_at_once_the_same_day_leave_one_run(population):
    from tests.threads import failures, run_together

    results = run_together(3, lambda i: rfm.score_members(now=NOW))
    assert failures(results) == []
    assert {result["members_scored"] for result in results} == {7}
    assert RfmRun.objects.count() == 1 and RfmScore.objects.count() == 7
    assert scores()["gina"] == (0, 2, Decimal("2000.00"), 5, 3, 5, Segment.IMPORTANT_VALUE)
