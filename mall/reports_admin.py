"""报表 / Reports: the admin's dashboards page (``/admin/reports/``), for staff with
``mall.view_reports``.

A date-range form, one table per section with a server-side SVG bar chart where it helps, and a
CSV download of each table (``?csv=<section>``). The numbers come from ``mall.reports``; the whole
set for one range is cached for ``CACHE_SECONDS`` (key: the range and the period), so the page
costs a bounded number of queries and a cached view none of the heavy ones. ``dashboard(start,
end, period)`` builds the whole template context, for this page or another (the admin's landing
page).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta

from django import forms
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext_lazy as _

from mall import reports

PERMISSION = "mall.view_reports"
# The permission's name as mall 0012 stores it; in the catalog so the admin shows it translated.
PERMISSION_NAME = gettext_noop("Can view reports")
CACHE_SECONDS = 300
DEFAULT_DAYS = 30
MAX_DAYS = 366
MAX_MONTHS = 12
CHART_WIDTH = 640
CHART_BAR_HEIGHT = 18
CHART_LABEL_WIDTH = 140


class ReportRangeForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    period = forms.ChoiceField(label=_("Per"), initial="day", choices=[
        ("day", _("day")), ("week", _("week")), ("month", _("month"))])

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError(_("The end date is before the start date."))
            if (end - start).days >= MAX_DAYS:
                raise forms.ValidationError(
                    _("Choose at most %(days)s days.") % {"days": MAX_DAYS})
        return data


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    # (label column, value column) of the bar chart, or None.
    chart: tuple[int, int] | None = None

    def svg(self) -> dict | None:
        if self.chart is None or not self.rows:
            return None
        label_at, value_at = self.chart
        values = [abs(int(row[value_at] or 0)) for row in self.rows]
        top = max(values) or 1
        span = CHART_WIDTH - CHART_LABEL_WIDTH - 80
        bars = []
        for index, (row, value) in enumerate(zip(self.rows, values, strict=True)):
            y = index * (CHART_BAR_HEIGHT + 4)
            width = round(span * value / top)
            bars.append({"label": str(row[label_at]), "value": row[value_at], "y": y,
                         "text_y": y + CHART_BAR_HEIGHT - 5, "width": width,
                         "value_x": CHART_LABEL_WIDTH + width + 6})
        return {"width": CHART_WIDTH, "height": len(bars) * (CHART_BAR_HEIGHT + 4),
                "label_width": CHART_LABEL_WIDTH, "bar_height": CHART_BAR_HEIGHT, "bars": bars,
                "title": self.columns[value_at]}


# The sources of issued points (mall.reports.SOURCES) as an operator names them. "Orders" alone
# is already translated as a count (订单数) elsewhere, hence the longer labels.
SOURCE_NAMES = {"orders": _("Order points"), "behaviours": _("Behaviour points"),
                "referrals": _("Referral rewards"), "lifecycle": _("Lifecycle points"),
                "adjustments": _("Staff adjustments"), "lottery": _("Lottery prizes")}


def default_range(today: date | None = None) -> tuple[date, date]:
    today = today or timezone.localdate()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def _months(start: date, end: date) -> list[tuple[int, int]]:
    months, day = [], end.replace(day=1)
    while day >= start.replace(day=1) and len(months) < MAX_MONTHS:
        months.append((day.year, day.month))
        day = (day - timedelta(days=1)).replace(day=1)
    return months[::-1]


def _percent(value) -> str:
    return "" if value is None else f"{value * 100:.2f}%"


def build_tables(start: date, end: date, period: str) -> list[Table]:
    """Every section of the page for the local days ``start``..``end``, cached by the range and
    the language (the tables hold translated names)."""
    key = f"mall:reports:v2:{get_language()}:{start.isoformat()}:{end.isoformat()}:{period}"
    tables = cache.get(key)
    if tables is None:
        tables = _compute(start, end, period)
        cache.set(key, tables, CACHE_SECONDS)
    return tables


def _compute(start: date, end: date, period: str) -> list[Table]:
    with reports.reading():
        return _tables(start, end, period)


def _tables(start: date, end: date, period: str) -> list[Table]:
    flow = reports.points_flow(start, end, period=period)
    broken = reports.breakage()
    owed = reports.liability(end)
    forecast = reports.expiry_forecast()
    monthly = [reports.monthly_liability_report(year, month) for year, month in _months(start, end)]
    people = reports.member_stats(start, end)
    shop = reports.catalog_stats(start, end)
    flow_names = [_("Issued"), _("Activated"), _("Spent"), _("Expired"), _("Reversed"),
                  _("Returned"), _("Adjusted out"), _("Net"), _("Outstanding")]
    source_names = SOURCE_NAMES
    repurchase = people["repurchase"]
    totals = flow["totals"]
    return [
        Table("flow", _("Points flow"), [_("Period"), *map(str, flow_names)],
              [[row["period_start"].isoformat(), *(row[name] for name in reports.FLOWS),
                row["net"], row["outstanding"]] for row in flow["rows"]], chart=(0, 1)),
        Table("summary", _("Summary"), [_("Figure"), _("Value")], [
            [_("Issued"), totals["issued"]], [_("Spent"), totals["spent"]],
            [_("Expired"), totals["expired"]],
            [_("Earn/burn ratio"), "" if flow["earn_burn_ratio"] is None else flow["earn_burn_ratio"]],
            [_("Breakage (expired ÷ issued, matured lots)"), _percent(broken["rate"])],
            [_("Matured lots issued"), broken["issued"]], [_("Matured lots expired"), broken["expired"]],
        ]),
        Table("sources", _("Issued by source"), [_("Source"), _("Points")],
              [[source_names[name], flow["by_source"][name]] for name in reports.SOURCES],
              chart=(0, 1)),
        Table("sources_by_period", _("Issued by source per period"),
              [_("Period"), *(source_names[name] for name in reports.SOURCES), _("Issued")],
              [[row["period_start"].isoformat(), *(row["by_source"][name] for name in reports.SOURCES),
                row["issued"]] for row in flow["rows"]]),
        Table("liability", _("Liability"), [_("Month end"), _("Balance"), _("Value (yuan)")],
              [[row["month"].strftime("%Y-%m"), row["balance"], row["value"]]
               for row in owed["months"]], chart=(0, 1)),
        Table("liability_today", _("Liability today"), [_("Figure"), _("Value")], [
            [_("Available"), owed["today"]["available"]], [_("Pending"), owed["today"]["pending"]],
            [_("Held"), owed["today"]["held"]], [_("Debt"), owed["today"]["debt"]],
            [_("Outstanding"), owed["today"]["outstanding"]],
            [_("Value (yuan)"), owed["today"]["value"]],
            [_("Points per yuan"), owed["points_per_yuan"]],
        ]),
        Table("expiry", _("Expiry forecast"), [_("Month"), _("Points expiring")],
              [[row["month"].strftime("%Y-%m"), row["points"]] for row in forecast], chart=(0, 1)),
        Table("monthly", _("Monthly liability report"),
              [_("Month"), _("Opening"), _("Issued"), _("Adjusted in"), _("Redeemed"),
               _("Returned"), _("Reversed"), _("Expired"), _("Adjusted out"), _("Closing"),
               _("Closing value (yuan)")],
              [[row["month"].strftime("%Y-%m"), row["opening"], row["issued"], row["adjusted_in"],
                row["redeemed"], row["returned"], row["reversed"], row["expired"],
                row["adjusted_out"], row["closing"], row["closing_value"]] for row in monthly]),
        Table("members", _("Members"), [_("Figure"), _("Value")], [
            [_("Active members"), people["active"]], [_("New members"), people["new"]],
            [_("Repurchase rate, members who redeemed"), _percent(repurchase["redeemed"]["rate"])],
            [_("Members who redeemed"), repurchase["redeemed"]["members"]],
            [_("Repurchase rate, members who did not redeem"),
             _percent(repurchase["not_redeemed"]["rate"])],
            [_("Members who did not redeem"), repurchase["not_redeemed"]["members"]],
        ]),
        Table("tiers", _("Tier mix"), [_("Tier"), _("Members")],
              [[_tier_name(row["tier"]), row["members"]] for row in people["tiers"]], chart=(0, 1)),
        Table("top_earners", _("Top earners"), [_("Member"), _("Points earned")],
              [[row["name"], row["points"]] for row in people["top_earners"]], chart=(0, 1)),
        Table("top_holders", _("Top holders"), [_("Member"), _("Balance")],
              [[row["name"], row["points"]] for row in people["top_holders"]], chart=(0, 1)),
        Table("products", _("Redemptions by product"),
              [_("Product"), _("Redemptions"), _("Quantity"), _("Points spent")],
              [[row["name"], row["redemptions"], row["quantity"], row["points"]]
               for row in shop["products"]], chart=(0, 3)),
        Table("categories", _("Redemptions by category"),
              [_("Category"), _("Redemptions"), _("Quantity"), _("Points spent")],
              [[row["name"] or _("No category"), row["redemptions"], row["quantity"], row["points"]]
               for row in shop["categories"]], chart=(0, 3)),
        Table("stock_outs", _("Out of stock on sale"), [_("Product")],
              [[row["name"]] for row in shop["stock_outs"]]),
        Table("play", _("Lottery and auctions"), [_("Figure"), _("Value")], [
            [_("Draws"), shop["lottery"]["draws"]],
            [_("Points spent on draws"), shop["lottery"]["points_spent"]],
            [_("Lottery cost (points paid as prizes)"), shop["lottery"]["prize_points"]],
            [_("Auctions won"), shop["auctions"]["closed"]],
            [_("Winning bids (points)"), shop["auctions"]["points"]],
            [_("Auctioned products' prices (points)"), shop["auctions"]["list_points"]],
            [_("Auction cost (price − winning bid)"), shop["auctions"]["cost"]],
        ]),
    ]


def _tier_name(code: str) -> str:
    from rules.tiers import tier_name

    return tier_name(code) or code


def _csv(table: Table, start: date, end: date) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{table.key}-{start.isoformat()}-{end.isoformat()}.csv"')
    response.write("\ufeff")  # Excel reads UTF-8 with a BOM
    writer = csv.writer(response)
    writer.writerow([str(column) for column in table.columns])
    writer.writerows([[str(value) for value in row] for row in table.rows])
    return response


def reports_view(request, admin_site):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    start, end = default_range()
    period = "day"
    form = ReportRangeForm(request.GET or None,
                           initial={"start": start, "end": end, "period": period})
    if request.GET.get("start") or request.GET.get("end"):
        if form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
            period = form.cleaned_data["period"] or "day"
    else:
        form = ReportRangeForm(initial={"start": start, "end": end, "period": period})
        if request.GET.get("period") in reports.PERIODS:
            period = request.GET["period"]
    wanted = request.GET.get("csv")
    if wanted:
        for table in build_tables(start, end, period):
            if table.key == wanted:
                return _csv(table, start, end)
        raise Http404
    context = {
        **admin_site.each_context(request),
        "title": _("Reports"),
        "form": form,
        **dashboard(start, end, period),
    }
    return TemplateResponse(request, "admin/mall/reports.html", context)


def dashboard(start: date | None = None, end: date | None = None, period: str = "day", *,
              url: str = "") -> dict:
    """The dashboards' template context for the local days ``start``..``end`` (default: the last
    ``DEFAULT_DAYS`` days): ``{start, end, period, sections: [{table, svg, csv_url}]}``, for the
    reports page or any other page that shows them (the admin's landing page). ``url`` is the
    page the CSV links point at (default: the current one, ``?…``); it must serve ``?csv=``
    like ``reports_view`` does."""
    if start is None or end is None:
        start, end = default_range()
    tables = build_tables(start, end, period)
    query = f"start={start.isoformat()}&end={end.isoformat()}&period={period}"
    return {
        "start": start,
        "end": end,
        "period": period,
        "sections": [{"table": table, "svg": table.svg(),
                      "csv_url": f"{url}?{query}&csv={table.key}"} for table in tables],
    }


def install(admin_site) -> None:
    """Add ``reports/`` (name ``admin:reports``) to ``admin_site``'s URLs."""
    original = admin_site.get_urls

    def get_urls():
        view = admin_site.admin_view(lambda request: reports_view(request, admin_site))
        return [path("reports/", view, name="reports"), *original()]

    admin_site.get_urls = get_urls
