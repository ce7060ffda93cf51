"""The auditor staff group (DESIGN.md §4: read only): views every ledger table and the
reconciliation runs, and may start a run. ``mall.jobs.reconcile_ledger`` alerts its members (and
every active superuser) when a run finds a mismatch. Other apps may add their own view
permissions to the same group name."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

AUDITOR = "审计 / Auditor"
MODELS = ["account", "entry", "lot", "hold", "allocation", "refusal", "order", "orderline", "refund",
          "behaviourrecord", "checkin", "reconciliationrun"]
PERMISSIONS = [f"view_{model}" for model in MODELS] + ["run_reconciliation"]


def create_group(apps, schema_editor):
    # Permissions are normally created after the last migration (post_migrate); create the
    # ledger's now so the group can refer to them on a fresh database.
    points_config = apps.get_app_config("points")
    points_config.models_module = True
    create_permissions(points_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    points_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(Permission.objects.filter(content_type__app_label="points",
                                                 codename__in=PERMISSIONS))
    missing = set(PERMISSIONS) - {permission.codename for permission in permissions}
    if missing:
        raise RuntimeError(f"Missing permissions for {AUDITOR}: {sorted(missing)}")
    group, _created = Group.objects.get_or_create(name=AUDITOR)
    group.permissions.add(*permissions)


def remove_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # Shared with other apps: take back only the ledger's permissions, drop the group if empty.
    for group in Group.objects.filter(name=AUDITOR):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="points",
                                                            codename__in=PERMISSIONS))
        if not group.permissions.exists():
            group.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("points", "0007_reconciliation_run"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_group, remove_group)]
