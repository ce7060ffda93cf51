"""Tiers as data: a tier row's ``tier`` becomes its ``code`` and gains Chinese and English names
and a rank (unique per rule set), so staff add, rename and re-order tiers in a draft. Existing
rows get the default names (普通会员/银卡会员/金卡会员) and their rank by points to qualify."""

import django.contrib.postgres.fields
import django.core.validators
from django.db import migrations, models

import rules.models

NAMES = {"normal": ("普通会员", "Normal"), "silver": ("银卡会员", "Silver"), "gold": ("金卡会员", "Gold")}


def name_and_rank(apps, schema_editor):
    TierRule = apps.get_model("rules", "TierRule")
    rows = list(TierRule.objects.order_by("rule_set_id", "qualify_points", "id"))
    rank, rule_set = 0, None
    for row in rows:
        rank = rank + 1 if row.rule_set_id == rule_set else 1
        rule_set = row.rule_set_id
        row.name, row.name_en = NAMES.get(row.code, (row.code, row.code))
        row.rank = rank
    TierRule.objects.bulk_update(rows, ["name", "name_en", "rank"])


class Migration(migrations.Migration):
    dependencies = [("rules", "0003_staff_groups")]

    operations = [
        migrations.RemoveConstraint(model_name="tierrule", name="rules_tier_once"),
        migrations.RenameField(model_name="tierrule", old_name="tier", new_name="code"),
        migrations.AlterField(
            model_name="tierrule", name="code",
            field=models.CharField(
                help_text="Stored on members and products, e.g. gold. Renaming a tier keeps its code.",
                max_length=16, validators=[rules.models.tier_code_validator], verbose_name="code"),
        ),
        migrations.AddField(
            model_name="tierrule", name="name",
            field=models.CharField(default="", help_text="e.g. 金卡会员", max_length=32,
                                   verbose_name="name (Chinese)"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="tierrule", name="name_en",
            field=models.CharField(blank=True, help_text="e.g. Gold; empty: the Chinese name.",
                                   max_length=32, verbose_name="name (English)"),
        ),
        migrations.AddField(
            model_name="tierrule", name="rank",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="Order of the tiers: 1 is the lowest; a downgrade moves one rank down.",
                validators=[django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(100)],
                verbose_name="rank"),
            preserve_default=False,
        ),
        migrations.RunPython(name_and_rank, migrations.RunPython.noop),
        migrations.AlterModelOptions(
            name="tierrule",
            options={"ordering": ["rank"], "verbose_name": "tier", "verbose_name_plural": "tiers"},
        ),
        migrations.AddConstraint(
            model_name="tierrule",
            constraint=models.UniqueConstraint(fields=("rule_set", "code"), name="rules_tier_once"),
        ),
        migrations.AddConstraint(
            model_name="tierrule",
            constraint=models.UniqueConstraint(fields=("rule_set", "rank"), name="rules_tier_rank_once"),
        ),
        migrations.AddConstraint(
            model_name="tierrule",
            constraint=models.CheckConstraint(condition=models.Q(rank__gte=1), name="rules_tier_rank_positive"),
        ),
        migrations.AlterField(
            model_name="ruleset", name="gray_tiers",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=16), blank=True, default=list, editable=False,
                help_text="Tiers who earn under this candidate regardless of their bucket.", size=None,
                verbose_name="gray tiers"),
        ),
    ]
