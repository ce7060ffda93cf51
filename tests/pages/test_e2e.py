"""End to end in headless Chromium (Debian's ``chromium`` + ``chromium-driver`` through Selenium)
against a live server: register from an invite link, check in, redeem a product, find the entry
in the history. Screenshots of every step go to ``var/screenshots/`` at phone (390×844) and
desktop (1280×800) size, for a person to look at.

Skipped with a message on a machine without the browser (``.ci/run`` installs it).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
INSTALL_HINT = ("headless Chromium is not installed; install it with "
                "`apt-get update && apt-get install -y chromium chromium-driver fonts-wqy-microhei` "
                "(Debian) to run the end-to-end test")

SIZES = {"phone": (390, 844), "desktop": (1280, 800)}

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=INSTALL_HINT),
]


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                    "(pip install -r requirements-dev.txt)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mall-e2e-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
                 "--lang=en-US", "--window-size=1280,800"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    # The console's messages (``driver.get_log("browser")``): CSP violations show up there.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never tries to download one (no internet).
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _size(driver, name: str) -> None:
    width, height = SIZES[name]
    # Device metrics fix the viewport exactly (a window size would include browser chrome).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 2 if name == "phone" else 1,
        "mobile": name == "phone",
    })


def _shot(driver, size: str, step: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{size}-{step}.png"
    driver.save_screenshot(str(path))
    return path


def _wait(driver, css: str, timeout: float = 10):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _wait_url(driver, fragment: str, timeout: float = 10) -> None:
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.url_contains(fragment))


def _fill(driver, name: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def _click(driver, css: str) -> None:
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def test_register_check_in_redeem_and_see_the_history(browser, live_server):
    from catalog.models import Category, ProductKind, Redemption
    from mall import invite
    from mall.models import Member
    from tests.catalog.helpers import make_product
    from tests.factories import MemberFactory

    fruit = Category.objects.create(name="Fruit", sort_order=1)
    Category.objects.create(name="Vouchers", sort_order=2)
    apples = make_product(name="Organic apple gift box", category=fruit, points_price=150, stock=8,
                          description="Six crisp apples from Yantai, packed for gifting.")
    make_product(name="Cinema ticket coupon", kind=ProductKind.COUPON, points_price=120,
                 codes=["CINEMA-0001", "CINEMA-0002"])
    make_product(name="Free shipping for a month", kind=ProductKind.PRIVILEGE, points_price=80,
                 stock=100)
    make_product(name="Imported cherries 2 kg", category=fruit, points_price=900, stock=3)
    inviter = MemberFactory(nickname="Alice")
    code = invite.invite_code(inviter)
    base = live_server.url
    driver = browser

    for size in ("phone", "desktop"):
        _size(driver, size)
        username = f"e2e-{size}"

        # Register from the invite link: the code is in the form.
        driver.delete_all_cookies()
        driver.get(f"{base}/accounts/register/?invite={code}")
        invite_field = _wait(driver, "input[name=invite_code]")
        assert invite_field.get_attribute("value") == code
        _fill(driver, "username", username)
        _fill(driver, "password", "a-long-passphrase-9")
        _fill(driver, "password2", "a-long-passphrase-9")
        _shot(driver, size, "01-register")
        _click(driver, "form button[type=submit].btn-primary")
        available = _wait(driver, "[data-testid=available]")
        assert available.text == "200"
        _shot(driver, size, "02-home")

        # Check in (htmx swaps the card in place).
        _click(driver, "[data-testid=check-in]")
        _wait(driver, "#check-in .btn-done")
        assert "+5" in driver.find_element("css selector", "#check-in .btn-done").text
        assert driver.find_element("css selector", "[data-testid=available]").text == "205"
        _shot(driver, size, "03-checked-in")
        driver.get(f"{base}/")
        assert _wait(driver, "[data-testid=available]").text == "205"

        # The mall, the product, the confirmation, the redemption.
        driver.get(f"{base}/mall/")
        _wait(driver, ".product-card")
        _shot(driver, size, "04-mall")
        # Physical goods ship to a saved address (the address pages have tests of their own).
        from catalog import services as catalog_services

        catalog_services.add_address(Member.objects.get(username=username), recipient="Li Lei",
                                     phone="13800138000", region="Shanghai",
                                     detail="Room 1, 100 Nanjing Road")
        driver.get(f"{base}/mall/{apples.pk}/")
        _wait(driver, "[data-testid=redeem]")
        _shot(driver, size, "05-product")
        _click(driver, "[data-testid=redeem]")
        _wait(driver, "[data-testid=confirm-redeem]")
        _shot(driver, size, "06-confirm")
        # A member who joined today pays the new-member offer's 50 points less.
        assert "50 points off the first redemption" in driver.page_source
        _click(driver, "[data-testid=confirm-redeem]")
        _wait(driver, "[data-testid=cancel]")
        assert "Redeemed Organic apple gift box × 1 for 100 points." in driver.page_source
        _shot(driver, size, "07-redemption")

        # The history shows the spend with its reason, and the check-in with its explanation.
        driver.get(f"{base}/points/")
        _wait(driver, ".entries")
        entries = driver.find_elements("css selector", ".entry")
        assert len(entries) == 3
        assert "Organic apple gift box" in entries[0].text and "-100" in entries[0].text
        assert "+5" in entries[1].text and "+200" in entries[2].text
        _shot(driver, size, "08-history")

        driver.get(f"{base}/invite/")
        _wait(driver, ".qr-box svg")
        _shot(driver, size, "09-invite")
        driver.get(f"{base}/redemptions/")
        _wait(driver, ".orders")
        _shot(driver, size, "10-redemptions")
        driver.get(f"{base}/accounts/profile/")
        _wait(driver, "input[name=nickname]")
        _shot(driver, size, "11-account")

        member = Member.objects.get(username=username)
        redemption = Redemption.objects.get(member=member)
        assert (redemption.product_id, redemption.points, redemption.status) == (apples.pk, 100, "created")
        assert redemption.address == "Li Lei 13800138000\nShanghai Room 1, 100 Nanjing Road"

    # The site's default language (Simplified Chinese), as a first visit without a preference.
    _size(driver, "phone")
    driver.delete_all_cookies()
    driver.get(f"{base}/accounts/login/")
    driver.add_cookie({"name": settings.LANGUAGE_COOKIE_NAME, "value": "zh-hans"})
    driver.get(f"{base}/accounts/login/")
    assert _wait(driver, "html").get_attribute("lang") == "zh-hans"
    _shot(driver, "phone", "00-login-zh-hans")

    for name in SIZES:
        assert (SCREENSHOTS / f"{name}-08-history.png").stat().st_size > 10_000


def test_browse_anonymously_log_in_pay_points_and_cash_and_find_the_coupon(browser, live_server):
    """Issue 12's journey: browse the mall without an account, log in from a product and land back
    on it, redeem a points + cash product through the sandbox payment, see the coupon in the
    wallet, and the month-grouped history in English and in Chinese."""
    from decimal import Decimal

    from django.utils import formats, timezone, translation

    from catalog import services as catalog_services
    from catalog.demo_images import demo_picture
    from catalog.models import ProductKind, Redemption
    from tests.catalog.helpers import fund, make_product
    from tests.factories import MemberFactory

    tea = make_product(name="West Lake tea voucher", kind=ProductKind.COUPON, points_price=1500,
                       cash_price=Decimal("9.90"), codes=["TEA-0001", "TEA-0002"],
                       usage_instructions="Show the code at any tea house counter.")
    catalog_services.add_image(tea, demo_picture(tea.name, ProductKind.COUPON), cover=True)
    member = MemberFactory(username="journey", established=True)
    fund(member, 1_288_000, key="journey:fund")
    base, driver = live_server.url, browser

    for size in ("phone", "desktop"):
        _size(driver, size)
        driver.delete_all_cookies()
        # Anonymous: the mall and the product, with its picture, then "log in to redeem".
        driver.get(f"{base}/mall/")
        card = _wait(driver, ".product-card")
        assert "West Lake tea voucher" in card.text
        assert driver.find_element("css selector", ".product-card img").get_attribute("loading") == "lazy"
        _shot(driver, size, "20-mall-anonymous")
        driver.get(f"{base}/mall/{tea.pk}/")
        _wait(driver, "[data-testid=login-to-redeem]")
        _shot(driver, size, "21-product-anonymous")
        _click(driver, "[data-testid=login-to-redeem]")
        _wait(driver, "input[name=username]")
        _fill(driver, "username", "journey")
        _fill(driver, "password", "pass-for-tests-1")
        _shot(driver, size, "22-login-from-product")
        _click(driver, "form button[type=submit].btn-primary")
        _wait(driver, "[data-testid=redeem]")
        assert driver.current_url.endswith(f"/mall/{tea.pk}/"), "back on the product"

        # Points + cash: the confirmation shows both parts, the sandbox takes the cash.
        _click(driver, "[data-testid=redeem]")
        total = _wait(driver, "[data-testid=total]")
        assert total.text == "1500 points + ¥9.90"
        _shot(driver, size, "23-confirm-points-and-cash")
        _click(driver, "[data-testid=confirm-redeem]")
        _wait(driver, "[data-testid=pay]")
        assert "/pay/sandbox/" in driver.current_url
        _shot(driver, size, "24-sandbox-payment")
        _click(driver, "[data-testid=pay]")
        # The sandbox page has a total too: wait for the redirect, not for an element both pages share.
        _wait_url(driver, "/redemptions/")
        _wait(driver, "[data-testid=total]")
        _shot(driver, size, "25-paid-redemption")
        redemption = Redemption.objects.filter(member=member).latest("id")
        assert redemption.status == "fulfilled" and redemption.payment.status == "paid"
        code = redemption.codes.get().code

        # The coupon is in the wallet, with how to use it.
        driver.get(f"{base}/coupons/")
        codes = [element.text for element in
                 driver.find_elements("css selector", "[data-testid=coupon-code]")]
        assert code in codes
        assert "Show the code at any tea house counter." in driver.page_source
        _shot(driver, size, "26-coupon-wallet")

        # The history, by month, in plain words, in English and then in Chinese.
        driver.get(f"{base}/points/")
        _wait(driver, ".entries")
        now = timezone.localtime()
        with translation.override("en"):
            month_en = formats.date_format(now, "YEAR_MONTH_FORMAT")
        with translation.override("zh-hans"):
            month_zh = formats.date_format(now, "YEAR_MONTH_FORMAT")
        assert month_en in driver.find_element("css selector", ".month-head").text
        labels = [element.text for element in
                  driver.find_elements("css selector", "[data-testid=label]")]
        assert labels[0] == "Used" and "Earned" in labels
        assert "+1,288,000" in driver.page_source
        _shot(driver, size, "27-history-en")
        driver.add_cookie({"name": settings.LANGUAGE_COOKIE_NAME, "value": "zh-hans"})
        driver.get(f"{base}/points/")
        _wait(driver, ".entries")
        assert month_zh in driver.find_element("css selector", ".month-head").text
        labels = [element.text for element in
                  driver.find_elements("css selector", "[data-testid=label]")]
        assert labels[0] == "使用" and "获得" in labels
        _shot(driver, size, "28-history-zh-hans")
