"""Staff groups for the points mall (DESIGN.md §4): catalog managers run products, categories,
stock and coupon pools and move redemption orders; customer service sees redemptions and cancels
them (the points and stock go back), without editing the catalog.

``cancel_redemption`` is a permission of its own (separate from ``change_redemption``, which
fulfils and completes), created here for the redemption model. The customer-service group is
shared with other apps: they add their own permissions to the same group name.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CATALOG_MANAGER = "商品管理 / Catalog manager"
CUSTOMER_SERVICE = "客服 / Customer service"
CANCEL = ("cancel_redemption", "Can cancel redemption")

CATALOG_MANAGER_PERMISSIONS = (
    [f"{action}_category" for action in ("view", "add", "change", "delete")]
    # Products are deactivated, never deleted (the admin refuses deletes).
    + [f"{action}_product" for action in ("view", "add", "change")]
    + ["view_stockmovement", "add_stockmovement"]
    + ["view_couponcode", "add_couponcode"]
    + ["view_redemption", "change_redemption", CANCEL[0]]
)
CUSTOMER_SERVICE_PERMISSIONS = ["view_redemption", CANCEL[0], "view_product", "view_category"]


def create_groups(apps, schema_editor):
    # Permissions are normally created after the last migration (post_migrate); create the
    # catalog's now so the groups can refer to them on a fresh database.
    catalog_config = apps.get_app_config("catalog")
    catalog_config.models_module = True
    create_permissions(catalog_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    catalog_config.models_module = None

    ContentType = apps.get_model("contenttypes", "ContentType")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    redemption_type = ContentType.objects.get(app_label="catalog", model="redemption")
    Permission.objects.get_or_create(content_type=redemption_type, codename=CANCEL[0],
                                     defaults={"name": CANCEL[1]})
    for name, codenames in ((CATALOG_MANAGER, CATALOG_MANAGER_PERMISSIONS),
                            (CUSTOMER_SERVICE, CUSTOMER_SERVICE_PERMISSIONS)):
        permissions = list(Permission.objects.filter(content_type__app_label="catalog", codename__in=codenames))
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing:
            raise RuntimeError(f"Missing permissions for {name}: {sorted(missing)}")
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.filter(name=CATALOG_MANAGER).delete()
    # Customer service is shared with other apps: take back only the catalog's permissions.
    for group in Group.objects.filter(name=CUSTOMER_SERVICE):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="catalog"))
    Permission.objects.filter(content_type__app_label="catalog", codename=CANCEL[0]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
