"""catalog.services: redemption and its life cycle (stock, coupon pools and product saves are in
``test_stock.py``). One file for the one service module, ``catalog.services.redemption``: about
550 lines, its refusals and transitions share the fixtures at the top."""

from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

import pytest
from django.utils import timezone

from catalog import services
from catalog.errors import (
    CatalogError,
    CodesExhausted,
    InvalidArgument,
    InvalidQuantity,
    InvalidTransition,
    LimitReached,
    NotAvailable,
    OutOfStock,
)
from catalog.models import CouponCode, Product, ProductKind, Redemption, StockMovement
from points.errors import IdempotencyConflict, InsufficientPoints
from points.models import Entry
from tests.catalog.helpers import free_codes, fund, make_product, movements, snapshot, stock
from tests.factories import MemberFactory, StaffFactory
from tests.points.ledger import at, entries, lots, totals

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def test_stored_reasons_are_in_the_sites_default_language(member, settings, ledger_invariants):
    from django.utils import translation

    settings.LANGUAGE_CODE = "zh-hans"
    fund(member, 1000)
    product = make_product(name="Tea", points_price=100)
    redemption = services.redeem(member, product, 2, key="r1")  # the request is in English

    with translation.override("zh-hans"):
        expected = translation.gettext("Redeemed %(product)s × %(quantity)s") % {
            "product": "Tea", "quantity": 2}
    assert redemption.entry.reason == expected
    assert Entry.objects.get(pk=redemption.entry_id).reason == expected
    assert ledger_invariants() == []


# --------------------------------------------------------------------------- redeem


def test_redeem_physical_spends_points_and_takes_stock(member, ledger_invariants):
    fund(member, 1000)
    # Points only: a points + cash product waits for its payment (tests/catalog/test_payments.py).
    product = make_product(name="Tea", points_price=120, stock=5)

    redemption = services.redeem(member, product, 2, key="r1", address="1 Road, Shanghai")

    redemption.refresh_from_db()
    assert (redemption.key, redemption.member_id, redemption.product_id) == ("r1", member.pk, product.pk)
    assert (redemption.quantity, redemption.points, redemption.cash) == (2, 240, Decimal("0.00"))
    assert (redemption.status, redemption.address) == ("created", "1 Road, Shanghai")
    assert redemption.fulfilled_at is None
    spend = redemption.entry
    assert (spend.key, spend.kind, spend.delta, spend.balance_after) == ("redeem:r1", "spend", -240, 760)
    assert spend.reference == f"redemption:{redemption.pk}"
    assert spend.reason == "Redeemed Tea × 2"
    assert totals(member)["available"] == 760
    assert totals(member)["lifetime_spent"] == 240
    assert stock(product) == (3, 2)
    assert movements(product) == [(5, 5, None), (-2, 3, redemption.pk)]
    assert StockMovement.objects.filter(redemption=redemption).get().reason == f"Redemption #{redemption.pk}"
    assert ledger_invariants() == []


def test_redeem_takes_the_soonest_expiring_points_first(member, ledger_invariants):
    late = fund(member, 100, key="late", expires_at=timezone.now() + timedelta(days=300))
    soon = fund(member, 50, key="soon", expires_at=timezone.now() + timedelta(days=30))
    product = make_product(points_price=120)

    services.redeem(member, product, key="r1")

    assert lots(member) == [(100, 30), (50, 0)]
    assert (late.delta, soon.delta) == (100, 50)
    assert ledger_invariants() == []


def test_redeem_privilege_is_fulfilled_at_once(member, ledger_invariants):
    fund(member, 500)
    product = make_product(kind=ProductKind.PRIVILEGE, name="Free shipping", points_price=200, stock=3)

    redemption = services.redeem(member, product, key="r1")

    assert redemption.status == "fulfilled"
    assert redemption.fulfilled_at == redemption.created_at
    assert stock(product) == (2, 1)
    assert totals(member)["available"] == 300
    assert ledger_invariants() == []


def test_redeem_coupon_assigns_codes_from_the_pool(member, ledger_invariants):
    fund(member, 1000)
    product = make_product(kind=ProductKind.COUPON, points_price=100, codes=["A1", "A2", "A3"])
    assert stock(product) == (3, 0)

    redemption = services.redeem(member, product, 2, key="r1")

    assert redemption.status == "fulfilled"
    assigned = list(CouponCode.objects.filter(redemption=redemption).order_by("id")
                    .values_list("code", "assigned_at"))
    assert assigned == [("A1", redemption.created_at), ("A2", redemption.created_at)]
    assert free_codes(product) == ["A3"]
    assert stock(product) == (1, 2)
    assert totals(member)["available"] == 800

    other = MemberFactory()
    fund(other, 100)
    second = services.redeem(other, product, key="r2")
    assert list(second.codes.values_list("code", flat=True)) == ["A3"]
    assert free_codes(product) == []
    assert stock(product) == (0, 3)
    with pytest.raises(OutOfStock):
        services.redeem(other, product, key="r3")
    assert ledger_invariants() == []


def test_coupon_with_stock_but_no_free_code_is_refused_with_nothing_written(member, ledger_invariants):
    fund(member, 1000)
    product = make_product(kind=ProductKind.COUPON, codes=["A1", "A2"])
    CouponCode.objects.filter(code="A2").delete()  # the pool changed by hand: stock says 2, pool 1
    before = snapshot()

    with pytest.raises(CodesExhausted) as refused:
        services.redeem(member, product, 2, key="r1")

    assert refused.value.code == "out_of_stock"
    assert snapshot() == before
    assert ledger_invariants() == []


def test_same_key_returns_the_same_redemption_and_posts_once(member, ledger_invariants):
    fund(member, 1000)
    product = make_product(points_price=100, stock=5)

    first = services.redeem(member, product, 2, key="r1")
    again = services.redeem(member, product, 2, key="r1")

    assert again.pk == first.pk
    assert Redemption.objects.count() == 1
    assert Entry.objects.filter(kind="spend").count() == 1
    assert totals(member)["available"] == 800
    assert stock(product) == (3, 2)
    assert len(movements(product)) == 2
    assert ledger_invariants() == []


@pytest.mark.parametrize("change", ["quantity", "product", "member", "address"])
def test_same_key_with_other_arguments_is_a_conflict(member, change, ledger_invariants):
    fund(member, 1000)
    product = make_product(points_price=100, stock=5)
    services.redeem(member, product, 1, key="r1")
    other_member = MemberFactory()
    fund(other_member, 1000)
    args = {"member": member, "product": product, "quantity": 1, "address": ""}
    args[change] = {"quantity": 2, "product": make_product(name="Cup"), "member": other_member,
                    "address": "elsewhere"}[change]
    before = snapshot()

    with pytest.raises(IdempotencyConflict):
        services.redeem(args["member"], args["product"], args["quantity"], key="r1",
                        address=args["address"])

    assert snapshot() == before
    assert ledger_invariants() == []


def test_key_used_by_a_plain_spend_is_a_conflict(member, ledger_invariants):
    from points import services as ledger

    fund(member, 1000)
    ledger.spend(member, 10, key="redeem:r1", reason="elsewhere")
    product = make_product(points_price=100, stock=5)
    before = snapshot()

    with pytest.raises(IdempotencyConflict):
        services.redeem(member, product, key="r1")

    assert snapshot() == before
    assert ledger_invariants() == []


@pytest.mark.parametrize("fields,tier", [
    ({"active": False}, "normal"),
    ({"sale_starts_at": timezone.now() + timedelta(days=1)}, "normal"),
    ({"sale_ends_at": timezone.now() - timedelta(seconds=1)}, "normal"),
    ({"sale_starts_at": timezone.now() - timedelta(days=2),
      "sale_ends_at": timezone.now() - timedelta(days=1)}, "normal"),
    ({"visible_tiers": ["gold"]}, "normal"),
    ({"visible_tiers": ["silver", "gold"]}, "normal"),
])
def test_not_available_products_are_refused_with_nothing_written(fields, tier, ledger_invariants):
    member = MemberFactory(tier=tier)
    fund(member, 1000)
    product = make_product(**fields)
    before = snapshot()

    with pytest.raises(NotAvailable) as refused:
        services.redeem(member, product, key="r1")

    assert refused.value.code == "not_available"
    assert snapshot() == before
    assert ledger_invariants() == []


@pytest.mark.parametrize("fields,tier", [
    ({"visible_tiers": ["gold"]}, "gold"),
    ({"visible_tiers": []}, "normal"),
    ({"sale_starts_at": timezone.now() - timedelta(days=1),
      "sale_ends_at": timezone.now() + timedelta(days=1)}, "silver"),
])
def test_visible_and_on_sale_products_can_be_redeemed(fields, tier, ledger_invariants):
    member = MemberFactory(tier=tier)
    fund(member, 1000)
    product = make_product(**fields)

    services.redeem(member, product, key="r1")

    assert stock(product) == (9, 1)
    assert ledger_invariants() == []


def test_tier_is_read_from_the_database_not_the_callers_object(ledger_invariants):
    member = MemberFactory(tier="gold")
    fund(member, 1000)
    product = make_product(visible_tiers=["gold"])
    type(member).objects.filter(pk=member.pk).update(tier="normal")  # downgraded meanwhile

    with pytest.raises(NotAvailable):
        services.redeem(member, product, key="r1")


def test_out_of_stock_is_refused_with_nothing_written(member, ledger_invariants):
    fund(member, 1000)
    product = make_product(stock=2)
    before = snapshot()

    with pytest.raises(OutOfStock) as refused:
        services.redeem(member, product, 3, key="r1")
    assert refused.value.code == "out_of_stock"
    assert snapshot() == before

    services.redeem(member, product, 2, key="r2")
    with pytest.raises(OutOfStock):
        services.redeem(member, product, 1, key="r3")
    assert stock(product) == (0, 2)
    assert totals(member)["available"] == 800
    assert ledger_invariants() == []


def test_stale_product_object_does_not_fool_the_stock_check(member, ledger_invariants):
    fund(member, 1000)
    product = make_product(stock=1)
    Product.objects.filter(pk=product.pk).update(stock=0)  # sold out meanwhile; product.stock is 1

    with pytest.raises(OutOfStock):
        services.redeem(member, product, key="r1")
    assert totals(member)["available"] == 1000


def test_per_member_limit_counts_every_non_cancelled_redemption(member, ledger_invariants):
    fund(member, 10_000)
    product = make_product(points_price=100, stock=20, per_member_limit=3)

    first = services.redeem(member, product, 2, key="r1")
    before = snapshot()
    with pytest.raises(LimitReached) as refused:
        services.redeem(member, product, 2, key="r2")
    assert refused.value.code == "limit_reached"
    assert snapshot() == before

    services.redeem(member, product, 1, key="r3")
    with pytest.raises(LimitReached):
        services.redeem(member, product, 1, key="r4")

    # Fulfilled and completed ones count; a cancelled one does not.
    services.cancel(first, reason="changed my mind")
    services.redeem(member, product, 2, key="r5")
    with pytest.raises(LimitReached):
        services.redeem(member, product, 1, key="r6")

    # The limit is per member.
    other = MemberFactory()
    fund(other, 1000)
    services.redeem(other, product, 3, key="o1")
    assert stock(product) == (14, 6)
    assert totals(member)["available"] == 10_000 - 300
    assert ledger_invariants() == []


def test_insufficient_points_writes_nothing(member, ledger_invariants):
    fund(member, 199)
    product = make_product(points_price=100, stock=5)
    before = snapshot()

    with pytest.raises(InsufficientPoints) as refused:
        services.redeem(member, product, 2, key="r1")

    assert refused.value.code == "insufficient_points"
    assert snapshot() == before  # no stock taken, no refusal recorded, no entry
    assert stock(product) == (5, 0)
    # Nothing was recorded under the key: it works once the points are there.
    fund(member, 1, key="top-up")
    redemption = services.redeem(member, product, 2, key="r1")
    assert redemption.points == 200
    assert totals(member)["available"] == 0
    assert ledger_invariants() == []


def test_insufficient_points_found_by_the_ledger_itself_rolls_back_the_stock(member, ledger_invariants):
    # The balance pre-check is advisory; make it pass to prove the ledger's refusal undoes all.
    fund(member, 50)
    product = make_product(points_price=100, stock=5)
    before = snapshot()

    real = services.redemption._read_for_redemption

    def optimistic(*args):
        row = real(*args)
        row.available_points = 10_000
        return row

    with patch("catalog.services.redemption._read_for_redemption", side_effect=optimistic):
        with pytest.raises(InsufficientPoints):
            services.redeem(member, product, key="r1")

    assert snapshot() == before
    assert ledger_invariants() == []


@pytest.mark.parametrize("quantity", [0, -1, 1.5, True, "2", None, Decimal("1"), 1001])
def test_invalid_quantity_is_refused(member, quantity):
    fund(member, 1000)
    product = make_product()
    before = snapshot()

    with pytest.raises(InvalidQuantity) as refused:
        services.redeem(member, product, quantity, key="r1")

    assert refused.value.code == "invalid_quantity"
    assert snapshot() == before


def test_quantity_beyond_the_ledgers_maximum_is_refused(member):
    product = make_product(points_price=10**7, stock=500)
    with pytest.raises(InvalidQuantity):
        services.redeem(member, product, 101, key="r1")


@pytest.mark.parametrize("key", ["", "   ", None, 7, "k" * 174])
def test_invalid_key_is_refused(member, key):
    fund(member, 1000)
    product = make_product()
    with pytest.raises(InvalidArgument):
        services.redeem(member, product, key=key)
    assert stock(product) == (10, 0)


def test_longest_key_fits_the_ledger(member, ledger_invariants):
    fund(member, 1000)
    product = make_product()
    redemption = services.redeem(member, product, key="k" * 173)
    assert redemption.entry.key == "redeem:" + "k" * 173
    assert ledger_invariants() == []


def test_errors_carry_codes_and_messages():
    assert issubclass(CodesExhausted, OutOfStock)
    for error in (OutOfStock, LimitReached, NotAvailable, InvalidTransition, InvalidQuantity):
        assert issubclass(error, CatalogError)
        assert error().message
    assert [e.code for e in (OutOfStock, LimitReached, NotAvailable, InvalidTransition,
                             InvalidQuantity)] == [
        "out_of_stock", "limit_reached", "not_available", "invalid_transition", "invalid_quantity"]


# --------------------------------------------------------------------------- life cycle


def test_fulfil_then_complete_a_physical_redemption(member, staff, ledger_invariants):
    fund(member, 1000)
    redemption = services.redeem(member, make_product(), key="r1", address="addr")

    with pytest.raises(InvalidArgument):
        services.fulfil(redemption, staff=staff)
    with pytest.raises(InvalidTransition):
        services.complete(redemption, staff=staff)

    shipped = services.fulfil(redemption, staff=staff, tracking_number=" SF123 ")
    assert (shipped.status, shipped.tracking_number) == ("fulfilled", "SF123")
    assert shipped.fulfilled_at is not None
    # Idempotent with the same (or no) tracking number; another one is refused.
    again = services.fulfil(redemption, staff=staff, tracking_number="SF123")
    assert again.fulfilled_at == shipped.fulfilled_at
    assert services.fulfil(redemption, staff=staff).tracking_number == "SF123"
    with pytest.raises(InvalidTransition):
        services.fulfil(redemption, staff=staff, tracking_number="YT999")

    done = services.complete(redemption, staff=staff)
    assert done.status == "completed"
    assert done.completed_at is not None
    assert services.complete(redemption, staff=staff).completed_at == done.completed_at
    assert services.fulfil(redemption, staff=staff, tracking_number="SF123").status == "completed"
    assert Redemption.objects.get().status == "completed"
    assert totals(member)["available"] == 900
    assert ledger_invariants() == []


def test_fulfil_and_complete_record_the_staff_who_did_them(member):
    fund(member, 1000)
    shipper, receiver, late = (StaffFactory(username=name) for name in ("shipper", "receiver", "late"))
    redemption = services.redeem(member, make_product(), key="r1", address="addr")
    coupon = services.redeem(member, make_product(kind=ProductKind.COUPON, codes=["C1"]), key="r2")

    services.fulfil(redemption, staff=shipper, tracking_number="SF1")
    services.fulfil(redemption, staff=late, tracking_number="SF1")  # already shipped: unchanged
    services.complete(redemption, staff=receiver)
    services.complete(redemption, staff=late)  # already completed: unchanged
    services.complete(coupon, staff=receiver)

    def who(row):
        return Redemption.objects.filter(pk=row.pk).values_list(
            "status", "fulfilled_by__username", "completed_by__username").get()

    assert who(redemption) == ("completed", "shipper", "receiver")
    # A coupon is fulfilled by the redemption itself, by no one.
    assert who(coupon) == ("completed", None, "receiver")


def test_fulfil_and_complete_without_staff_record_no_one(member):
    fund(member, 1000)
    redemption = services.redeem(member, make_product(), key="r1", address="addr")

    services.complete(services.fulfil(redemption, tracking_number="SF1"))

    assert Redemption.objects.filter(pk=redemption.pk).values_list(
        "status", "fulfilled_by", "completed_by").get() == ("completed", None, None)


def test_cancel_returns_points_to_their_original_lots_and_the_stock(member, staff, ledger_invariants):
    late = fund(member, 100, key="late", expires_at=timezone.now() + timedelta(days=300))
    soon = fund(member, 50, key="soon", expires_at=timezone.now() + timedelta(days=30))
    product = make_product(points_price=60, stock=4)
    redemption = services.redeem(member, product, 2, key="r1")
    assert lots(member) == [(100, 30), (50, 0)]
    assert stock(product) == (2, 2)

    cancelled = services.cancel(redemption, reason="out of the area", staff=staff)

    assert cancelled.status == "cancelled"
    assert cancelled.cancel_reason == "out of the area"
    assert cancelled.cancelled_at is not None
    refund = cancelled.refund_entry
    assert (refund.kind, refund.delta, refund.reverses_id) == ("reverse", 120, redemption.entry_id)
    assert refund.key == f"redeem-cancel:{redemption.pk}"
    assert refund.reason == f"Redemption #{redemption.pk} cancelled: out of the area"
    assert lots(member) == [(100, 100), (50, 50)]
    assert (late.pk, soon.pk) != (None, None)
    assert totals(member) == {"available": 150, "pending": 0, "held": 0, "debt": 0,
                              "lifetime_earned": 150, "lifetime_spent": 0, "lifetime_expired": 0}
    assert stock(product) == (4, 0)
    assert movements(product) == [(4, 4, None), (-2, 2, redemption.pk), (2, 4, redemption.pk)]
    assert StockMovement.objects.order_by("-id").first().staff == staff

    # A second cancel changes nothing; the cancelled order cannot move on.
    before = snapshot()
    assert services.cancel(redemption, reason="again").pk == redemption.pk
    assert snapshot() == before
    with pytest.raises(InvalidTransition):
        services.fulfil(redemption, tracking_number="SF1")
    with pytest.raises(InvalidTransition):
        services.complete(redemption)
    # The key stays with the cancelled redemption.
    assert services.redeem(member, product, 2, key="r1").status == "cancelled"
    assert ledger_invariants() == []


def test_cancel_of_points_whose_lot_expired_meanwhile_expires_them_at_once(member, ledger_invariants):
    from tests.points.ledger import clock

    with clock(at(2026, 1, 10, 10)):
        fund(member, 100, expires_at=at(2026, 1, 31, 23, 59))
        redemption = services.redeem(member, make_product(points_price=100), key="r1")
    with clock(at(2026, 2, 5)):
        services.cancel(redemption, reason="lost parcel")

    assert [(kind, delta) for kind, delta, _after in entries(member)] == [
        ("earn", 100), ("spend", -100), ("reverse", 100), ("expire", -100)]
    assert totals(member)["available"] == 0
    assert totals(member)["lifetime_expired"] == 100
    assert ledger_invariants() == []


def test_cancel_after_fulfilment_is_refused(member, ledger_invariants):
    fund(member, 1000)
    redemption = services.redeem(member, make_product(), key="r1")
    services.fulfil(redemption, tracking_number="SF1")
    before = snapshot()

    with pytest.raises(InvalidTransition) as refused:
        services.cancel(redemption, reason="too late")
    assert refused.value.code == "invalid_transition"
    services.complete(redemption)
    with pytest.raises(InvalidTransition):
        services.cancel(redemption, reason="too late")
    assert snapshot()["entries"] == before["entries"]
    assert snapshot()["products"] == before["products"]


def test_coupon_and_privilege_redemptions_cannot_be_cancelled(member, ledger_invariants):
    fund(member, 1000)
    coupon = make_product(kind=ProductKind.COUPON, codes=["C1"])
    privilege = make_product(kind=ProductKind.PRIVILEGE, stock=1)
    coupon_redemption = services.redeem(member, coupon, key="c")
    privilege_redemption = services.redeem(member, privilege, key="p")
    before = snapshot()

    for redemption in (coupon_redemption, privilege_redemption):
        with pytest.raises(InvalidTransition):
            services.cancel(redemption, reason="no")

    assert snapshot() == before
    assert list(CouponCode.objects.values_list("code", "redemption_id")) == [("C1", coupon_redemption.pk)]
    assert services.complete(coupon_redemption).status == "completed"
    assert ledger_invariants() == []


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 201])
def test_cancel_needs_a_reason(member, reason):
    fund(member, 1000)
    redemption = services.redeem(member, make_product(), key="r1")
    with pytest.raises(InvalidArgument):
        services.cancel(redemption, reason=reason)
    assert Redemption.objects.get().status == "created"
