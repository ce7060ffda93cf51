"""Demo data for the staff console (issue 13), used by ``load_demo`` (``make run``) only: never by
a migration, never at start-up.

- ``staff_accounts``: one staff account per staff group (whatever groups the migrations created),
  each ``is_staff`` and in exactly that group, with a known password, so four eyes work out of
  the box (``rule_editor`` edits a draft, ``rule_publisher`` publishes it). ``staff_table`` prints
  them.
- ``activity``: a month of shop activity for the demo members, recorded through the services the
  shop's hooks and the member pages use (paid orders, refunds, behaviours, check-ins,
  redemptions), so points, pending lots and explanations are real.
- ``supply``: the supplier 优选供应链 with the demo fruit and a partly received purchase order.

Idempotent: accounts are found by username and only created when missing (a password or group
staff have changed since is left alone); every posting has a fixed key or order id, and the times
hang off a fixed anchor (the demo member alice's ``date_joined``) with a seeded random, so a re-run
repeats the same arguments and writes nothing.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog import services as catalog_services
from catalog.errors import LimitReached, NotAvailable, OutOfStock
from catalog.models import Product, Redemption
from mall.models import Member
from points import services as points_services
from points.errors import InsufficientPoints
from points.models import CheckIn
from points.services import earning
from referrals.services import orders, tree

STAFF_PASSWORD = "staff-demo-123"

# group name (as the migrations create it), username, what its members can do
STAFF = [
    ("规则编辑 / Rule editor", "rule_editor",
     gettext_lazy("Edits draft rule sets (cannot publish)")),
    ("规则发布 / Rule publisher", "rule_publisher",
     gettext_lazy("Publishes or gray-releases rule sets someone else edited")),
    ("商品管理 / Catalog manager", "catalog_manager",
     gettext_lazy("Runs products, categories, stock and coupon codes; ships redemptions")),
    ("客服 / Customer service", "customer_service",
     gettext_lazy("Looks up members, redemptions and teams; cancels redemptions")),
    ("审计 / Auditor", "auditor",
     gettext_lazy("Reads the ledger and the audit trail, runs reconciliations (read only)")),
    ("活动运营 / Campaign manager", "campaign_manager",
     gettext_lazy("Runs tasks, badges, lotteries and auctions")),
    ("推广方案编辑 / Referral plan editor", "plan_editor",
     gettext_lazy("Edits draft referral plans and merchants (cannot publish)")),
    ("推广方案发布 / Referral plan publisher", "plan_publisher",
     gettext_lazy("Publishes referral plans someone else edited")),
]


@dataclass(frozen=True)
class StaffAccount:
    username: str
    password: str  # as seeded; "" once someone changed it
    group: str
    can: str


def staff_accounts(password: str = STAFF_PASSWORD) -> list[StaffAccount]:
    """One staff account per staff group (created when missing) and the table's rows, in the
    order of ``STAFF`` and then any other group (``staff_<group id>``)."""
    known = {name: (username, can) for name, username, can in STAFF}
    rows = []
    with transaction.atomic():
        groups = sorted(Group.objects.all(), key=lambda g: (
            [name for name, _u, _c in STAFF].index(g.name) if g.name in known else len(STAFF), g.pk))
        for group in groups:
            username, can = known.get(group.name,
                                      (f"staff_{group.pk}", gettext_lazy("What the group allows")))
            user, created = Member.objects.get_or_create(
                username=username, defaults={"is_staff": True, "nickname": group.name.split(" / ")[0]})
            if created:
                user.set_password(password)
                user.save()
                user.groups.set([group])
            rows.append(StaffAccount(username, password if user.check_password(password) else "",
                                     group.name, str(can)))
    return rows


def staff_table(rows: list[StaffAccount], *, superuser: StaffAccount | None = None) -> str:
    """The accounts as a plain-text table (CJK characters counted two columns wide)."""
    header = (_("Username"), _("Password"), _("Group"), _("Can do"))
    lines = [(row.username, row.password or _("(changed by you)"), row.group, row.can)
             for row in ([superuser] if superuser else []) + rows]
    widths = [max(_width(cell) for cell in column) for column in zip(header, *lines, strict=False)]

    def line(cells):
        return "  ".join(_pad(cell, width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in lines)])


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


# --------------------------------------------------------------------------- shop activity

# username, nickname, tier, phone: members who shop (besides alice), nobody's invitees
SHOPPERS = [
    ("dave", "大卫", "silver", "13800000004"),
    ("erin", "艾琳", "normal", "13800000005"),
    ("frank", "弗兰克", "normal", "13800000006"),
    ("grace", "格蕾丝", "gold", "13800000007"),
    ("heidi", "海蒂", "normal", "13800000008"),
]
# sku, unit price, categories (the rule book's category codes, matching the demo catalog's
# 进口水果 / 应季水果)
GOODS = [
    ("cherry-jj-1kg", Decimal("168.00"), ["imported"]),
    ("kiwi-gold-6", Decimal("59.90"), ["imported"]),
    ("durian-musang-1", Decimal("288.00"), ["imported"]),
    ("strawberry-500g", Decimal("39.90"), ["seasonal"]),
    ("mango-guifei-2.5kg", Decimal("69.00"), ["seasonal"]),
    ("lychee-1kg", Decimal("49.00"), ["seasonal"]),
    ("longjing-250g", Decimal("128.00"), []),
    ("gift-box-card", Decimal("10.00"), []),
]
ORDERS = 90
DAYS = 30
SEED = 13
REFUNDS = [(7, None), (23, Decimal("39.90"))]  # order number, refund amount (None: in full)
# product name, buyers (redeemed at load time: the service has no clock of its own)
REDEMPTIONS = [("免运费券", ["alice", "dave", "grace"]), ("满50减5 优惠券", ["dave", "erin"]),
               ("会员日 95 折券", ["grace"])]


@dataclass
class Activity:
    orders: int = 0
    refunds: int = 0
    behaviours: int = 0
    check_ins: int = 0
    redemptions: int = 0


def order_id(number: int) -> str:
    return f"DEMO-{number:04d}"


def shoppers(anchor: datetime) -> dict[str, Member]:
    """The shopping demo members, created (joined two months before the anchor) when missing."""
    found = {}
    for username, nickname, tier, phone in SHOPPERS:
        member, created = Member.objects.get_or_create(username=username, defaults={
            "nickname": nickname, "tier": tier, "phone": phone,
            "date_joined": anchor - timedelta(days=2 * DAYS)})
        if created:
            member.set_password("member-demo-123")
            member.save()
        found[username] = member
    tree.ensure_nodes([member.pk for member in found.values()])
    return found


def activity(members: dict[str, Member], *, anchor: datetime) -> Activity:
    """A month of activity before ``anchor`` for ``members`` (by username; the shoppers among
    them place the orders). Deterministic: a fixed seed, times from ``anchor``."""
    rng = random.Random(SEED)
    done = Activity()
    buyers = [members[name] for name in ["alice", *(row[0] for row in SHOPPERS)]]
    first_day = timezone.localdate(anchor) - timedelta(days=DAYS - 1)
    placed = {}
    for number in range(1, ORDERS + 1):
        member = rng.choice(buyers)
        day = first_day + timedelta(days=rng.randrange(DAYS))
        paid_at = _at(day, rng.randrange(9 * 60, 23 * 60), anchor)
        lines = []
        for sku, price, categories in rng.sample(GOODS, rng.choice([1, 1, 2, 2, 3])):
            quantity = rng.choice([1, 1, 1, 2, 3])
            lines.append({"sku": sku, "amount": price * quantity, "categories": categories,
                          "quantity": quantity})
        shipping = rng.choice([Decimal("0.00"), Decimal("0.00"), Decimal("8.00")])
        amount = sum((line["amount"] for line in lines), Decimal("0.00")) + shipping
        # As the order hook does it (mall.hooks.OrderHookView), received a minute after payment.
        orders.record_paid_order(member, order_id=order_id(number), amount=amount, lines=lines,
                                 paid_at=paid_at, now=paid_at + timedelta(minutes=1))
        placed[number] = (member, paid_at, amount)
        done.orders += 1
        if rng.random() < 0.4 and paid_at + timedelta(days=2) < anchor:
            earning.record_behaviour(
                member, action="review", occurred_at=paid_at + timedelta(days=2),
                photo=rng.random() < 0.5, key=f"demo:review:{order_id(number)}")
            done.behaviours += 1
        if rng.random() < 0.25 and paid_at + timedelta(hours=3) < anchor:
            earning.record_behaviour(member, action="share_order", occurred_at=paid_at + timedelta(hours=3),
                                     key=f"demo:share-order:{order_id(number)}")
            done.behaviours += 1
    for number, refund in REFUNDS:
        orders.record_refund(order_id=order_id(number), refund_amount=refund or placed[number][2],
                             key=f"demo:refund:{order_id(number)}")
        done.refunds += 1

    everyone = sorted(members.values(), key=lambda m: m.username)
    for member in everyone:
        # Shares on a few days, and check-in runs (a streak or two with gaps).
        for share in range(rng.randrange(0, 5)):
            day = first_day + timedelta(days=rng.randrange(DAYS))
            at = _at(day, rng.randrange(600, 1320), anchor)
            earning.record_behaviour(member, action="share", occurred_at=at,
                                     key=f"demo:share:{member.username}:{share}")
            done.behaviours += 1
        days = sorted({first_day + timedelta(days=offset) for offset in range(DAYS) if rng.random() < 0.6})
        for day in days:
            at = _at(day, rng.randrange(7 * 60, 9 * 60), anchor)
            if at < anchor and not CheckIn.objects.filter(member=member, day=day).exists():
                earning.check_in(member, now=at)
                done.check_ins += 1

    # Orders paid more than the pending days ago are due: the hourly job's work, done now.
    points_services.activate_due()
    done.redemptions = _redemptions(members)
    return done


def _redemptions(members: dict[str, Member]) -> int:
    made = 0
    for name, usernames in REDEMPTIONS:
        product = Product.objects.filter(name=name).order_by("id").first()
        if product is None:
            continue
        for username in usernames:
            key = f"demo:{username}:{product.pk}"
            if Redemption.objects.filter(key=key).exists():
                continue
            try:
                catalog_services.redeem(members[username], product, key=key)
            except (NotAvailable, LimitReached, OutOfStock, InsufficientPoints):
                continue  # not for this member's tier, or not enough points: the demo goes on
            made += 1
    return made


def _at(day, minutes: int, anchor: datetime) -> datetime:
    """``minutes`` past midnight of ``day`` in Asia/Shanghai, never later than the anchor."""
    when = timezone.make_aware(datetime.combine(day, time()) + timedelta(minutes=minutes))
    return min(when, anchor - timedelta(minutes=1))


@dataclass(frozen=True)
class SupplyDemo:
    supplier: str
    products: int  # linked to the supplier now
    orders: int  # purchase orders made now


DEMO_SUPPLIER = "优选供应链"
# product, supplier SKU, units ordered, unit cost, units received (of which defective)
DEMO_PURCHASES = [
    ("进口车厘子礼盒 1kg", "YX-CHERRY-1KG", 30, Decimal("45.00"), 20, 1),
    ("海南贵妃芒 2.5kg", "YX-MANGO-2.5KG", 20, Decimal("38.00"), 0, 0),
]
DEMO_SKUS = {"新西兰奇异果 6 枚装": "YX-KIWI-6", "应季草莓 500g": "YX-STRAW-500G"}


def supply(anchor: datetime) -> SupplyDemo:
    """The demo supplier 优选供应链 with the demo fruit linked to it, and one purchase order sent
    ten days before the anchor, partly received four days later (cherries in, one box defective;
    the mangoes still awaited), so the supplier page shows KPIs and the order a receive button.
    Idempotent: the order is made once (found by its note), products keep a supplier staff chose."""
    from catalog.models import PurchaseOrder, Supplier
    from catalog.services import purchasing

    supplier, _created = Supplier.objects.get_or_create(name=DEMO_SUPPLIER, defaults={
        "contact": "王经理 13900000000 / supply@example.com", "lead_time_days": 5, "review_days": 7})
    skus = {**{name: sku for name, sku, *_rest in DEMO_PURCHASES}, **DEMO_SKUS}
    linked = 0
    for product in Product.objects.filter(name__in=skus, supplier__isnull=True).order_by("id"):
        product.supplier, product.supplier_sku = supplier, skus[product.name]
        catalog_services.save_product(product)
        linked += 1
    note = "demo:purchase-1"
    if PurchaseOrder.objects.filter(note=note).exists():
        return SupplyDemo(supplier.name, linked, 0)
    products = {product.name: product for product in
                Product.objects.filter(name__in=[row[0] for row in DEMO_PURCHASES], supplier=supplier)}
    rows = [row for row in DEMO_PURCHASES if row[0] in products]
    if not rows:
        return SupplyDemo(supplier.name, linked, 0)
    sent_at = anchor - timedelta(days=10)
    with transaction.atomic():
        order = purchasing.create_purchase_order(
            supplier, [(products[name], ordered, cost) for name, _sku, ordered, cost, _r, _d in rows],
            staff=None, expected_date=timezone.localdate(sent_at) + timedelta(days=supplier.lead_time_days),
            note=note, now=sent_at)
        order = purchasing.send(order, staff=None, now=sent_at)
        lines = {line.product.name: line for line in order.lines.select_related("product")}
        purchasing.receive(order, [(lines[name], received, defective)
                                   for name, _sku, _o, _c, received, defective in rows if received],
                           at=sent_at + timedelta(days=4), note=_("First delivery"))
    return SupplyDemo(supplier.name, linked, 1)
