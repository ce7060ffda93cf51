"""报表: the nightly aggregate (``mall.report_jobs.materialise``) changes no figure: every report
equals the raw-SQL sums over the entries whether the days are live, materialised, materialised
and then posted into (before and after the job runs again)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from mall import report_jobs, reports
from mall.report_models import DailyPoints, LotMaturity, ReportWatermark
from points import services
from tests.mall.test_reports import ledger, raw  # noqa: F401 (the fixture)
from tests.points.ledger import at, clock

FIRST, LAST = date(2026, 1, 1), date(2026, 2, 28)

# The flows straight from the entries (the definitions of mall.reports' docstring).
RAW_FLOWS = """
SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date,
       COALESCE(SUM(delta) FILTER (WHERE kind = 'earn' OR (kind = 'adjust' AND delta > 0)), 0),
       COALESCE(SUM((reason_message -> 0 -> 1 ->> 'points')::bigint) FILTER (WHERE kind = 'activate'), 0),
       COALESCE(-SUM(delta) FILTER (WHERE kind IN ('spend', 'capture')), 0),
       COALESCE(-SUM(delta) FILTER (WHERE kind = 'expire'), 0),
       COALESCE(-SUM(delta) FILTER (WHERE kind = 'reverse' AND delta < 0), 0),
       COALESCE(SUM(delta) FILTER (WHERE kind = 'reverse' AND delta > 0), 0),
       COALESCE(-SUM(delta) FILTER (WHERE kind = 'adjust' AND delta < 0), 0),
       COALESCE(SUM(delta), 0)
FROM points_entry GROUP BY 1
"""


def rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def assert_reports_match_raw_sql():
    per_day = {row[0]: [int(v) for v in row[1:]] for row in rows(RAW_FLOWS)}
    flow = reports.points_flow(FIRST, LAST)
    balance = sum(values[-1] for day, values in per_day.items() if day < FIRST)
    assert flow["opening"] == balance
    for row in flow["rows"]:
        expected = per_day.get(row["period_start"], [0] * 8)
        balance += expected[-1]
        assert [row[name] for name in (*reports.FLOWS, "net")] == expected, row["period_start"]
        assert row["outstanding"] == balance
    for month in (1, 2):
        report = reports.monthly_liability_report(2026, month, point_value_yuan=Decimal("0.01"))
        since, until = at(2026, month, 1), at(2026, month + 1, 1)
        assert report["opening"] == raw("SELECT COALESCE(SUM(delta), 0) FROM points_entry "
                                        "WHERE created_at < %s", [since])
        assert report["closing"] == raw("SELECT COALESCE(SUM(delta), 0) FROM points_entry "
                                        "WHERE created_at < %s", [until])
        assert report["expired"] == raw("SELECT COALESCE(-SUM(delta), 0) FROM points_entry WHERE "
                                        "kind = 'expire' AND created_at >= %s AND created_at < %s",
                                        [since, until])
        assert reports.reconciles(report)
    balances = reports.month_end_balances(date(2025, 12, 1), date(2026, 2, 15))
    assert balances == [(month, raw("SELECT COALESCE(SUM(delta), 0) FROM points_entry WHERE "
                                    "created_at < %s", [reports.local_start(end)]))
                        for month, end in [(date(2025, 12, 1), date(2026, 1, 1)),
                                           (date(2026, 1, 1), date(2026, 2, 1)),
                                           (date(2026, 2, 1), date(2026, 2, 16))]]
    for as_of in (at(2026, 1, 25), at(2026, 2, 2), at(2026, 2, 1, 0, 5)):
        issued = raw("SELECT COALESCE(SUM(amount), 0) FROM points_lot WHERE expires_at <= %s", [as_of])
        expired = raw("SELECT COALESCE(-SUM(delta), 0) FROM points_entry WHERE kind = 'expire' "
                      "AND created_at <= %s", [as_of]) + raw(
            "SELECT COALESCE(SUM(remaining), 0) FROM points_lot WHERE expires_at <= %s", [as_of])
        assert reports.breakage(as_of) == {"issued": issued, "expired": expired,
                                           "rate": reports.ratio(expired, issued)}
    return flow


def aggregate_matches_raw_sql():
    found = {(d.day, d.kind, d.source): (d.credit, d.debit, d.entries)
             for d in DailyPoints.objects.all()}
    through = ReportWatermark.objects.get().through
    expected = {(day, kind, source): (int(credit), int(debit), int(n))
                for day, kind, source, credit, debit, n in rows(
        f"SELECT {report_jobs.LOCAL_DAY}, kind, {report_jobs.SOURCE}, "
        "COALESCE(SUM(delta) FILTER (WHERE delta > 0), 0), "
        "COALESCE(-SUM(delta) FILTER (WHERE delta < 0), 0), COUNT(*) FROM points_entry "
        "WHERE created_at < %s GROUP BY 1, 2, 3", [reports.local_start(through + timedelta(days=1))])}
    return found == expected


def fresh_watermark():
    """Forget the migration's backfill (made on the real yesterday) to materialise test days."""
    ReportWatermark.objects.all().delete()
    DailyPoints.objects.all().delete()
    LotMaturity.objects.all().delete()


def test_live_and_materialised_figures_are_the_raw_sums(ledger):  # noqa: F811
    live = assert_reports_match_raw_sql()
    fresh_watermark()
    # Through January 9: the days before come from the aggregate, the rest live.
    summary = report_jobs.materialise(at(2026, 1, 10, 12))
    assert summary["through"] == date(2026, 1, 9)
    assert DailyPoints.objects.filter(day__gt=date(2026, 1, 9)).count() == 0
    assert aggregate_matches_raw_sql()
    assert assert_reports_match_raw_sql() == live
    # Through February 14: every day of the ledger materialised.
    report_jobs.materialise(at(2026, 2, 15, 1))
    assert aggregate_matches_raw_sql()
    assert assert_reports_match_raw_sql() == live
    assert reports.points_flow(FIRST, LAST, period="month")["rows"][0]["issued"] == 1800


def test_entries_posted_into_a_materialised_day(ledger):  # noqa: F811
    fresh_watermark()
    report_jobs.materialise(at(2026, 2, 15, 1))
    before = {(d.day, d.kind, d.source): d.credit for d in DailyPoints.objects.all()}
    # A posting dated January 20 after the night's run: still exact (read live by id)...
    with clock(at(2026, 1, 20, 15)):
        services.earn(ledger["bob"], 70, key="order:LATE", reason="late order",
                      expires_at=at(2027, 1, 1))
    assert not aggregate_matches_raw_sql()
    flow = assert_reports_match_raw_sql()
    assert flow["rows"][19]["by_source"]["orders"] == 70
    # ... and the next run rewrites the day.
    summary = report_jobs.materialise(at(2026, 2, 16, 1))
    assert date(2026, 1, 20) in {d.day for d in DailyPoints.objects.filter(source="orders")}
    # Jan 20, the lookback (Feb 13, 14) and the day closed since (Feb 15).
    assert summary["days"] == 2 + report_jobs.LOOKBACK_DAYS
    assert aggregate_matches_raw_sql()
    assert assert_reports_match_raw_sql() == flow
    after = {(d.day, d.kind, d.source): d.credit for d in DailyPoints.objects.all()}
    assert after == {**before, (date(2026, 1, 20), "earn", "orders"): 70}


def test_the_job_is_idempotent(ledger):  # noqa: F811
    fresh_watermark()
    report_jobs.materialise(at(2026, 2, 15, 1))
    state = sorted(DailyPoints.objects.values_list("day", "kind", "source", "credit", "debit",
                                                   "moved", "entries"))
    lots = sorted(LotMaturity.objects.values_list("expires_at", "amount", "lots"))
    report_jobs.materialise(at(2026, 2, 15, 1))
    report_jobs.materialise(at(2026, 2, 15, 2))
    assert sorted(DailyPoints.objects.values_list("day", "kind", "source", "credit", "debit",
                                                  "moved", "entries")) == state
    assert sorted(LotMaturity.objects.values_list("expires_at", "amount", "lots")) == lots
    # An earlier "now" never moves the watermark back.
    report_jobs.materialise(at(2026, 1, 5, 1))
    assert ReportWatermark.objects.get().through == date(2026, 2, 14)
    assert sum(d.moved for d in DailyPoints.objects.filter(kind="activate")) == 40


def test_the_nightly_job_is_scheduled(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="mall.materialise_reports")
    assert task.enabled and (task.crontab.hour, task.crontab.minute) == ("0", "20")
    assert str(task.crontab.timezone) == "Asia/Shanghai"


@pytest.mark.parametrize("materialised", [False, True])
def test_monthly_report_exact_figures(ledger, materialised):  # noqa: F811
    if materialised:
        fresh_watermark()
        report_jobs.materialise(at(2026, 2, 10, 1))
    report = reports.monthly_liability_report(2026, 1)
    assert {k: report[k] for k in ("opening", "issued", "adjusted_in", "redeemed", "returned",
                                   "reversed", "expired", "adjusted_out", "closing")} == {
        "opening": 0, "issued": 1750, "adjusted_in": 50, "redeemed": 300, "returned": 100,
        "reversed": 100, "expired": 200, "adjusted_out": 20, "closing": 1280}


def test_breakage_now_counts_today_from_the_daily_sums(ledger):  # noqa: F811
    fresh_watermark()
    report_jobs.materialise(at(2026, 1, 21, 0, 30))  # through Jan 20; the expiry of Jan 21 live
    with clock(at(2026, 1, 21, 12)):
        assert reports.breakage() == reports.breakage(at(2026, 1, 21, 12)) == {
            "issued": 200, "expired": 200, "rate": Decimal("1.0000")}
        with reports.reading():
            assert reports.breakage() == {"issued": 200, "expired": 200, "rate": Decimal("1.0000")}
