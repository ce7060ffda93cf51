"""Every page rendered in Simplified Chinese (the default) is in Chinese: no English string that
has a Chinese translation (ours, Django's or a library's) shows in its text, and Django's own
messages (password rules, form errors) come out in Chinese too."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import translation

from catalog import services as catalog_services
from catalog.models import ProductKind
from catalog.services.addresses import add_address
from points.services import earning
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

PLACEHOLDER = re.compile(r"%\([a-z_]+\)[-+ #0]*\d*(?:\.\d+)?[sdf]|%[sd]|\{[a-z_]*\}")
TAGS = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]+>", re.S)
# Words that are the same in both languages on our pages or that a page shows on purpose in
# English (the language switcher names each language in its own language).
SAME_IN_BOTH = {"English", "ID", "OK", "API", "URL", "Email", "SKU"}


def _english_phrases() -> list[re.Pattern]:
    """The English side of every message the zh-hans catalogs translate (ours and those of Django
    and the libraries, merged as Django loads them), as patterns with their placeholders open.
    Only phrases of two words or more: a single word ("Date", "Name") also turns up inside
    product names and codes on a Chinese page."""
    catalog = translation.trans_real.translation("zh-hans")._catalog
    patterns = {}
    for key in catalog.keys():
        msgid = key[0] if isinstance(key, tuple) else key
        if not msgid or msgid in SAME_IN_BOTH or "\n" in msgid or " " not in msgid.strip():
            continue
        translated = catalog[key]
        if (not isinstance(translated, str) or translated == msgid
                or not re.search(r"[\u4e00-\u9fff]", translated)):
            continue
        literal = [re.escape(part) for part in PLACEHOLDER.split(msgid)]
        if max(len(part) for part in PLACEHOLDER.split(msgid)) < 8:
            continue  # nothing distinctive left once the placeholders are open
        patterns[msgid] = re.compile(r".{1,40}?".join(literal))
    return list(patterns.values())


def _visible_text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", TAGS.sub(" ", response.content.decode())))


def _english_on(response, phrases) -> list[str]:
    text = _visible_text(response)
    return sorted({match.group() for pattern in phrases for match in [pattern.search(text)] if match})


@pytest.fixture
def world():
    member = MemberFactory(established=True, nickname="小明")
    fund(member, 5000)
    earning.check_in(member)
    coupon = make_product(name="咖啡券", points_price=300, kind=ProductKind.COUPON,
                          codes=["ZH-CODE-1"])
    make_product(name="保温杯", points_price=100000)
    tea = make_product(name="龙井茶券", points_price=300, cash_price=Decimal("9.90"),
                       kind=ProductKind.COUPON, codes=["ZH-TEA-1"])
    catalog_services.redeem(member, coupon, key="zh-redeem-1")
    catalog_services.redeem(member, tea, key="zh-redeem-tea")  # waits for its cash part
    add_address(member, recipient="小明", phone="13900001111", region="上海市", detail="南京路 1 号")
    return member


def _member_pages(member) -> list[str]:
    from catalog.models import Lottery, Payment, Product, Redemption

    product = Product.objects.filter(name="咖啡券").get()
    redemption = Redemption.objects.filter(member=member).first()
    lottery = Lottery.objects.filter(active=True).first()
    payment = Payment.objects.filter(redemption__member=member).get()
    return ["/", "/points/", "/mall/", f"/mall/{product.pk}/", f"/mall/{product.pk}/redeem/",
            "/addresses/", "/addresses/add/", f"/pay/sandbox/{payment.reference}/",
            f"/redemptions/{payment.redemption_id}/",
            "/redemptions/", f"/redemptions/{redemption.pk}/", "/invite/", "/team/", "/badges/",
            "/coupons/", "/messages/", "/accounts/profile/", "/auctions/",
            *([f"/lottery/{lottery.pk}/"] if lottery else [])]


def test_member_pages_in_chinese_show_no_translatable_english(world):
    phrases = _english_phrases()
    client = Client()  # no Accept-Language: the site's default, zh-hans
    client.force_login(world)
    found = {}
    for url in _member_pages(world):
        response = client.get(url)
        assert response.status_code == 200, url
        if english := _english_on(response, phrases):
            found[url] = english
    assert not found, found


def test_sign_in_pages_and_their_errors_are_in_chinese():
    phrases = _english_phrases()
    client = Client()
    found = {}
    for url in ("/accounts/login/", "/accounts/register/", "/mall/"):
        if english := _english_on(client.get(url), phrases):
            found[url] = english
    weak = client.post("/accounts/register/", {"username": "zhtest", "password": "123",
                                               "password2": "123"})
    assert "密码" in _visible_text(weak)
    assert "too short" not in _visible_text(weak), "Django's password rules in Chinese"
    if english := _english_on(weak, phrases):
        found["register (weak password)"] = english
    wrong = client.post("/accounts/login/", {"username": "nobody", "password": "wrong-password"})
    if english := _english_on(wrong, phrases):
        found["login (wrong password)"] = english
    assert not found, found


def test_admin_pages_in_chinese_show_no_translatable_english(world):
    staff = StaffFactory(is_superuser=True)
    client = Client()
    client.force_login(staff)
    phrases = _english_phrases()
    found = {}
    for url in ("/admin/", "/admin/catalog/product/", "/admin/catalog/product/add/",
                "/admin/catalog/redemption/", "/admin/mall/member/", "/admin/points/entry/",
                f"/admin/mall/member/{world.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200, url
        if english := _english_on(response, phrases):
            found[url] = english
    assert not found, found
