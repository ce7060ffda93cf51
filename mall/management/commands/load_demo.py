"""Demo data for ``make run``: an admin account and a few members with points. Idempotent: every
posting has a fixed key, so running it again changes nothing."""

import os
from datetime import timedelta
from decimal import Decimal

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.translation import gettext as _

from catalog import recommendations
from mall import demo, rfm
from mall.models import Member
from points import services
from referrals.models import Merchant
from referrals.services import orders, tree

DEMO_MEMBERS = [
    # username, nickname, tier, phone
    ("alice", "爱丽丝", "gold", "13800000001"),
    ("bob", "小宝", "silver", "13800000002"),
    ("carol", "卡罗", "normal", "13800000003"),
]


class Command(BaseCommand):
    help = "Create the demo admin and members with points (safe to run again)."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin-demo-123")
        with transaction.atomic():
            admin, created = Member.objects.get_or_create(
                username="admin", defaults={"is_staff": True, "is_superuser": True, "nickname": "运营"}
            )
            if created:
                admin.set_password(password)
                admin.save()
        members = {}
        for username, nickname, tier, phone in DEMO_MEMBERS:
            member, created = Member.objects.get_or_create(
                username=username, defaults={"nickname": nickname, "tier": tier, "phone": phone}
            )
            if created:
                member.set_password("member-demo-123")
                member.save()
            members[username] = member

        # Dates hang off date_joined, not "now": a re-run must repeat the same arguments.
        bob_joined = members["bob"].date_joined
        carol_joined = members["carol"].date_joined
        services.earn(members["alice"], 1200, key="demo:alice:welcome", reason="欢迎礼包")
        services.earn(members["alice"], 300, key="demo:alice:order-1", reason="订单 D1001 消费积分",
                      reference="D1001")
        services.spend(members["alice"], 200, key="demo:alice:redeem-1", reason="兑换 免运费券")
        services.earn(members["bob"], 500, key="demo:bob:welcome", reason="欢迎礼包")
        services.earn(members["bob"], 128, key="demo:bob:order-1", reason="订单 D1002 消费积分",
                      reference="D1002", available_at=bob_joined + timedelta(days=7))
        services.earn(members["carol"], 200, key="demo:carol:register", reason="注册奖励")
        services.earn(members["carol"], 80, key="demo:carol:soon", reason="活动积分",
                      expires_at=carol_joined + timedelta(days=25))
        self._referrals(members, bob_joined)
        self.stdout.write(self.style.SUCCESS(
            "Demo data ready. Admin login: /admin/  username: admin  password: "
            + (password if admin.check_password(password) else "(changed by you)")
            + "\nMembers: alice, bob, carol (password member-demo-123); alice invited bob and carol"
        ))
        call_command("load_demo_catalog", stdout=self.stdout, stderr=self.stderr)

        # A month of shop activity before alice joined the demo (a fixed anchor: a re-run repeats
        # the same arguments), then one staff account per staff group.
        anchor = members["alice"].date_joined
        members.update(demo.shoppers(anchor))
        done = demo.activity(members, anchor=anchor)
        self.stdout.write(self.style.SUCCESS(_(
            "Demo activity: %(orders)s paid orders, %(refunds)s refunds, %(behaviours)s behaviours, "
            "%(check_ins)s check-ins over the last %(days)s days; %(redemptions)s new redemptions. "
            "Shoppers: %(shoppers)s (password member-demo-123)."
        ) % {"orders": done.orders, "refunds": done.refunds, "behaviours": done.behaviours,
             "check_ins": done.check_ins, "days": demo.DAYS, "redemptions": done.redemptions,
             "shoppers": ", ".join(row[0] for row in demo.SHOPPERS)}))
        # A supplier with a partly received purchase order (issue 15).
        supplied = demo.supply(anchor)
        self.stdout.write(self.style.SUCCESS(_(
            "Supplier %(supplier)s: %(products)s products linked, %(orders)s purchase orders made now."
        ) % {"supplier": supplied.supplier, "products": supplied.products, "orders": supplied.orders}))
        # The nightly RFM scoring, once (before the recommendations, whose fallback is per segment),
        # so the member list, the RFM page and segment targeting have segments from the start.
        scored = rfm.score_members()
        self.stdout.write(self.style.SUCCESS(_(
            "RFM segments: %(members)s members scored, %(active)s active in the window."
        ) % {"members": scored["members_scored"], "active": scored["members_active"]}))
        # The nightly recommendations job, once, so a fresh install recommends from the start.
        found = recommendations.compute_neighbours()
        self.stdout.write(self.style.SUCCESS(_(
            "Recommendations: %(neighbours)s similar products, %(popular)s popular products."
        ) % found))
        staff_password = os.environ.get("DEMO_STAFF_PASSWORD", demo.STAFF_PASSWORD)
        rows = demo.staff_accounts(staff_password)
        superuser = demo.StaffAccount("admin", password if admin.check_password(password) else "",
                                      _("(superuser)"), _("Everything"))
        self.stdout.write(_("Staff accounts (log in at /admin/; four eyes: rule_editor edits a draft "
                            "rule set, rule_publisher publishes it):"))
        self.stdout.write(demo.staff_table(rows, superuser=superuser))

    def _referrals(self, members, bob_joined):
        """alice invited bob and carol; bob bought from alice's tea shop (a 众店 with an 8% rebate),
        so "my team" shows rewards for alice and bob."""
        alice = members["alice"]
        tree.ensure_nodes([member.pk for member in members.values()])
        for username in ("bob", "carol"):
            tree.bind(members[username], tree.node_of(alice.pk).invite_code)
        Merchant.objects.get_or_create(code="tea", defaults={
            "name": "爱丽丝的茶叶小店", "owner": alice, "rebate_percent": Decimal("8")})
        orders.record_paid_order(members["bob"], order_id="D-R1001", amount=Decimal("168.00"),
                                 lines=[{"sku": "longjing-250g", "amount": Decimal("168.00")}],
                                 paid_at=bob_joined + timedelta(hours=1), merchant="tea",
                                 now=bob_joined + timedelta(hours=1))
