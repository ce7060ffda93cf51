"""catalog.selectors: what the list and detail show, served from the two-level cache, invalidated
after commit, and still answering when Redis is down."""

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache as django_cache
from django.test import override_settings
from django.utils import timezone

from catalog import cache, selectors, services
from catalog.errors import InvalidArgument
from catalog.models import Category, Product, ProductKind
from tests.catalog.helpers import fund, make_product

pytestmark = pytest.mark.django_db

# A port nothing listens on: every Redis call fails at once with "connection refused".
DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


@pytest.fixture(autouse=True)
def fresh_cache():
    django_cache.clear()
    cache.reset()
    yield
    cache.reset()
    django_cache.clear()


def names(page) -> list[str]:
    return [row["name"] for row in page["results"]]


# --------------------------------------------------------------------------- what is shown


def test_list_shows_active_products_on_sale_as_plain_dicts():
    now = timezone.now()
    drinks = Category.objects.create(name="Drinks")
    shown = make_product(name="Tea", points_price=120, cash_price=Decimal("5.50"), stock=7,
                         category=drinks, description="Green", per_member_limit=2,
                         visible_tiers=["silver", "gold"], sale_ends_at=now + timedelta(days=3))
    make_product(name="Hidden", active=False)
    make_product(name="Later", sale_starts_at=now + timedelta(days=1))
    make_product(name="Over", sale_ends_at=now - timedelta(days=1))
    make_product(name="In a closed category", category=Category.objects.create(name="Old", active=False))

    page = selectors.product_list()

    assert (page["count"], page["page"], page["page_size"], page["num_pages"]) == (1, 1, 20, 1)
    assert page["results"] == [{
        "id": shown.pk, "name": "Tea", "kind": "physical",
        "category": {"id": drinks.pk, "name": "Drinks", "parent_id": None},
        "points_price": 120, "cash_price": "5.50", "stock": 7, "sold": 0, "in_stock": True,
        "image": None, "cover": None, "images": [], "description": "Green", "per_member_limit": 2,
        "visible_tiers": ["silver", "gold"], "sale_starts_at": None,
        "sale_ends_at": timezone.localtime(shown.sale_ends_at).isoformat(), "sort_order": 0,
    }]
    json.dumps(page)  # JSON-able as it is
    assert selectors.product_detail(shown.pk) == page["results"][0]


def test_list_filters_orders_and_pages():
    food = Category.objects.create(name="Food")
    fruit = Category.objects.create(name="Fruit", parent=food)
    other = Category.objects.create(name="Other")
    make_product(name="Apple", points_price=50, category=fruit, sort_order=2)
    make_product(name="Bread", points_price=300, category=food, sort_order=1, description="fresh apple loaf")
    make_product(name="Cup", points_price=120, category=other, sort_order=3, visible_tiers=["gold"])
    make_product(name="Dates", points_price=80, category=fruit, sort_order=4)

    assert names(selectors.product_list()) == ["Bread", "Apple", "Cup", "Dates"]
    assert names(selectors.product_list(category=food.pk)) == ["Bread", "Apple", "Dates"]
    assert names(selectors.product_list(category=fruit)) == ["Apple", "Dates"]
    assert names(selectors.product_list(search="APPLE")) == ["Bread", "Apple"]
    assert names(selectors.product_list(min_points=80, max_points=120)) == ["Cup", "Dates"]
    assert names(selectors.product_list(ordering="points")) == ["Apple", "Dates", "Cup", "Bread"]
    assert names(selectors.product_list(ordering="-points")) == ["Bread", "Cup", "Dates", "Apple"]
    assert names(selectors.product_list(tier="normal")) == ["Bread", "Apple", "Dates"]
    assert names(selectors.product_list(tier="gold")) == ["Bread", "Apple", "Cup", "Dates"]
    second = selectors.product_list(page=2, page_size=3)
    assert (names(second), second["count"], second["num_pages"]) == (["Dates"], 4, 2)
    assert selectors.product_list(page=9, page_size=3)["results"] == []


@pytest.mark.parametrize("kwargs", [
    {"ordering": "random"}, {"page": 0}, {"page": "x"}, {"page_size": 101}, {"min_points": -1},
    {"max_points": "many"}, {"category": "drinks"},
])
def test_list_refuses_malformed_filters(kwargs):
    with pytest.raises(InvalidArgument):
        selectors.product_list(**kwargs)


def test_detail_of_a_missing_or_hidden_product_is_none():
    hidden = make_product(active=False)
    later = make_product(sale_starts_at=timezone.now() + timedelta(days=1))
    assert selectors.product_detail(hidden.pk) is None
    assert selectors.product_detail(later.pk) is None
    assert selectors.product_detail(10**12) is None
    for garbage in ("abc", None, -1, 0, 2**70, True):
        assert selectors.product_detail(garbage) is None


# --------------------------------------------------------------------------- cached


def test_second_list_read_hits_no_query(django_assert_num_queries):
    make_product(name="Tea")
    first = selectors.product_list(search="tea")

    with django_assert_num_queries(0):
        assert selectors.product_list(search="tea") == first
    cache.clear_local()  # another process: the shared level answers
    with django_assert_num_queries(0):
        assert selectors.product_list(search="tea") == first


def test_second_detail_read_hits_no_query(django_assert_num_queries):
    product = make_product(name="Tea")
    first = selectors.product_detail(product.pk)

    with django_assert_num_queries(0):
        assert selectors.product_detail(product.pk) == first
        assert selectors.product_detail(str(product.pk)) == first
    cache.clear_local()
    with django_assert_num_queries(0):
        assert selectors.product_detail(product.pk) == first


def test_not_found_is_cached_too(django_assert_num_queries):
    assert selectors.product_detail(987654321) is None
    with django_assert_num_queries(0):
        assert selectors.product_detail(987654321) is None
    cache.clear_local()
    with django_assert_num_queries(0):
        assert selectors.product_detail(987654321) is None
    with django_assert_num_queries(0):
        assert selectors.product_detail("garbage") is None


def test_callers_cannot_corrupt_the_cache():
    make_product(name="Tea")
    page = selectors.product_list()
    page["results"][0]["name"] = "changed"
    page["results"].clear()
    assert names(selectors.product_list()) == ["Tea"]


def test_save_product_invalidates_after_commit(django_capture_on_commit_callbacks, staff):
    product = make_product(name="Tea", points_price=100)
    assert names(selectors.product_list()) == ["Tea"]
    assert selectors.product_detail(product.pk)["points_price"] == 100

    product.name, product.points_price = "Green tea", 90
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.save_product(product, staff=staff)
    # Not before the commit: the cache still shows the old row.
    assert names(selectors.product_list()) == ["Tea"]
    for callback in callbacks:
        callback()

    assert names(selectors.product_list()) == ["Green tea"]
    assert selectors.product_detail(product.pk)["points_price"] == 90


def test_other_processes_see_a_change_once_their_local_copy_expires(monkeypatch):
    product = make_product(name="Tea")
    assert names(selectors.product_list()) == ["Tea"]
    Product.objects.filter(pk=product.pk).update(name="Green tea")
    # Another process saved and bumped the version: this process's local copy lags...
    django_cache.set(cache.VERSION_KEY, "from-another-process", timeout=None)
    assert names(selectors.product_list()) == ["Tea"]
    # ...until it expires (LOCAL_TTL seconds), then the shared level has nothing for the new version.
    cache.clear_local()
    assert names(selectors.product_list()) == ["Green tea"]


def test_a_redemption_invalidates_the_stock_shown(member, django_capture_on_commit_callbacks,
                                                  ledger_invariants):
    fund(member, 1000)
    product = make_product(name="Tea", stock=3)
    assert selectors.product_detail(product.pk)["stock"] == 3
    assert selectors.product_list()["results"][0]["stock"] == 3

    with django_capture_on_commit_callbacks(execute=True):
        services.redeem(member, product, 2, key="r1")

    assert selectors.product_detail(product.pk)["stock"] == 1
    assert selectors.product_list()["results"][0]["sold"] == 2
    assert ledger_invariants() == []


@pytest.mark.parametrize("change", ["adjust", "import", "cancel"])
def test_every_stock_change_invalidates(member, staff, change, django_capture_on_commit_callbacks,
                                        ledger_invariants):
    fund(member, 1000)
    if change == "import":
        product = make_product(kind=ProductKind.COUPON, codes=["A"])
    else:
        product = make_product(stock=3)
    redemption = services.redeem(member, product, key="r1") if change == "cancel" else None
    before = selectors.product_detail(product.pk)["stock"]

    with django_capture_on_commit_callbacks(execute=True):
        if change == "adjust":
            services.adjust_stock(product, 4, reason="delivery", staff=staff)
        elif change == "import":
            services.import_coupon_codes(product, ["B", "C"], staff=staff)
        else:
            services.cancel(redemption, reason="asked", staff=staff)

    assert selectors.product_detail(product.pk)["stock"] == before + {"adjust": 4, "import": 2,
                                                                      "cancel": 1}[change]
    assert ledger_invariants() == []


def test_a_new_product_replaces_a_cached_not_found(django_capture_on_commit_callbacks):
    assert selectors.product_list(search="mug")["count"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        services.save_product(Product(name="Mug", points_price=10, stock=1))
    assert names(selectors.product_list(search="mug")) == ["Mug"]


def test_entries_expire_when_a_sale_window_opens():
    make_product(name="Soon", sale_starts_at=timezone.now() + timedelta(seconds=1.5))
    assert names(selectors.product_list()) == []
    time.sleep(1.6)
    assert names(selectors.product_list()) == ["Soon"]


# --------------------------------------------------------------------------- Redis down


def test_redis_down_reads_fall_back_to_the_database(member, django_capture_on_commit_callbacks,
                                                    ledger_invariants):
    fund(member, 1000)
    product = make_product(name="Tea", stock=3)
    with override_settings(CACHES=DEAD_REDIS):
        cache.reset()
        assert names(selectors.product_list()) == ["Tea"]
        assert selectors.product_detail(product.pk)["stock"] == 3
        assert selectors.product_detail(10**9) is None
        with django_capture_on_commit_callbacks(execute=True):
            services.redeem(member, product, key="r1")  # the invalidation cannot reach Redis
        assert selectors.product_detail(product.pk)["stock"] == 2
        cache.clear_local()
        assert selectors.product_list()["results"][0]["stock"] == 2
    assert ledger_invariants() == []


def test_redis_down_without_ignore_exceptions_still_answers():
    product = make_product(name="Tea")
    dead = {"default": {**DEAD_REDIS["default"], "OPTIONS": {"IGNORE_EXCEPTIONS": False,
                                                             "SOCKET_CONNECT_TIMEOUT": 0.2}}}
    with override_settings(CACHES=dead, DJANGO_REDIS_IGNORE_EXCEPTIONS=False):
        cache.reset()
        with pytest.raises(Exception):  # noqa: B017 - the raw backend does raise
            django_cache.get("anything")
        assert names(selectors.product_list()) == ["Tea"]
        cache.clear_local()
        assert selectors.product_detail(product.pk)["name"] == "Tea"
        cache.invalidate()  # no error either


def test_a_failing_cache_is_skipped_for_a_moment_then_tried_again(monkeypatch):
    make_product(name="Tea")

    class Failing:
        calls = 0

        def __getattr__(self, name):
            def fail(*args, **kwargs):
                Failing.calls += 1
                raise ConnectionError("Redis is down")
            return fail

    monkeypatch.setattr(cache, "cache", Failing())
    assert names(selectors.product_list()) == ["Tea"]
    assert Failing.calls == 1  # the first failure opens the breaker: no further calls
    cache.clear_local()
    assert names(selectors.product_list()) == ["Tea"]
    assert Failing.calls == 1
    cache._state["down_until"] = time.monotonic() - 1  # DOWN_SECONDS later
    cache.clear_local()
    assert names(selectors.product_list()) == ["Tea"]
    assert Failing.calls == 2


def test_an_invalidation_missed_while_redis_was_down_is_made_when_it_returns(
        django_capture_on_commit_callbacks, staff):
    product = make_product(name="Tea")
    assert names(selectors.product_list()) == ["Tea"]  # cached under the current version
    old_version = django_cache.get(cache.VERSION_KEY)

    with override_settings(CACHES=DEAD_REDIS):
        cache.reset()
        product.name = "Green tea"
        with django_capture_on_commit_callbacks(execute=True):
            services.save_product(product, staff=staff)
        assert cache._state["bump_pending"] is True

    # Redis is back (with its old entries); the breaker has reset.
    cache._state["down_until"] = 0.0
    assert names(selectors.product_list()) == ["Green tea"]
    assert django_cache.get(cache.VERSION_KEY) != old_version
    assert cache._state["bump_pending"] is False
