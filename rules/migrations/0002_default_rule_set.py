"""Install the default rule set (rules/defaults.py), published, as version 1."""

from decimal import Decimal

from django.db import migrations
from django.utils import timezone

# The tier table as it was shaped at this migration (a code and two numbers); 0004 gives the
# rows their names and ranks. Frozen here: rules.defaults.TIERS follows the current model.
TIERS_AT_0002 = [("normal", Decimal("1"), 0), ("silver", Decimal("1.2"), 2000), ("gold", Decimal("1.5"), 10000)]


def install(apps, schema_editor):
    from rules import defaults

    models = defaults.migration_models(apps)
    if not models.RuleSet.objects.exists():
        rule_set = defaults.install(models, version=1, published_at=timezone.now(), tiers=False)
        models.TierRule.objects.bulk_create(
            models.TierRule(rule_set=rule_set, tier=tier, multiplier=mult, qualify_points=qualify)
            for tier, mult, qualify in TIERS_AT_0002
        )


def uninstall(apps, schema_editor):
    apps.get_model("rules", "RuleSet").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("rules", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
