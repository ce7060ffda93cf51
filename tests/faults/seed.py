"""The fault tests' data, written into the private database by a subprocess
(``manage.py shell -c "from tests.faults import seed; seed.<scenario>(...)"``), which prints what
the test needs as one JSON line. Through the services, as the app would write it."""

import json
from datetime import timedelta

from django.db import connection
from django.utils import timezone


def _members(count: int, prefix: str):
    from mall.models import Member

    joined = timezone.now() - timedelta(days=365)  # past the welcome offer: list prices
    Member.objects.bulk_create(
        Member(username=f"{prefix}{i}", external_id=f"{prefix}{i}", nickname=f"{prefix} {i}",
               password="!", date_joined=joined)
        for i in range(count)
    )
    return list(Member.objects.filter(username__startswith=prefix).order_by("id"))


def _accounts(members):
    from points.models import Account

    # An account's id is its member's (bulk_create does not call Account.save).
    Account.objects.bulk_create(Account(id=member.pk, member=member) for member in members)


def hooks_and_redemptions(members: int, grant: int, price: int) -> None:
    """Members with ``grant`` available points, and a privilege product at ``price`` (stock
    plenty); prints their external ids, ids and API tokens, and the product's id."""
    from rest_framework_simplejwt.tokens import RefreshToken

    from catalog import services as catalog_services
    from catalog.models import Product, ProductKind
    from points import services

    people = _members(members, "fault-m")
    _accounts(people)
    services.earn_many([services.Credit(member.id, grant, f"fault-grant:{member.id}", "grant")
                        for member in people], available_at=timezone.now(), expires_at=services.NEVER)
    product = catalog_services.save_product(Product(name="Fault tea", points_price=price, stock=100000,
                                                    kind=ProductKind.PRIVILEGE))
    print(json.dumps({
        "product": product.pk,
        "members": [{"id": m.id, "external_id": m.external_id,
                     "token": str(RefreshToken.for_user(m).access_token)} for m in people],
    }))


def catalog(products: int) -> None:
    """A catalog to read and one member's API token."""
    from rest_framework_simplejwt.tokens import RefreshToken

    from catalog import services as catalog_services
    from catalog.models import Product

    for i in range(products):
        catalog_services.save_product(Product(name=f"Fruit {i}", points_price=100 + i, stock=50))
    member = _members(1, "fault-reader")[0]
    print(json.dumps({"token": str(RefreshToken.for_user(member).access_token)}))


def expiring_lots(accounts: int, lots: int) -> None:
    """``accounts`` members with ``lots`` lots each, all past their expiry date."""
    from points import services

    people = _members(accounts, "fault-x")
    _accounts(people)
    for n in range(lots):
        services.earn_many([services.Credit(member.id, 10 + n, f"fault-lot:{member.id}:{n}", "lot")
                            for member in people], available_at=timezone.now())
    with connection.cursor() as cursor:  # due: their validity ended yesterday
        cursor.execute("UPDATE points_lot SET expires_at = now() - interval '1 day'")
    print(json.dumps({"accounts": len(people)}))
