"""报表: the reusable dashboard context, a CSV for every section, names instead of codes."""

import csv
import io
from datetime import date

from mall import reports, reports_admin
from mall.models import Member
from tests.mall.test_reports import RANGE, URL, ledger, reporter, shop  # noqa: F401 (fixtures)


def test_the_dashboard_context_for_a_range(shop):  # noqa: F811
    context = reports_admin.dashboard(date(2026, 1, 1), date(2026, 1, 31), "month",
                                      url="/admin/reports/")
    assert (context["start"], context["end"], context["period"]) == (
        date(2026, 1, 1), date(2026, 1, 31), "month")
    sections = {section["table"].key: section for section in context["sections"]}
    assert sections["sources_by_period"]["table"].rows == [
        ["2026-01-01", 1000, 500, 200, 40, 50, 10, 1800]]
    assert sections["flow"]["csv_url"] == (
        "/admin/reports/?start=2026-01-01&end=2026-01-31&period=month&csv=flow")
    assert sections["flow"]["svg"]["bars"][0]["value"] == 1800
    assert {"flow", "summary", "sources", "liability", "liability_today", "expiry", "monthly",
            "members", "tiers", "top_earners", "top_holders", "products", "categories",
            "stock_outs", "play"} <= set(sections)


def test_every_section_downloads_as_csv(reporter):  # noqa: F811
    for table in reports_admin.build_tables(date(2026, 1, 1), date(2026, 1, 31), "month"):
        response = reporter.get(URL, {**RANGE, "csv": table.key})
        assert response.status_code == 200, table.key
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == [str(column) for column in table.columns]
        assert rows[1:] == [[str(value) for value in row] for row in table.rows]


def test_top_members_and_tiers_show_names(shop, ledger):  # noqa: F811
    Member.objects.filter(pk=ledger["alice"].pk).update(nickname="爱丽丝")
    stats = reports.member_stats(date(2026, 1, 1), date(2026, 1, 31))
    assert [(row["name"], row["points"]) for row in stats["top_earners"]][:2] == [
        ("爱丽丝", 1000), (ledger["bob"].nickname or "bob", 550)]
    tables = {table.key: table for table in reports_admin._compute(
        date(2026, 1, 1), date(2026, 1, 31), "month")}
    assert tables["top_earners"].rows[0] == ["爱丽丝", 1000]
    from rules.tiers import tier_name

    assert [row[0] for row in tables["tiers"].rows] == [tier_name(row["tier"])
                                                        for row in stats["tiers"]]
    assert [row[0] for row in tables["sources"].rows] == [
        "订单积分", "行为积分", "推荐奖励", "会员生命周期积分", "人工调整", "抽奖奖品积分"]
