"""Play's defaults (issue 11): the badges of seed 000, the nightly badge job, and the staff group
that runs tasks, badges, lotteries and auctions.

- Badges: 积分达人 (points earned >= 10,000), 兑换王者 (>= 20 redemptions), 签到达人 (a 30-day
  check-in streak), all time, no points reward (staff add one in the admin).
- "Award due badges (nightly)" at 02:30 Asia/Shanghai: mall.award_due_badges.
- 活动运营 / Campaign manager: edits tasks, badges, lotteries (with prizes) and auctions, reads
  draws, free draws, bids, completions and awards (and products, to pick prizes and auction
  lots); customer service (shared group) reads those.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

BADGES = [
    ("points-pro", "积分达人", "Points Pro", "points_earned", 10_000),
    ("redeem-king", "兑换王者", "Redemption King", "redemptions", 20),
    ("check-in-star", "签到达人", "Check-in Star", "check_in_streak", 30),
]
JOB = "Award due badges (nightly)"
TASK = "mall.award_due_badges"
CAMPAIGN_MANAGER = "活动运营 / Campaign manager"
CUSTOMER_SERVICE = "客服 / Customer service"  # shared with other apps, see catalog 0002

EDITS = {"catalog": ["lottery", "prize", "auction"], "mall": ["task", "badge"]}
READS = {"catalog": ["draw", "drawticket", "bid"], "mall": ["taskcompletion", "badgeaward"]}


def _codenames(models_by_app, actions):
    return [(app, f"{action}_{model}") for app, models in models_by_app.items()
            for model in models for action in actions]


def install(apps, schema_editor):
    Badge = apps.get_model("mall", "Badge")
    for position, (code, name, name_en, metric, threshold) in enumerate(BADGES):
        Badge.objects.get_or_create(code=code, defaults={
            "name": name, "name_en": name_en, "metric": metric, "threshold": threshold,
            "period": "all_time", "position": position,
        })

    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_month="*", month_of_year="*", day_of_week="*",
        timezone="Asia/Shanghai",
    )
    PeriodicTask.objects.update_or_create(name=JOB, defaults={"task": TASK, "crontab": schedule,
                                                              "enabled": True})

    for label in ("catalog", "mall"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def permissions(pairs):
        found = []
        for app, codename in pairs:
            found.append(Permission.objects.get(content_type__app_label=app, codename=codename))
        return found

    manager, _ = Group.objects.get_or_create(name=CAMPAIGN_MANAGER)
    # Products too, read-only: prizes and auctions pick one (the admin's autocomplete).
    manager.permissions.add(*permissions(_codenames(EDITS, ("view", "add", "change"))
                                         + _codenames(READS, ("view",))
                                         + [("catalog", "view_product")]))
    service, _ = Group.objects.get_or_create(name=CUSTOMER_SERVICE)
    service.permissions.add(*permissions(_codenames(READS, ("view",))))


def uninstall(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.filter(name=CAMPAIGN_MANAGER).delete()
    reads = Permission.objects.filter(codename__in=[c for _a, c in _codenames(READS, ("view",))])
    for group in Group.objects.filter(name=CUSTOMER_SERVICE):
        group.permissions.remove(*reads)
    apps.get_model("mall", "Badge").objects.filter(
        code__in=[b[0] for b in BADGES], awards__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("mall", "0009_tasks_and_badges"),
        ("catalog", "0011_streak_lottery"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(install, uninstall)]
