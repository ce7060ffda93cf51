"""The staff console in headless Chromium at 1280×800 and 1440×900, on the demo data ``make run``
loads (``load_demo``), saved under ``var/screenshots/console/`` (``{language}-{size}-{page}.png``)
for a person to look at. Each page must render in the asked language, without a server error and
without a sideways scroll bar (the rule-set list used to scroll at 1280 px).

Skipped with a message on a machine without the browser (``.ci/run`` installs it)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.pages.test_e2e import (
    CHROMEDRIVER,
    CHROMIUM,
    INSTALL_HINT,
    SCREENSHOTS,
    browser,  # noqa: F401 (the fixture)
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=INSTALL_HINT),
]
GALLERY = SCREENSHOTS / "console"
SIZES = {"1280": (1280, 800), "1440": (1440, 900)}


def _pages() -> dict[str, str]:
    from django.urls import reverse

    from catalog.models import Channel, Product, PurchaseOrder, Redemption, Supplier
    from mall.models import Member
    from referrals.models import RewardPlan
    from rules import services as rule_services
    from rules.models import RuleSet

    admin = Member.objects.filter(is_superuser=True).order_by("pk").first()
    published = RuleSet.objects.filter(status="published").latest("version")
    editor = Member.objects.filter(is_staff=True, is_superuser=False).order_by("pk").first() or admin
    draft = rule_services.clone_as_draft(published, actor=editor)
    # A draft that differs: 1.5 points a yuan, so the diff, the cost and the chart have something to show.
    rule_services.save_draft(draft, actor=editor, fields={"base_points_per_yuan": Decimal("1.5")})
    member = Member.objects.filter(is_staff=False).order_by("pk").first()
    rule_set = "/admin/rules/ruleset"
    return {
        "dashboard": "/admin/", "reports": "/admin/reports/",
        "rule-sets": f"{rule_set}/", "rule-set": f"{rule_set}/{published.pk}/change/",
        "draft": f"{rule_set}/{draft.pk}/change/",
        "try-order": f"{rule_set}/{published.pk}/try-order/",
        "simulate": f"{rule_set}/{draft.pk}/simulate/?days=30",
        "confirm-publish": f"{rule_set}/{draft.pk}/release/publish/",
        "gray-release": f"{rule_set}/{draft.pk}/gray-release/",
        "members": "/admin/mall/member/", "member": f"/admin/mall/member/{member.pk}/change/",
        "member-search": "/admin/mall/member/?q=138",
        "products": "/admin/catalog/product/",
        "product": f"/admin/catalog/product/{Product.objects.first().pk}/change/",
        "redemptions": "/admin/catalog/redemption/",
        "redemption": f"/admin/catalog/redemption/{Redemption.objects.first().pk}/change/",
        "entries": "/admin/points/entry/", "plans": "/admin/referrals/rewardplan/",
        "plan": f"/admin/referrals/rewardplan/{RewardPlan.objects.first().pk}/change/",
        "tasks": "/admin/mall/task/", "lotteries": "/admin/catalog/lottery/",
        "schedules": "/admin/django_celery_beat/periodictask/", "audit": "/admin/admin/logentry/",
        "reconciliation": "/admin/points/reconciliationrun/", "groups": "/admin/auth/group/",
        "import": "/admin/catalog/product/import/",
        "suppliers": "/admin/catalog/supplier/",
        "supplier": f"/admin/catalog/supplier/{Supplier.objects.first().pk}/change/",
        "supplier-kpis": reverse("admin:catalog_supplier_kpis"),
        "purchase-orders": "/admin/catalog/purchaseorder/",
        "purchase-order": f"/admin/catalog/purchaseorder/{PurchaseOrder.objects.first().pk}/change/",
        "receive": reverse("admin:catalog_purchaseorder_receive", args=[PurchaseOrder.objects.first().pk]),
        "channels": "/admin/catalog/channel/",
        "channel": f"/admin/catalog/channel/{Channel.objects.first().pk}/change/",
        "channel-import": reverse("admin:catalog_channel_import", args=[Channel.objects.first().pk]),
        "rfm": "/admin/mall/rfmrun/", "rfm-settings": "/admin/mall/rfmsettings/",
        "members-by-segment": "/admin/mall/member/?segment__exact=important_value",
        "_admin": admin.username,
    }


def _log_in(driver, base, username):
    from django.test import Client

    from mall.models import Member

    client = Client()
    client.force_login(Member.objects.get(username=username))
    driver.get(f"{base}/healthz/")
    driver.add_cookie({"name": settings.SESSION_COOKIE_NAME,
                       "value": client.cookies[settings.SESSION_COOKIE_NAME].value})


def test_the_console_at_both_desktop_sizes(browser, live_server):  # noqa: F811
    call_command("load_demo", verbosity=0)
    pages = _pages()
    admin = pages.pop("_admin")
    driver, base = browser, live_server.url
    GALLERY.mkdir(parents=True, exist_ok=True)
    problems = []
    for language in ("zh-hans", "en"):
        driver.delete_all_cookies()
        driver.get(f"{base}/healthz/")
        driver.add_cookie({"name": settings.LANGUAGE_COOKIE_NAME, "value": language})
        _log_in(driver, base, admin)
        for size, (width, height) in SIZES.items():
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            for name, url in pages.items():
                if language == "en" and size == "1440":
                    continue  # English once, at the smaller size
                problems += _visit(driver, base + url, language, size, name)
    assert not problems, problems


def _visit(driver, url, language, size, name) -> list[str]:
    driver.get(url)
    path = GALLERY / f"{language}-{size}-{name}.png"
    driver.save_screenshot(str(path))
    problems = []
    if driver.find_element("css selector", "html").get_attribute("lang") != language:
        problems.append(f"{name}: not in {language}")
    if driver.find_elements("css selector", "#summary, .page-error"):
        problems.append(f"{name}: an error page")
    if "/login/" in driver.current_url:
        problems.append(f"{name}: sent to the login page")
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 1:
        problems.append(f"{name} ({language}, {size}): {overflow}px sideways scroll")
    if path.stat().st_size < 10_000:
        problems.append(f"{name}: blank screenshot")
    return problems
