"""Create the ledger's periodic tasks, so staff can see and change them in the admin."""

from django.db import migrations

JOBS = [
    # (name, task, crontab: minute, hour, day_of_month)
    ("Activate pending points (hourly)", "points.activate_due", ("5", "*", "*")),
    ("Expire due points (1st of month 00:10)", "points.expire_due", ("10", "0", "1")),
    ("Release stale holds (every 5 minutes)", "points.release_stale_holds", ("*/5", "*", "*")),
]


def create_jobs(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, (minute, hour, day_of_month) in JOBS:
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year="*",
            day_of_week="*", timezone="Asia/Shanghai",
        )
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "crontab": schedule, "enabled": True}
        )


def remove_jobs(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[task for _, task, _ in JOBS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("points", "0002_entry_append_only"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_jobs, remove_jobs)]
