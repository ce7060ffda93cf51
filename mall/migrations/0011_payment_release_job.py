"""Schedule the release of unpaid points + cash redemptions (every minute): a pending payment past
its deadline gives its points and stock back and cancels the redemption
(``catalog.services.payments.release_unpaid``). Staff see and change it in the admin."""

from django.db import migrations

NAME = "Release unpaid redemptions (every minute)"
TASK = "catalog.release_unpaid_redemptions"


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
        ("mall", "0010_play_defaults"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_job, remove_job)]
