"""catalog.services.addresses: one default per member, the first address is it, validation per
field, only one's own; a redemption keeps a snapshot of the address it shipped to."""

import pytest
from django.db import IntegrityError, transaction

from catalog import services
from catalog.errors import AddressNotFound
from catalog.models import Address
from common.errors import InvalidFields
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

HOME = {"recipient": "Li Lei", "phone": "13800138000", "region": "Shanghai Pudong",
        "detail": "1 Road"}
WORK = {"recipient": "Li Lei", "phone": "13900139000", "region": "Shanghai Xuhui",
        "detail": "2 Road"}


def defaults(member):
    return list(Address.objects.filter(member=member, is_default=True).values_list("id", flat=True))


def test_first_address_becomes_the_default(member):
    home = services.add_address(member, **HOME)
    work = services.add_address(member, **WORK)
    assert home.is_default and not work.is_default
    assert defaults(member) == [home.pk]


def test_set_default_and_add_as_default_keep_one(member):
    home = services.add_address(member, **HOME)
    work = services.add_address(member, **WORK)
    services.set_default(member, work)
    assert defaults(member) == [work.pk]
    services.set_default(member, work)  # again: nothing changes
    assert defaults(member) == [work.pk]
    third = services.add_address(member, **HOME, is_default=True)
    assert defaults(member) == [third.pk]
    home.refresh_from_db()
    assert not home.is_default


def test_the_database_keeps_one_default(member):
    services.add_address(member, **HOME)
    with pytest.raises(IntegrityError), transaction.atomic():
        Address.objects.create(member=member, is_default=True, **WORK)


def test_removing_the_default_makes_the_newest_one_default(member):
    home = services.add_address(member, **HOME)
    work = services.add_address(member, **WORK)
    services.remove_address(member, home)
    assert defaults(member) == [work.pk]
    services.remove_address(member, work)
    assert not Address.objects.filter(member=member).exists()


def test_update_changes_the_fields_given(member):
    home = services.add_address(member, **HOME)
    services.update_address(member, home, detail="  3 Road ")
    home.refresh_from_db()
    assert (home.detail, home.recipient) == ("3 Road", "Li Lei")


@pytest.mark.parametrize("field, value", [
    ("phone", "12800138000"), ("phone", "1380013800"), ("phone", "138001380001"),
    ("phone", "+8613800138000"), ("recipient", ""), ("region", "   "), ("detail", None),
    ("recipient", "x" * 51),
])
def test_invalid_fields_are_refused(member, field, value):
    with pytest.raises(InvalidFields) as refused:
        services.add_address(member, **{**HOME, field: value})
    assert field in refused.value.fields
    assert not Address.objects.exists()


def test_only_ones_own_addresses(member):
    other = MemberFactory()
    theirs = services.add_address(other, **HOME)
    for call in (lambda: services.update_address(member, theirs, detail="mine"),
                 lambda: services.remove_address(member, theirs),
                 lambda: services.set_default(member, theirs)):
        with pytest.raises(AddressNotFound):
            call()
    theirs.refresh_from_db()
    assert theirs.detail == "1 Road"


def test_redemption_keeps_a_snapshot(member):
    fund(member, 1000)
    home = services.add_address(member, **HOME)
    redemption = services.redeem(member, make_product(points_price=10), key="r1",
                                 saved_address=home)
    assert redemption.address == "Li Lei 13800138000\nShanghai Pudong 1 Road"
    assert redemption.shipping_address_id == home.pk
    services.update_address(member, home, detail="9 Road")
    services.remove_address(member, home)
    redemption.refresh_from_db()
    assert redemption.address == "Li Lei 13800138000\nShanghai Pudong 1 Road"
    assert redemption.shipping_address_id is None


def test_redeem_with_someone_elses_address_writes_nothing(member):
    fund(member, 1000)
    theirs = services.add_address(MemberFactory(), **HOME)
    product = make_product(points_price=10)
    with pytest.raises(AddressNotFound):
        services.redeem(member, product, key="r1", saved_address=theirs.pk)
    assert not product.redemptions.exists()


def test_admin_lists_addresses_and_payments_read_only(admin_client, member):
    fund(member, 5000)
    services.add_address(member, **HOME)
    from decimal import Decimal

    services.redeem(member, make_product(points_price=10, cash_price=Decimal("1.00")), key="p",
                    address="x")
    for url in ("/admin/catalog/address/", "/admin/catalog/payment/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert admin_client.get("/admin/catalog/payment/add/").status_code == 403
