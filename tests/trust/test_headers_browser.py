"""The Content-Security-Policy in a real browser (headless Chromium, as ``tests/pages/test_e2e.py``,
whose browser fixture and skip rule this reuses): member pages, the staff console, the API docs
and the browsable API load and work with no violation reported, at phone and desktop size.

A violation is caught twice: Chromium's console ("Refused to ... Content Security Policy") and a
``securitypolicyviolation`` listener installed before any page script runs. Screenshots go to
``/tmp/headers-shots/`` for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from tests.pages.test_e2e import CHROMEDRIVER, CHROMIUM, INSTALL_HINT, _size, _wait, browser  # noqa: F401

SHOTS = Path("/tmp/headers-shots")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=INSTALL_HINT),
]

LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " +
                    e.sourceFile + ":" + e.lineNumber);
});
"""


def violations(driver) -> list[str]:
    logged = [entry["message"] for entry in driver.get_log("browser")
              if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]]
    return logged + (driver.execute_script("return window.__csp || []") or [])


def visit(driver, url: str, css: str, shot: str) -> list[str]:
    driver.get(url)
    _wait(driver, css)
    driver.execute_script("return new Promise(function (done) { setTimeout(done, 300); })")
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{shot}.png"))
    return [f"{url}: {message}" for message in violations(driver)]


def sign_in_cookie(driver, base: str, user) -> None:
    client = Client()
    client.force_login(user)
    driver.get(f"{base}/healthz/")
    driver.delete_all_cookies()
    driver.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})


def test_pages_console_and_docs_load_with_no_csp_violation(browser, live_server):  # noqa: F811
    from catalog.models import Category
    from points import services
    from tests.catalog.helpers import make_product
    from tests.factories import MemberFactory

    fruit = Category.objects.create(name="Fruit", sort_order=1)
    apples = make_product(name="Organic apple gift box", category=fruit, points_price=150, stock=8)
    member = MemberFactory(username="csp-member", established=True)
    services.earn(member, 500, key="csp-welcome", reason="welcome")
    root = MemberFactory(username="csp-root", is_staff=True, is_superuser=True)
    driver, base = browser, live_server.url
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LISTENER})
    found = []

    for size in ("phone", "desktop"):
        _size(driver, size)
        driver.delete_all_cookies()
        # Signing in through the form: the form posts to 'self' (form-action).
        found += visit(driver, f"{base}/accounts/login/", "input[name=username]", f"{size}-login")
        driver.find_element("name", "username").send_keys("csp-member")
        driver.find_element("name", "password").send_keys("pass-for-tests-1")
        driver.find_element("css selector", "form button[type=submit]").click()
        _wait(driver, "[data-testid=available]")
        found += [f"after sign-in: {message}" for message in violations(driver)]
        if size == "phone":  # htmx (a vendored file) swaps the check-in card in place, once a day
            driver.find_element("css selector", "[data-testid=check-in]").click()
            _wait(driver, "#check-in .btn-done")
            found += [f"check-in: {message}" for message in violations(driver)]
        for path, css, name in [("/", "[data-testid=available]", "home"), ("/mall/", ".product-card", "mall"),
                                (f"/mall/{apples.pk}/", "[data-testid=redeem]", "product"),
                                ("/accounts/profile/", "input[name=nickname]", "account"),
                                ("/points/", ".entries", "history"), ("/invite/", ".qr-box svg", "invite"),
                                ("/coupons/", ".coupon-list", "coupons")]:
            found += visit(driver, f"{base}{path}", css, f"{size}-{name}")

        driver.delete_all_cookies()
        found += visit(driver, f"{base}/admin/login/", "input[name=username]", f"{size}-admin-login")
        sign_in_cookie(driver, base, root)
        for path, css, name in [("/admin/", "#main, main", "admin-index"),
                                ("/admin/mall/member/", "#result_list", "admin-changelist"),
                                (f"/admin/mall/member/{member.pk}/change/", "form", "admin-change"),
                                (f"/admin/catalog/product/{apples.pk}/change/", "form", "admin-product"),
                                ("/api/docs/", ".swagger-ui .info", "api-docs"),
                                ("/api/v1/me/", ".response-info", "browsable-api")]:
            found += visit(driver, f"{base}{path}", css, f"{size}-{name}")
        # The console's confirmations (static/js/console.js, no inline onsubmit): a refused
        # question keeps the form from being sent.
        driver.get(f"{base}/admin/")
        _wait(driver, "#main, main")
        asked = driver.execute_script("""
            var asked = [];
            window.confirm = function (question) { asked.push(question); return false; };
            var form = document.createElement("form");
            form.method = "post"; form.action = "/admin/logout/"; form.setAttribute("data-confirm", "Sure?");
            document.body.appendChild(form);
            form.requestSubmit();
            return asked;""")
        assert asked == ["Sure?"] and driver.current_url == f"{base}/admin/"

    assert found == []
