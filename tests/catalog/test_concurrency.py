"""Real threads on real PostgreSQL: redemptions never oversell, never overspend, never give a code
twice, and one key makes one redemption."""

import pytest

from catalog import services
from catalog.errors import OutOfStock
from catalog.models import CouponCode, ProductKind, Redemption, StockMovement
from points.errors import InsufficientPoints
from points.models import Entry, Refusal
from tests.catalog.helpers import fund, make_product, stock
from tests.factories import MemberFactory, StaffFactory
from tests.points.ledger import totals
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)



def split(results):
    done = [r for r in results if isinstance(r, Redemption)]
    errors = [r for r in results if not isinstance(r, Redemption)]
    return done, errors


def test_fifty_members_racing_for_ten_units_get_exactly_ten(ledger_invariants):
    members = [MemberFactory(established=True) for _ in range(50)]
    for member in members:
        fund(member, 100)
    product = make_product(points_price=40, stock=10)

    results = run_together(50, lambda i: services.redeem(members[i], product, key=f"r{i}"))

    done, errors = split(results)
    assert len(done) == 10, errors
    assert len(errors) == 40 and all(isinstance(e, OutOfStock) for e in errors), errors
    assert stock(product) == (0, 10)
    assert Redemption.objects.count() == 10
    # Every unit has its movement; the stock after each went 9, 8, ..., 0, never below.
    after = sorted(StockMovement.objects.filter(redemption__isnull=False)
                   .values_list("stock_after", flat=True))
    assert after == list(range(10))
    winners = {r.member_id for r in done}
    assert len(winners) == 10
    for member in members:
        expected = 60 if member.pk in winners else 100
        assert totals(member)["available"] == expected
    assert Entry.objects.filter(kind="spend").count() == 10
    assert Refusal.objects.count() == 0
    assert ledger_invariants() == []


def test_one_member_racing_ten_redemptions_against_a_balance_for_three(ledger_invariants):
    member = MemberFactory(established=True)
    fund(member, 35)
    product = make_product(points_price=10, stock=100)

    results = run_together(10, lambda i: services.redeem(member, product, key=f"r{i}"))

    done, errors = split(results)
    assert len(done) == 3, errors
    assert len(errors) == 7 and all(isinstance(e, InsufficientPoints) for e in errors), errors
    assert totals(member)["available"] == 5
    assert totals(member)["lifetime_spent"] == 30
    assert stock(product) == (97, 3)
    assert Redemption.objects.count() == 3
    assert StockMovement.objects.filter(redemption__isnull=False).count() == 3
    assert Refusal.objects.count() == 0  # refused redemptions write nothing
    assert ledger_invariants() == []


def test_twenty_members_racing_for_five_codes_get_five_distinct_codes(ledger_invariants):
    members = [MemberFactory(established=True) for _ in range(20)]
    for member in members:
        fund(member, 100)
    product = make_product(kind=ProductKind.COUPON, points_price=50,
                           codes=[f"CODE-{n}" for n in range(5)])
    assert stock(product) == (5, 0)

    results = run_together(20, lambda i: services.redeem(members[i], product, key=f"r{i}"))

    done, errors = split(results)
    assert len(done) == 5, errors
    assert len(errors) == 15 and all(isinstance(e, OutOfStock) for e in errors), errors
    assert stock(product) == (0, 5)
    assigned = list(CouponCode.objects.values_list("code", "redemption_id"))
    assert sorted(code for code, _ in assigned) == [f"CODE-{n}" for n in range(5)]
    assert sorted(rid for _, rid in assigned) == sorted(r.pk for r in done)  # one code each
    assert Redemption.objects.filter(status="fulfilled").count() == 5
    assert ledger_invariants() == []


def test_ten_threads_with_the_same_key_make_one_redemption(ledger_invariants):
    member = MemberFactory(established=True)
    fund(member, 1000)
    product = make_product(points_price=100, stock=5)

    results = run_together(10, lambda i: services.redeem(member, product, 2, key="same"))

    done, errors = split(results)
    assert errors == []
    assert len({r.pk for r in done}) == 1
    assert Redemption.objects.get().pk == done[0].pk
    assert Entry.objects.filter(kind="spend").count() == 1
    assert totals(member)["available"] == 800
    assert stock(product) == (3, 2)
    assert ledger_invariants() == []


def test_cancel_and_fulfil_racing_resolve_a_redemption_once(ledger_invariants):
    member = MemberFactory(established=True)
    fund(member, 1000)
    product = make_product(points_price=100, stock=5)
    redemption = services.redeem(member, product, key="r1")
    staff = StaffFactory()

    def call(i):
        if i % 2:
            return services.cancel(redemption, reason="customer asked", staff=staff)
        return services.fulfil(redemption, staff=staff, tracking_number="SF1")

    results = run_together(10, call)

    final = Redemption.objects.get()
    if final.status == "cancelled":
        assert totals(member)["available"] == 1000
        assert stock(product) == (5, 0)
        assert Entry.objects.filter(kind="reverse").count() == 1
        assert all(isinstance(r, Redemption) or r.code == "invalid_transition" for r in results)
    else:
        assert final.status == "fulfilled"
        assert totals(member)["available"] == 900
        assert stock(product) == (4, 1)
        assert Entry.objects.filter(kind="reverse").count() == 0
    assert ledger_invariants() == []


def test_redemptions_adjustments_and_cancels_together_never_deadlock(ledger_invariants):
    members = [MemberFactory(established=True) for _ in range(6)]
    for member in members:
        fund(member, 1000)
    products = [make_product(name=f"P{n}", points_price=10, stock=50) for n in range(2)]
    staff = StaffFactory()
    early = [services.redeem(members[i], products[i % 2], key=f"early{i}") for i in range(6)]

    def call(i):
        kind = i % 4
        if kind == 0:
            return services.redeem(members[i % 6], products[i % 2], key=f"r{i}")
        if kind == 1:
            return services.adjust_stock(products[i % 2], 1, reason="delivery", staff=staff)
        if kind == 2:
            return services.cancel(early[i // 4], reason="asked", staff=staff)
        return services.redeem(members[(i + 1) % 6], products[(i + 1) % 2], key=f"s{i}")

    results = run_together(24, call)

    assert [r for r in results if isinstance(r, Exception)] == []
    for product in products:
        current, sold = stock(product)
        moved = StockMovement.objects.filter(product=product).values_list("delta", flat=True)
        assert current == sum(moved)
        assert sold == Redemption.objects.filter(product=product).exclude(status="cancelled").count()
    assert Redemption.objects.filter(status="cancelled").count() == 6
    assert ledger_invariants() == []
