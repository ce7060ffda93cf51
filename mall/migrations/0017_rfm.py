"""RFM segments (issue 14): settings, runs and per-member scores; segments beside tiers on
broadcasts and tasks; the nightly job "Score RFM segments (nightly 00:40)" (``mall.rfm``, before the
recommendations at 01:00, which read the segments); and who may do what:

- 活动运营 / Campaign manager: edits the RFM settings, runs the scoring now (``mall.run_rfm``),
  reads runs and scores;
- 审计 / Auditor (who reads the reports): reads the settings, runs and scores.
"""

import django.contrib.postgres.fields
import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from decimal import Decimal
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

JOB = "Score RFM segments (nightly 00:40)"
TASK = "mall.rfm"
CAMPAIGN_MANAGER = "活动运营 / Campaign manager"
AUDITOR = "审计 / Auditor"
READS = ["view_rfmsettings", "view_rfmrun", "view_rfmscore"]
EDITS = ["change_rfmsettings", "run_rfm"]


def install(apps, schema_editor):
    # The one settings row, all thresholds blank (medians), so the admin's page never writes on a GET.
    apps.get_model("mall", "RfmSettings").objects.get_or_create(id=1, defaults={"window_days": 365})
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="40", hour="0", day_of_month="*", month_of_year="*", day_of_week="*",
        timezone="Asia/Shanghai",
    )
    PeriodicTask.objects.update_or_create(name=JOB, defaults={"task": TASK, "crontab": schedule,
                                                              "enabled": True})
    config = apps.get_app_config("mall")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def permissions(codenames):
        return [Permission.objects.get(content_type__app_label="mall", codename=c) for c in codenames]

    manager, _ = Group.objects.get_or_create(name=CAMPAIGN_MANAGER)
    manager.permissions.add(*permissions(READS + EDITS))
    auditor, _ = Group.objects.get_or_create(name=AUDITOR)
    auditor.permissions.add(*permissions(READS))


def uninstall(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('mall', '0016_member_segment_db_default'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.CreateModel(
            name='RfmRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(unique=True, verbose_name='day')),
                ('window_days', models.PositiveIntegerField(verbose_name='window (days)')),
                ('recency_threshold', models.DecimalField(decimal_places=2, max_digits=14, null=True, verbose_name='recency threshold (days)')),
                ('frequency_threshold', models.DecimalField(decimal_places=2, max_digits=14, null=True, verbose_name='frequency threshold')),
                ('monetary_threshold', models.DecimalField(decimal_places=2, max_digits=14, null=True, verbose_name='monetary threshold (yuan)')),
                ('medians', models.JSONField(default=dict, verbose_name='medians used')),
                ('members_scored', models.PositiveIntegerField(default=0, verbose_name='members scored')),
                ('members_active', models.PositiveIntegerField(default=0, verbose_name='active in the window')),
                ('counts', models.JSONField(default=dict, verbose_name='segment counts')),
                ('movement', models.JSONField(default=dict, verbose_name='movement')),
                ('previous_day', models.DateField(null=True, verbose_name='previous run')),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='started at')),
                ('finished_at', models.DateTimeField(null=True, verbose_name='finished at')),
            ],
            options={
                'verbose_name': 'RFM run',
                'verbose_name_plural': 'RFM runs',
                'ordering': ['-day'],
                'permissions': [('run_rfm', 'Can run the RFM scoring now')],
            },
        ),
        migrations.AddField(
            model_name='broadcast',
            name='segments',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('important_value', 'Important value'), ('important_keep', 'Important to keep'), ('important_develop', 'Important to develop'), ('important_retain', 'Important to win back'), ('general_value', 'General value'), ('general_keep', 'General to keep'), ('general_develop', 'General to develop'), ('general_retain', 'General to win back')], max_length=24), blank=True, default=list, help_text='Empty: every segment (and members not scored yet).', size=None, verbose_name='RFM segments'),
        ),
        migrations.AddField(
            model_name='task',
            name='segments',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('important_value', 'Important value'), ('important_keep', 'Important to keep'), ('important_develop', 'Important to develop'), ('important_retain', 'Important to win back'), ('general_value', 'General value'), ('general_keep', 'General to keep'), ('general_develop', 'General to develop'), ('general_retain', 'General to win back')], max_length=24), blank=True, default=list, help_text='Only members of these segments are offered the task. Empty: every member.', size=None, verbose_name='eligible RFM segments'),
        ),
        migrations.CreateModel(
            name='RfmScore',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('recency_days', models.PositiveIntegerField(null=True, verbose_name='days since last activity')),
                ('frequency', models.PositiveIntegerField(verbose_name='frequency')),
                ('monetary', models.DecimalField(decimal_places=2, max_digits=14, verbose_name='monetary (yuan)')),
                ('r_score', models.PositiveSmallIntegerField(verbose_name='R')),
                ('f_score', models.PositiveSmallIntegerField(verbose_name='F')),
                ('m_score', models.PositiveSmallIntegerField(verbose_name='M')),
                ('segment', models.CharField(choices=[('important_value', 'Important value'), ('important_keep', 'Important to keep'), ('important_develop', 'Important to develop'), ('important_retain', 'Important to win back'), ('general_value', 'General value'), ('general_keep', 'General to keep'), ('general_develop', 'General to develop'), ('general_retain', 'General to win back')], max_length=24, verbose_name='RFM segment')),
                ('member', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='member')),
                ('run', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='scores', to='mall.rfmrun', verbose_name='run')),
            ],
            options={
                'verbose_name': 'RFM score',
                'verbose_name_plural': 'RFM scores',
                'indexes': [models.Index(fields=['member', 'run'], name='mall_rfmscore_member')],
                'constraints': [models.UniqueConstraint(fields=('run', 'member'), name='mall_rfmscore_once_per_run'), models.CheckConstraint(condition=models.Q(('f_score__range', (1, 5)), ('m_score__range', (1, 5)), ('r_score__range', (1, 5))), name='mall_rfmscore_quintiles')],
            },
        ),
        migrations.CreateModel(
            name='RfmSettings',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('window_days', models.PositiveIntegerField(default=365, help_text='Orders and redemptions of the last this many days (Asia/Shanghai) are scored.', validators=[django.core.validators.MinValueValidator(1)], verbose_name='window (days)')),
                ('recency_days', models.PositiveIntegerField(blank=True, help_text='A member whose last order or redemption is at most this many days ago is recent. Blank: the median of the members scored.', null=True, validators=[django.core.validators.MinValueValidator(1)], verbose_name='recency threshold (days)')),
                ('frequency', models.PositiveIntegerField(blank=True, help_text='A member with at least this many paid orders and redemptions in the window is frequent. Blank: the median of the members scored.', null=True, validators=[django.core.validators.MinValueValidator(1)], verbose_name='frequency threshold')),
                ('monetary', models.DecimalField(blank=True, decimal_places=2, help_text='A member whose paid orders in the window come to at least this amount is valuable. Blank: the median of the members scored.', max_digits=14, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.01'))], verbose_name='monetary threshold (yuan)')),
                ('updated_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='updated at')),
                ('updated_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='updated by')),
            ],
            options={
                'verbose_name': 'RFM settings',
                'verbose_name_plural': 'RFM settings',
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='mall_rfmsettings_single_row')],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
