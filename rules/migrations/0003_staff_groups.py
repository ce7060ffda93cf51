"""Staff groups for rule sets (DESIGN.md §4): editors change drafts, publishers release them, so
the four-eyes rule in rules.services has two different people to work with."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "规则编辑 / Rule editor"
PUBLISHER = "规则发布 / Rule publisher"
TABLES = ["tierrule", "categorybonus", "spendtier", "behaviourrule", "checkinstep"]
EDITOR_PERMISSIONS = (
    [f"{action}_ruleset" for action in ("view", "add", "change")]
    # Editors remove rows from a draft's tables, so they delete table rows (not rule sets).
    + [f"{action}_{table}" for table in TABLES for action in ("view", "add", "change", "delete")]
    + ["view_rulesetevent"]
)
PUBLISHER_PERMISSIONS = (
    ["view_ruleset", "publish_ruleset", "view_rulesetevent"] + [f"view_{table}" for table in TABLES]
)


def create_groups(apps, schema_editor):
    # Permissions are normally created after the last migration (post_migrate); create the rules
    # app's now so the groups can refer to them on a fresh database.
    rules_config = apps.get_app_config("rules")
    rules_config.models_module = True
    create_permissions(rules_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    rules_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ((EDITOR, EDITOR_PERMISSIONS), (PUBLISHER, PUBLISHER_PERMISSIONS)):
        permissions = list(
            Permission.objects.filter(content_type__app_label="rules", codename__in=codenames)
        )
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing:
            raise RuntimeError(f"Missing permissions for {name}: {sorted(missing)}")
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[EDITOR, PUBLISHER]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0002_default_rule_set"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, delete_groups)]
