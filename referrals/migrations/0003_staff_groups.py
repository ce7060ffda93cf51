"""Staff groups for referrals (issue 9): plan editors change drafts and manage merchants, plan
publishers publish them (four eyes: the last editor cannot publish), and customer service (a group
shared with other apps) reads teams, rewards and merchants to answer members."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PLAN_EDITOR = "推广方案编辑 / Referral plan editor"
PLAN_PUBLISHER = "推广方案发布 / Referral plan publisher"
CUSTOMER_SERVICE = "客服 / Customer service"

READ = ["view_node", "view_merchant", "view_rewardplan", "view_rewardplanevent", "view_rewardedorder",
        "view_rewardrecord"]
GROUPS = {
    PLAN_EDITOR: READ + ["add_rewardplan", "change_rewardplan", "add_merchant", "change_merchant"],
    PLAN_PUBLISHER: READ + ["publish_rewardplan"],
    CUSTOMER_SERVICE: READ,
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after the last migration (post_migrate); create this
    # app's now so the groups can refer to them on a fresh database.
    config = apps.get_app_config("referrals")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        permissions = list(Permission.objects.filter(content_type__app_label="referrals",
                                                     codename__in=codenames))
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing:
            raise RuntimeError(f"Missing permissions for {name}: {sorted(missing)}")
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.filter(name__in=[PLAN_EDITOR, PLAN_PUBLISHER]).delete()
    for group in Group.objects.filter(name=CUSTOMER_SERVICE):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="referrals"))


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0002_default_plan_and_nodes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
