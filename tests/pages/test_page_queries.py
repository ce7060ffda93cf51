"""The statements the pages of the load test send (``make load``, bench/README.md): bounded, and
the same with three times the products, recommendations and history (no query per row)."""

from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import services
from catalog.recommendations import compute_neighbours
from mall.selectors import tier_progress
from points import services as ledger
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
_keys = count(1)

# The most statements each page may send, its caches warm (second visit): session, member,
# balance, welcome offer, unread messages and what the page itself shows.
BOUNDS = {"/": 15, "/points/": 10, "/mall/": 7, "product": 7}


def grow(member, products: int):
    """``products`` more products, each redeemed with the first by another member (so they are
    neighbours and recommendations), and more history for ``member``."""
    made = [make_product(name=f"Tea {next(_keys)}", points_price=10, stock=50) for _ in range(products)]
    buyer = MemberFactory(established=True)
    fund(buyer, 10_000, key=f"buyer:{buyer.pk}")
    for item in made:
        services.redeem(buyer, item, key=f"q-{next(_keys)}", address="1 Tea Street")
    for _ in range(products):
        fund(member, 100, key=f"history:{next(_keys)}")
    compute_neighbours()
    return made


def statements(client, path) -> int:
    client.get(path)  # the caches warm
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_the_load_tests_pages_send_few_statements_whatever_the_data(member_client, member, refresh_catalog):
    first = grow(member, 3)[0]
    services.redeem(member, first, key="mine", address="1 Tea Street")
    ledger.reverse(fund(member, 500, key="refunded"), 200, key="refund", reason="refund")
    paths = {"/": "/", "/points/": "/points/", "/mall/": "/mall/", "product": f"/mall/{first.pk}/"}
    before = {name: statements(member_client, path) for name, path in paths.items()}
    grow(member, 6)
    refresh_catalog()
    after = {name: statements(member_client, path) for name, path in paths.items()}
    assert after == before
    assert all(after[name] <= bound for name, bound in BOUNDS.items()), after


def test_the_tier_card_reads_the_window_in_one_statement(member, django_assert_max_num_queries):
    fund(member, 1500)
    ledger.reverse(fund(member, 700, key="back"), 500, key="refund", reason="refund")
    tier_progress(member)  # the catalog's count of tier-only products is cached from here on
    # The tier table, the window's length, what was earned in it less reversals.
    with django_assert_max_num_queries(3):
        progress = tier_progress(member)
    assert progress.points_to_next == 2000 - 1700
