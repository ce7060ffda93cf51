"""Create the programme's periodic tasks (DESIGN.md §3.5), so staff can see and change them in
the admin. Times are Asia/Shanghai."""

from django.db import migrations

JOBS = [
    # (name, task, crontab: minute, hour)
    ("Expiry reminders (daily 09:00)", "mall.expiry_reminders", ("0", "9")),
    ("Win back inactive members (daily 10:00)", "mall.win_back", ("0", "10")),
    ("Re-evaluate tiers (nightly 01:30)", "mall.reevaluate_tiers", ("30", "1")),
    ("Reconcile the ledger (nightly 03:00)", "mall.reconcile_ledger", ("0", "3")),
    ("Prune old refusals, hook events and keys (daily 04:30)", "mall.prune", ("30", "4")),
]


def create_jobs(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, (minute, hour) in JOBS:
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month="*", month_of_year="*", day_of_week="*",
            timezone="Asia/Shanghai",
        )
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "crontab": schedule, "enabled": True}
        )


def remove_jobs(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[task for _, task, _ in JOBS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("mall", "0004_messages"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_jobs, remove_jobs)]
