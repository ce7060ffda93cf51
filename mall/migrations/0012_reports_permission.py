"""The 报表 / Reports permission (``mall.view_reports``: the admin's /admin/reports/ dashboards),
given to the auditor group. There is no finance group yet; a group made later gets it in the admin.
The permission hangs on the member model's content type (reports read every app, they have no
model of their own)."""

from django.db import migrations

AUDITOR = "审计 / Auditor"
CODENAME = "view_reports"
NAME = "Can view reports"


def create_permission(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="mall", model="member")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename=CODENAME, defaults={"name": NAME})
    group, _ = Group.objects.get_or_create(name=AUDITOR)
    group.permissions.add(permission)


def remove_permission(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="mall", codename=CODENAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("mall", "0011_payment_release_job"),
        ("points", "0008_auditor_group"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_permission, remove_permission)]
