"""The home page's "为你推荐" and a product page's "兑换了这个的人还兑换了" in headless Chromium
at phone size (390×844), in Simplified Chinese and English, saved under
``var/screenshots/pages/`` (``{language}-phone-recommended-{page}.png``) for a person to look at.
Each must show its cards, without a horizontal scroll bar.

Skipped with a message on a machine without the browser."""

import pytest
from django.conf import settings

from tests.pages.test_e2e import (
    CHROMEDRIVER,
    CHROMIUM,
    INSTALL_HINT,
    SCREENSHOTS,
    _size,
    browser,  # noqa: F401 (the fixture)
)
from tests.pages.test_screenshots import _log_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=INSTALL_HINT),
]


def _world():
    from catalog.models import Category, ProductKind
    from catalog.recommendations import compute_neighbours
    from tests.catalog.test_recommendations import member, product, redeem

    fruit = Category.objects.create(name="水果", sort_order=1)
    names = ["烟台苹果礼盒", "进口车厘子 2 kg 顺丰冷链到家", "海南芒果", "赣南脐橙", "智利蓝莓"]
    fruits = [product(name, category=fruit, points_price=1500 * (i + 1), stock=8)
              for i, name in enumerate(names)]
    card = product("包邮月卡", kind=ProductKind.PRIVILEGE, points_price=800, stock=100)
    someone = member(points=5_000, nickname="小明")
    redeem(someone, fruits[0])
    for i in range(4):
        redeem(member(), fruits[0], *fruits[1:2 + i], card)
    compute_neighbours()
    return someone, {"home": "/", "product": f"/mall/{fruits[0].pk}/"}


def test_recommendations_on_a_phone(browser, live_server):  # noqa: F811
    member, pages = _world()
    driver, base = browser, live_server.url
    gallery = SCREENSHOTS / "pages"
    gallery.mkdir(parents=True, exist_ok=True)
    _size(driver, "phone")
    problems = []
    for language in ("zh-hans", "en"):
        driver.delete_all_cookies()
        driver.get(f"{base}/healthz/")
        driver.add_cookie({"name": settings.LANGUAGE_COOKIE_NAME, "value": language})
        _log_in(driver, base, member)
        for name, url in pages.items():
            driver.get(base + url)
            testid = "for-you" if name == "home" else "related"
            section = driver.find_element("css selector", f'[data-testid="{testid}"]')
            driver.execute_script("arguments[0].scrollIntoView(); window.scrollBy(0, -80)", section)
            driver.save_screenshot(str(gallery / f"{language}-phone-recommended-{name}.png"))
            cards = section.find_elements("css selector", ".product-card")
            if len(cards) != 4:
                problems.append(f"{name} ({language}): {len(cards)} cards")
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            if overflow > 1:
                problems.append(f"{name} ({language}): {overflow}px wider than the phone")
    assert not problems, problems
