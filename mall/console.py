"""The staff console's shape (django-unfold): the sidebar grouped by job rather than by Django app,
so an operator finds 商城 or 报表 without knowing which app holds a model.

``navigation`` is the ``UNFOLD["SIDEBAR"]["navigation"]`` callback: unfold calls it per request;
each link shows only to staff who may view its page (a group none of whose links shows is hidden).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from common.db import stale_ok


@dataclass(frozen=True)
class Link:
    title: str
    model: str = ""  # "app_label.model_name": links to its list, shown with its view permission
    url_name: str = ""  # or a named admin URL with its own permission
    permission: str = ""
    query: str = ""
    icon: str = ""

    def url(self) -> str:
        if self.model:
            app_label, model_name = self.model.split(".")
            url = reverse(f"admin:{app_label}_{model_name}_changelist")
        else:
            url = reverse(self.url_name)
        return f"{url}?{self.query}" if self.query else url

    def allowed(self, user) -> bool:
        if self.model:
            app_label, model_name = self.model.split(".")
            return user.has_perm(f"{app_label}.view_{model_name}") or user.has_perm(
                f"{app_label}.change_{model_name}")
        return not self.permission or user.has_perm(self.permission)


# The order an operator works in: the daily figures first, the machinery last.
SECTIONS: list[tuple[str, list[Link]]] = [
    (_("Reports"), [
        Link(_("Dashboards"), url_name="admin:reports", permission="mall.view_reports", icon="monitoring"),
    ]),
    (_("Points rules"), [
        Link(_("Rule sets (try an order, simulate, publish)"), model="rules.ruleset", icon="rule"),
        Link(_("Rule set history"), model="rules.rulesetevent", icon="history"),
        Link(_("Paid orders"), model="points.order", icon="receipt_long"),
    ]),
    (_("Mall"), [
        Link(_("Products"), model="catalog.product", icon="redeem"),
        Link(_("Categories"), model="catalog.category", icon="category"),
        Link(_("Stock movements"), model="catalog.stockmovement", icon="inventory_2"),
        Link(_("Coupon codes"), model="catalog.couponcode", icon="confirmation_number"),
        Link(_("Goods channels"), model="catalog.channel", icon="hub"),
        Link(_("Redemptions"), model="catalog.redemption", icon="local_shipping"),
        Link(_("Payments"), model="catalog.payment", icon="payments"),
        Link(_("Suppliers"), model="catalog.supplier", icon="local_shipping"),
        Link(_("Supplier KPIs"), url_name="admin:catalog_supplier_kpis", permission="catalog.view_supplier",
             icon="leaderboard"),
        Link(_("Purchase orders"), model="catalog.purchaseorder", icon="shopping_cart"),
        Link(_("Receipts"), model="catalog.receipt", icon="inventory"),
    ]),
    (_("Members"), [
        Link(_("Members"), model="mall.member", icon="group"),
        Link(_("RFM segments"), model="mall.rfmrun", icon="donut_small"),
        Link(_("RFM scores"), model="mall.rfmscore", icon="leaderboard"),
        Link(_("RFM settings"), model="mall.rfmsettings", icon="tune"),
        Link(_("Points adjustments"), model="points.entry", query="kind__exact=adjust", icon="tune"),
        Link(_("Points entries"), model="points.entry", icon="list_alt"),
        Link(_("Points lots"), model="points.lot", icon="event"),
        Link(_("Points holds"), model="points.hold", icon="lock_clock"),
        Link(_("Tier changes"), model="mall.tierchange", icon="military_tech"),
        Link(_("Messages"), model="mall.message", icon="mail"),
        Link(_("Broadcasts"), model="mall.broadcast", icon="campaign"),
        Link(_("Message templates"), model="mall.messagetemplate", icon="drafts"),
        Link(_("Addresses"), model="catalog.address", icon="home_pin"),
    ]),
    (_("Referrals"), [
        Link(_("Reward plans"), model="referrals.rewardplan", icon="account_tree"),
        Link(_("Merchants"), model="referrals.merchant", icon="storefront"),
        Link(_("Reward records"), model="referrals.rewardrecord", icon="paid"),
        Link(_("Referral tree"), model="referrals.node", icon="family_history"),
        Link(_("Rewarded orders"), model="referrals.rewardedorder", icon="fact_check"),
    ]),
    (_("Campaigns"), [
        Link(_("Daily tasks"), model="mall.task", icon="task_alt"),
        Link(_("Task completions"), model="mall.taskcompletion", icon="done_all"),
        Link(_("Badges"), model="mall.badge", icon="workspace_premium"),
        Link(_("Badge awards"), model="mall.badgeaward", icon="emoji_events"),
        Link(_("Lotteries"), model="catalog.lottery", icon="casino"),
        Link(_("Draws"), model="catalog.draw", icon="confirmation_number"),
        Link(_("Free draws"), model="catalog.drawticket", icon="local_activity"),
        Link(_("Auctions"), model="catalog.auction", icon="gavel"),
        Link(_("Check-ins"), model="points.checkin", icon="event_available"),
        Link(_("Behaviour records"), model="points.behaviourrecord", icon="touch_app"),
    ]),
    (_("System"), [
        Link(_("Reconciliation"), model="points.reconciliationrun", icon="balance"),
        Link(_("Audit trail"), model="auditlog.logentry", icon="policy"),
        Link(_("Console change history"), model="admin.logentry", icon="manage_search"),
        Link(_("Staff groups"), model="auth.group", icon="badge"),
        Link(_("Points accounts"), model="points.account", icon="account_balance_wallet"),
        Link(_("Scheduled jobs"), model="django_celery_beat.periodictask", icon="schedule"),
        Link(_("Crontab schedules"), model="django_celery_beat.crontabschedule", icon="calendar_month"),
        Link(_("Interval schedules"), model="django_celery_beat.intervalschedule", icon="timer"),
        Link(_("Clocked schedules"), model="django_celery_beat.clockedschedule", icon="alarm"),
        Link(_("Solar schedules"), model="django_celery_beat.solarschedule", icon="wb_sunny"),
        Link(_("Login attempts"), model="axes.accessattempt", icon="login"),
        Link(_("Login failures"), model="axes.accessfailurelog", icon="gpp_bad"),
        Link(_("Login log"), model="axes.accesslog", icon="key"),
        # Staff access (mall.staff_security): a lost phone is a TOTP device deleted here.
        Link(_("Two-factor devices"), model="otp_totp.totpdevice", icon="phonelink_lock"),
        Link(_("Recovery codes"), model="otp_static.staticdevice", icon="password"),
        Link(_("API refresh tokens"), model="token_blacklist.outstandingtoken", icon="token"),
        Link(_("Revoked API tokens"), model="token_blacklist.blacklistedtoken", icon="block"),
    ]),
]


def navigation(request) -> list[dict]:
    """The sidebar for ``request.user``, in unfold's shape."""
    user = request.user
    return [
        {
            "title": title,
            "collapsible": index > 1,  # 报表 and 积分规则 stay open; the rest fold away
            "items": [
                {"title": link.title, "link": link.url(), "icon": link.icon,
                 "permission": (lambda request, link=link: link.allowed(request.user))}
                for link in links if link.allowed(user)
            ],
        }
        for index, (title, links) in enumerate(SECTIONS)
    ]


# Registered admins the sidebar leaves out on purpose: a rule set's tables are opened from its page
# (their lists and CSV/XLSX import are per rule set).
REACHED_FROM_THEIR_PAGE = {"rules.tierrule", "rules.categorybonus", "rules.spendtier", "rules.behaviourrule",
                           "rules.checkinstep"}


def linked_models() -> set[str]:
    """Every model the sidebar links to (a test checks each registered admin is reachable)."""
    return {link.model for _title, links in SECTIONS for link in links if link.model}


# The landing page's headline cards: the rows of these report sections, in this order.
HEADLINE_SECTIONS = ("liability_today", "summary")


@stale_ok  # the figures may be a few seconds behind (the read replica when there is one)
def dashboard(request, context: dict) -> dict:
    """``UNFOLD["DASHBOARD_CALLBACK"]``: the admin's landing page is 报表 for staff who may read
    the reports (headline cards, then every section; the CSV links point at the reports page),
    and a list of their sections for everyone else."""
    from mall import reports_admin  # the reports import every app's models; loaded on first use

    if request.user.has_perm(reports_admin.PERMISSION):
        figures = reports_admin.dashboard(url=reverse("admin:reports"))
        by_key = {section["table"].key: section["table"] for section in figures["sections"]}
        cards = [{"label": label, "value": value}
                 for key in HEADLINE_SECTIONS if key in by_key for label, value in by_key[key].rows]
        context.update(figures, cards=cards, reports_url=reverse("admin:reports"))
    if request.user.has_perm("mall.view_rfmrun"):
        # The members per RFM segment and their movement since the run before, under the reports.
        from mall import rfm_admin

        context.update(rfm_admin.segments_context(), rfm_url=reverse("admin:mall_rfmrun_changelist"))
    context["sections_for_user"] = [
        {"title": group["title"], "items": group["items"]} for group in navigation(request) if group["items"]]
    return context
