"""Every member page in headless Chromium at phone (390×844) and desktop (1280×800) size, in
Simplified Chinese and in English, saved under ``var/screenshots/pages/`` for a person to look at
(``{language}-{size}-{page}.png``). Each page must render in the asked language without a
server error and without a horizontal scroll bar on the phone.

Skipped with a message on a machine without the browser (``.ci/run`` installs it)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from tests.pages.test_e2e import (
    CHROMEDRIVER,
    CHROMIUM,
    INSTALL_HINT,
    SCREENSHOTS,
    SIZES,
    _size,
    browser,  # noqa: F401 (the fixture)
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=INSTALL_HINT),
]
GALLERY = SCREENSHOTS / "pages"


def _world():
    """A member with a little of everything: points, a check-in, redemptions, a coupon, a
    message, an invitee; products of every kind, a lottery and an auction."""
    from catalog import services as catalog_services
    from catalog.models import Auction, Category, Lottery, ProductKind
    from catalog.services.addresses import add_address
    from mall import invite
    from mall.services import members as member_services
    from points.services import earning
    from tests.catalog.helpers import fund, make_product
    from tests.factories import MemberFactory

    member = MemberFactory(established=True, nickname="小明", phone="13900001111")
    fund(member, 1_288_000, key="gallery:fund")
    earning.check_in(member)
    fruit = Category.objects.create(name="水果", sort_order=1)
    apples = make_product(name="烟台苹果礼盒", category=fruit, points_price=1500, stock=8,
                          description="六个脆甜的烟台苹果，礼盒装。")
    coupon = make_product(name="电影票券", kind=ProductKind.COUPON, points_price=1200,
                          codes=["CINEMA-0001", "CINEMA-0002"],
                          usage_instructions="在影院售票处出示券码即可兑换一张 2D 电影票。")
    make_product(name="包邮月卡", kind=ProductKind.PRIVILEGE, points_price=800, stock=100)
    make_product(name="进口车厘子 2 kg", category=fruit, points_price=9_000_000, stock=3)
    tea = make_product(name="龙井茶券", kind=ProductKind.COUPON, points_price=1500,
                       cash_price=Decimal("9.90"), codes=["TEA-0001"])
    catalog_services.redeem(member, coupon, key="gallery:coupon")
    address = add_address(member, recipient="小明", phone="13900001111", region="上海市 黄浦区",
                          detail="南京东路 100 号 1 室")
    catalog_services.redeem(member, apples, key="gallery:apples", address=address.snapshot(),
                            saved_address=address)
    awaiting = catalog_services.redeem(member, tea, key="gallery:tea")
    member_services.register(username="gallery-friend", password="a-long-passphrase-9",
                             invite_code=invite.invite_code(member))
    now = timezone.now()
    auction = Auction.objects.create(product=apples, start_price=100, increment=10,
                                     starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1))
    lottery = Lottery.objects.filter(active=True).first()
    return member, {
        "home": "/", "history": "/points/", "mall": "/mall/", "product": f"/mall/{apples.pk}/",
        "confirm": f"/mall/{apples.pk}/redeem/", "redemptions": "/redemptions/",
        "redemption": f"/redemptions/{member.redemptions.get(product=apples).pk}/",
        "awaiting-payment": f"/redemptions/{awaiting.pk}/",
        "coupons": "/coupons/", "invite": "/invite/", "team": "/team/", "badges": "/badges/",
        "messages": "/messages/", "account": "/accounts/profile/", "auctions": "/auctions/",
        "auction": f"/auctions/{auction.pk}/", "addresses": "/addresses/",
        "address-add": "/addresses/add/", "tea-confirm": f"/mall/{tea.pk}/redeem/",
        "pay": f"/pay/sandbox/{awaiting.payment.reference}/",
        **({"lottery": f"/lottery/{lottery.pk}/"} if lottery else {}),
    }


def _log_in(driver, base, member):
    from django.test import Client

    client = Client()
    client.force_login(member)
    driver.get(f"{base}/healthz/")
    driver.add_cookie({"name": settings.SESSION_COOKIE_NAME,
                       "value": client.cookies[settings.SESSION_COOKIE_NAME].value})


def test_every_page_at_both_sizes_in_both_languages(browser, live_server):  # noqa: F811
    member, pages = _world()
    driver, base = browser, live_server.url
    GALLERY.mkdir(parents=True, exist_ok=True)
    anonymous = {"login": "/accounts/login/", "register": "/accounts/register/"}
    problems = []
    for language in ("zh-hans", "en"):
        for size in SIZES:
            _size(driver, size)
            driver.delete_all_cookies()
            driver.get(f"{base}/healthz/")
            driver.add_cookie({"name": settings.LANGUAGE_COOKIE_NAME, "value": language})
            for name, url in anonymous.items():
                problems += _visit(driver, base + url, language, size, name)
            _log_in(driver, base, member)
            for name, url in pages.items():
                problems += _visit(driver, base + url, language, size, name)
    assert not problems, problems


def _visit(driver, url, language, size, name) -> list[str]:
    driver.get(url)
    path = GALLERY / f"{language}-{size}-{name}.png"
    driver.save_screenshot(str(path))
    problems = []
    if driver.find_element("css selector", "html").get_attribute("lang") != language:
        problems.append(f"{name}: not in {language}")
    if driver.find_elements("css selector", ".page-error, #summary"):  # our 500/404 or Django's
        problems.append(f"{name}: an error page")
    if size == "phone":
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 1:
            problems.append(f"{name} ({language}): {overflow}px wider than the phone")
    if path.stat().st_size < 5_000:
        problems.append(f"{name}: blank screenshot")
    return problems
