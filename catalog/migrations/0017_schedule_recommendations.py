"""The nightly recommendations job (``catalog.recommendations``, 01:00 Asia/Shanghai; staff see
and change it in the admin)."""

from django.db import migrations

NAME = "Compute product recommendations (nightly 01:00)"
TASK = "catalog.recommendations"


def create_job(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="1", day_of_month="*", month_of_year="*", day_of_week="*",
        timezone="Asia/Shanghai",
    )
    PeriodicTask.objects.update_or_create(name=NAME, defaults={"task": TASK, "crontab": schedule,
                                                               "enabled": True})


def remove_job(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0016_product_neighbours"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_job, remove_job)]
