"""客服 / Customer service can open the member page it works from (issue 13): read members, their
messages, tier changes and points (accounts, entries, lots, holds), and adjust points with a
reason (four eyes is not asked for adjustments: each is recorded with its staff and reason).
Until now the group read redemptions, draws and awards but could not open a member."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CUSTOMER_SERVICE = "客服 / Customer service"  # shared with other apps, see catalog 0002
GRANTS = [("mall", "view_member"), ("mall", "view_message"), ("mall", "view_tierchange"),
          ("points", "view_account"), ("points", "view_entry"), ("points", "view_lot"),
          ("points", "view_hold"), ("points", "adjust_points")]


def _permissions(apps, schema_editor):
    for label in ("mall", "points"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return [Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in GRANTS]


def grant(apps, schema_editor):
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name=CUSTOMER_SERVICE)
    group.permissions.add(*_permissions(apps, schema_editor))


def revoke(apps, schema_editor):
    for group in apps.get_model("auth", "Group").objects.filter(name=CUSTOMER_SERVICE):
        group.permissions.remove(*_permissions(apps, schema_editor))


class Migration(migrations.Migration):
    dependencies = [("mall", "0013_report_aggregates"), ("points", "0010_entry_created_brin")]

    operations = [migrations.RunPython(grant, revoke)]
