"""Schedule the closing of due auctions (DESIGN.md §3.5: every minute), so staff can see and change
it in the admin."""

from django.db import migrations

NAME = "Close due auctions (every minute)"
TASK = "catalog.close_due_auctions"


def create_job(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="*", hour="*", day_of_month="*", month_of_year="*", day_of_week="*",
        timezone="Asia/Shanghai",
    )
    PeriodicTask.objects.update_or_create(name=NAME, defaults={"task": TASK, "crontab": schedule,
                                                               "enabled": True})


def remove_job(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("mall", "0007_tiers_as_data"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_job, remove_job)]
