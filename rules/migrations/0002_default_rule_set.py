"""Install the default rule set (rules/defaults.py), published, as version 1."""

from django.db import migrations
from django.utils import timezone


def install(apps, schema_editor):
    from rules import defaults

    models = defaults.migration_models(apps)
    if not models.RuleSet.objects.exists():
        defaults.install(models, version=1, published_at=timezone.now())


def uninstall(apps, schema_editor):
    apps.get_model("rules", "RuleSet").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("rules", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
