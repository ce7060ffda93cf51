"""Demo data for ``make run``: an admin account and a few members with points. Idempotent: every
posting has a fixed key, so running it again changes nothing."""

import os
from datetime import timedelta

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from mall.models import Member
from points import services
from rules.tiers import Tier

DEMO_MEMBERS = [
    # username, nickname, tier, phone
    ("alice", "爱丽丝", Tier.GOLD, "13800000001"),
    ("bob", "小宝", Tier.SILVER, "13800000002"),
    ("carol", "卡罗", Tier.NORMAL, "13800000003"),
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
        self.stdout.write(self.style.SUCCESS(
            "Demo data ready. Admin login: /admin/  username: admin  password: "
            + (password if admin.check_password(password) else "(changed by you)")
            + "\nMembers: alice, bob, carol (password member-demo-123)"
        ))
        call_command("load_demo_catalog", stdout=self.stdout, stderr=self.stderr)
