"""The UI ships in Simplified Chinese (the default) and English: the compiled catalog covers what the
system stores in rows and the model choices, and the admin follows the visitor's language."""

import ast
import gettext as gettext_module
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext, ngettext, override

from catalog.models import AuctionStatus, BidStatus, PrizeKind, ProductKind, RedemptionStatus
from mall.models import BadgeMetric, BadgePeriod, MessageKind, TaskBehaviour, TaskPeriod, TierChange
from points.models import EntryKind, HoldStatus
from referrals.models import Outcome, PlanStatus, RewardKind, RewardPlanEvent, Rotation
from rules.models import RuleSetEvent, RuleSetStatus
from tests.factories import MemberFactory

ROOT = Path(__file__).resolve().parents[2]
MO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[-+ #0]*\d*(?:\.\d+)?[sdf]|%%")


def compiled_catalog() -> dict:
    """The committed .mo as msgfmt wrote it: untranslated and fuzzy entries are not in it."""
    with MO.open("rb") as fp:
        return gettext_module.GNUTranslations(fp)._catalog


def literals(path: str, *functions: str) -> list[str]:
    """String literals passed as first argument to the named functions in one module."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return sorted({
        node.args[0].value for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions
        and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
    })


# Reasons the system writes into ledger and stock rows (in the default language, shown to members),
# and the explanation lines of earnings: every such literal in the code, so a new one is caught too.
STORED = sorted(
    {msgid for path in sorted((ROOT / "points" / "services").glob("*.py"))
     for msgid in literals(str(path.relative_to(ROOT)), "gettext_noop")}
    | {text for module in (ROOT / "catalog" / "services").glob("*.py")
       for text in literals(module.relative_to(ROOT), "gettext_noop")}
    | set(literals("rules/evaluator.py", "gettext_noop"))
    | set(literals("referrals/services/orders.py", "gettext_noop"))
    | set(literals("mall/views.py", "gettext_noop"))
    | set(literals("mall/jobs.py", "gettext_noop"))
    | set(literals("mall/services/play.py", "gettext_noop"))
)
# Tiers are rows of the rule set with their own Chinese and English names (tests/tiers).
CHOICES = [EntryKind, HoldStatus, MessageKind, TierChange.Reason, ProductKind, RedemptionStatus,
           AuctionStatus, BidStatus, PrizeKind, TaskBehaviour, TaskPeriod, BadgeMetric, BadgePeriod,
           RuleSetStatus, RuleSetEvent.Action,
           RewardKind, Outcome, PlanStatus, Rotation, RewardPlanEvent.Action]


def test_the_stored_texts_were_found():
    for msgid in ("%(points)s points became available", "%(points)s points expired",
                  "%(points)s points reserved", "Points for order %(order_id)s",
                  "Refund of order %(order_id)s", "Redemption #%(id)s", "%(kind)s, order %(order)s"):
        assert msgid in STORED


@pytest.mark.parametrize("msgid", STORED)
def test_every_stored_text_is_translated_and_keeps_its_placeholders(msgid):
    catalog = compiled_catalog()
    assert catalog.get(msgid), f"untranslated or fuzzy in {MO.relative_to(ROOT)}: {msgid!r}"
    assert sorted(PLACEHOLDER.findall(catalog[msgid])) == sorted(PLACEHOLDER.findall(msgid))


@pytest.mark.parametrize("choices", CHOICES, ids=lambda c: c.__qualname__)
def test_every_model_choice_is_translated(choices):
    catalog = compiled_catalog()
    for _value, label in choices.choices:
        with override("en"):
            english = str(label)
        assert catalog.get(english), f"untranslated or fuzzy: {choices.__qualname__} {english!r}"
        with override(settings.LANGUAGE_CODE):
            assert CJK.search(str(label)), (english, str(label))


@pytest.mark.parametrize(("english", "params", "chinese"), [
    ("%(points)s points became available", {"points": 100}, "100 积分已到账"),
    ("%(points)s points expired", {"points": 70}, "70 积分已过期"),
    ("%(points)s points reserved", {"points": 30}, "30 积分使用中"),
    ("%(points)s reserved points released", {"points": 30}, "30 积分已退回"),
    ("Points for order %(order_id)s", {"order_id": "o-1"}, "订单 o-1 消费积分"),
    ("Redemption #%(id)s cancelled", {"id": 7}, "兑换单 #7 已取消"),
])
def test_stored_reasons_read_as_chinese_in_the_default_language(english, params, chinese):
    with override(settings.LANGUAGE_CODE):
        assert gettext(english) % params == chinese
    with override("en"):
        assert gettext(english) % params == english % params


def test_choices_and_plurals_in_chinese():
    assert settings.LANGUAGE_CODE == "zh-hans"
    with override("zh-hans"):
        assert [str(label) for _v, label in EntryKind.choices] == [
            "获得", "消费", "冻结", "扣减", "解冻", "过期", "冲正", "人工调整", "生效", "注销清零"]
        assert [str(label) for _v, label in RuleSetStatus.choices] == ["草稿", "灰度发布", "已发布", "已停用"]
        # One plural form in Chinese.
        for n in (1, 2):
            assert ngettext("%(points)s point", "%(points)s points", n) % {"points": n} == f"{n} 积分"


# --------------------------------------------------------------------------- the admin's language


@pytest.fixture
def admin_client(client, db):
    client.force_login(MemberFactory(username="root", is_staff=True, is_superuser=True))
    return client


# The console opens on its dashboard, in unfold's frame with the sidebar grouped by job.
CHINESE_INDEX = ("数据看板", "运营后台", "积分规则")
ENGLISH_INDEX = ("Dashboards", "Staff console", "Points rules")


def assert_index_in(response, language, words):
    assert response.status_code == 200
    assert response.headers["Content-Language"] == language
    html = response.content.decode()
    assert f'lang="{language}"' in html
    for word in words:
        assert word in html, word


def test_admin_index_is_chinese_by_default(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert_index_in(response, "zh-hans", CHINESE_INDEX)
    assert "Staff console" not in response.content.decode()


def test_admin_index_follows_accept_language(admin_client):
    assert_index_in(admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en"), "en", ENGLISH_INDEX)
    assert_index_in(admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9"),
                    "zh-hans", CHINESE_INDEX)


def test_admin_index_follows_the_language_cookie(admin_client):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert_index_in(admin_client.get(reverse("admin:index")), "en", ENGLISH_INDEX)
    # The cookie wins over the browser's header.
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert_index_in(admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en"),
                    "zh-hans", CHINESE_INDEX)


def test_setlang_switches_the_language(admin_client):
    index = reverse("admin:index")
    response = admin_client.post(reverse("set_language"), {"language": "en", "next": index})
    assert response.status_code == 302
    assert response.headers["Location"] == index
    assert admin_client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert_index_in(admin_client.get(index), "en", ENGLISH_INDEX)

    admin_client.post(reverse("set_language"), {"language": "zh-hans", "next": index})
    assert_index_in(admin_client.get(index, HTTP_ACCEPT_LANGUAGE="en"), "zh-hans", CHINESE_INDEX)


def test_chinese_translations_use_full_width_punctuation():
    """，：？（）in Chinese sentences (``manage.py full_width_po`` fixes the catalog)."""
    from common.text import full_width

    half_width = {msgid: text for msgid, text in compiled_catalog().items()
                  if isinstance(text, str) and full_width(text) != text}
    assert not half_width, list(half_width.items())[:10]
