"""The load test's data (``bench/load.py``), written into its own database by a subprocess under the
same production settings the app then runs with (``manage.py shell -c "from bench import
load_seed; load_seed.seed(...)"``), so the personal data is encrypted with the keys the app reads.

Through the services, as the shop would have written it: the demo catalog (``load_demo_catalog``)
plus more products in its categories, then members who each placed paid orders over the last
months (``referrals.services.orders.record_paid_order`` with the order's own clock: entries with
explanations, spread over months on the history page), checked in on some days, and redeemed a
few products; the due points activated, and the nightly recommendations job run once. Prints one
JSON line: the members' usernames, their password, the products' ids.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from decimal import Decimal

PASSWORD = "load-member-123"
PREFIX = "load-m"
SEED = 17


def _products(count: int) -> list[int]:
    from django.core.management import call_command

    from catalog import services as catalog_services
    from catalog.models import Category, Product, ProductKind

    call_command("load_demo_catalog", verbosity=0)
    leaves = list(Category.objects.filter(parent__isnull=False).order_by("id"))
    have = Product.objects.filter(name__startswith="Load ").count()
    rng = random.Random(SEED)
    for i in range(have, count):
        catalog_services.save_product(Product(
            name=f"Load 商品 {i:03d}", kind=ProductKind.PHYSICAL if i % 3 else ProductKind.PRIVILEGE,
            category=leaves[i % len(leaves)], points_price=rng.randrange(100, 5000, 50),
            stock=100000, description="压测用商品。"))
    # What every member may see (a tier-only product is a 404 for the others).
    return list(Product.objects.filter(active=True, visible_tiers=[]).order_by("id")
                .values_list("id", flat=True))


def _members(count: int):
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from mall.models import Member
    from referrals.services import tree

    existing = set(Member.objects.filter(username__startswith=PREFIX).values_list("username", flat=True))
    password = make_password(PASSWORD)  # one hash for all: argon2 per member would take minutes
    joined = timezone.now() - timedelta(days=400)  # past the welcome offer: list prices
    tiers = ["normal", "normal", "silver", "gold"]
    Member.objects.bulk_create(
        Member(username=f"{PREFIX}{i}", external_id=f"{PREFIX}{i}", nickname=f"压测 {i}",
               password=password, date_joined=joined, tier=tiers[i % len(tiers)])
        for i in range(count) if f"{PREFIX}{i}" not in existing)
    members = list(Member.objects.filter(username__startswith=PREFIX).order_by("id"))
    tree.ensure_nodes([member.pk for member in members])
    return members


def seed(members: int = 300, products: int = 60, orders: int = 20, redemptions: int = 2) -> None:
    from django.utils import timezone

    from catalog import recommendations
    from catalog import services as catalog_services
    from catalog.errors import LimitReached, NotAvailable, OutOfStock
    from catalog.models import Product
    from points import services as points_services
    from points.errors import InsufficientPoints
    from points.services import earning
    from referrals.services import orders as order_services

    product_ids = _products(products)
    people = _members(members)
    rng = random.Random(SEED)
    now = timezone.now()
    skus = [(f"SKU-{n:03d}", Decimal(rng.randrange(20, 400))) for n in range(40)]
    for member in people:
        # Orders over the last 180 days, oldest first (the order hook's clock is the order's).
        times = sorted(now - timedelta(days=rng.uniform(1, 180)) for _ in range(orders))
        for n, paid_at in enumerate(times):
            lines = [{"sku": sku, "amount": price, "quantity": 1} for sku, price in rng.sample(skus, 2)]
            order_services.record_paid_order(
                member, order_id=f"LOAD-{member.pk}-{n}", amount=sum(line["amount"] for line in lines),
                lines=lines, paid_at=paid_at, now=paid_at + timedelta(minutes=1))
        for day in range(rng.randrange(3, 10)):
            earning.check_in(member, now=now - timedelta(days=30 - day * 2))
    points_services.activate_due()
    made = 0
    for member in people:
        for product_id in rng.sample(product_ids, min(redemptions + 2, len(product_ids))):
            if made >= redemptions * len(people):
                break
            try:
                catalog_services.redeem(member, Product.objects.get(pk=product_id),
                                        key=f"load:{member.pk}:{product_id}")
                made += 1
            except (NotAvailable, LimitReached, OutOfStock, InsufficientPoints):
                continue
    recommendations.compute_neighbours()
    print(json.dumps({"members": [member.username for member in people], "password": PASSWORD,
                      "products": product_ids, "redemptions": made}))


def profile(username: str, *, calls: int = 20, show: int = 0) -> None:
    """Each endpoint the load test reads, as ``username``, in-process on the same data and with
    the same settings (connection reuse included: the test client sends Django's request
    signals): the statements its second call sends, then over ``calls`` more calls the median
    wall time and this process's CPU time per call; with ``show`` the first ``show`` statements."""
    import statistics
    import time

    from django.db import close_old_connections, connection
    from django.test import Client
    from rest_framework_simplejwt.tokens import RefreshToken

    from catalog.models import Product
    from mall.models import Member

    member = Member.objects.get(username=username)
    product = Product.objects.filter(active=True, visible_tiers=[]).order_by("id").first()
    pages = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    pages.force_login(member)
    token = str(RefreshToken.for_user(member).access_token)
    api = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https", HTTP_AUTHORIZATION=f"Bearer {token}")
    lines = []
    for name, client, path in [("home /", pages, "/"), ("history /points/", pages, "/points/"),
                               ("mall /mall/", pages, "/mall/"), ("product /mall/<id>/", pages,
                                                                  f"/mall/{product.pk}/"),
                               # The API throttle (120/min a member) would answer 429 soon.
                               ("api me/points/", api, "/api/v1/me/points/"),
                               ("api products/", api, "/api/v1/products/")]:
        client.get(path)
        queries = []

        def record(execute, sql, params, many, context, queries=queries):
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            response = client.get(path)
        walls, cpu = [], time.process_time()
        for _ in range(calls):
            started = time.perf_counter()
            # What the request signals do under a server (the test client leaves them out):
            # with DB_CONN_MAX_AGE=0 every request opens a connection of its own.
            close_old_connections()
            client.get(path)
            close_old_connections()
            walls.append((time.perf_counter() - started) * 1000)
        cpu = (time.process_time() - cpu) * 1000 / calls
        lines.append(f"  {name:<22}{response.status_code:>5}{len(queries):>4} statements"
                     f"  median {statistics.median(walls):6.1f} ms  cpu {cpu:5.1f} ms")
        for sql in queries[:show]:
            lines.append(f"      {sql[:300]}")
    print(f"statements per endpoint (in-process; {calls} calls each):\n" + "\n".join(lines))
