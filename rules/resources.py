"""Import/export of the rule tables (django-import-export), one resource per table.

Rows are keyed by (rule-set version, key column), e.g. (5, "gold") for a tier, so a
file exported from one version imports into a draft after changing its ``version`` column.
Only drafts take imports (``rules.services.check_editable``): a row for any other version, or an
unknown one, is a row error, and any bad row leaves the whole file unimported (the admin previews
with a dry run first). The rule sets named in the file are locked before the first row is read
(``lock_for_edit``), rows are written by ``rules.services.save_rows``, and a successful import
counts as one edit of each draft it touched (``record_edit``), so the importer cannot also release
it.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import resources, widgets
from import_export.fields import Field
from import_export.results import RowResult

from rules import services
from rules.errors import RuleSetLocked
from rules.models import BehaviourRule, CategoryBonus, CheckInStep, RuleSet, SpendTier, TierRule

VERSION = "version"


def parse_version(value) -> int | None:
    """A version number from a CSV string or an XLSX number (3, "3", 3.0); None if it is not one."""
    if value is None or str(value).strip() == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if number != number.to_integral_value() or number < 1:
        return None
    return int(number)


class VersionWidget(widgets.ForeignKeyWidget):
    """The rule set, written and read as its version number."""

    def __init__(self):
        super().__init__(RuleSet, field="version")

    def clean(self, value, row=None, **kwargs):
        version = parse_version(value)
        if version is None:
            raise ValueError(_("Enter the version number of a draft rule set."))
        return RuleSet.objects.get(version=version)


class RuleTableResource(resources.ModelResource):
    version = Field(attribute="rule_set", column_name=VERSION, widget=VersionWidget())

    class Meta:
        use_transactions = True
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._rule_sets: dict[int, RuleSet] = {}
        self._touched: Counter[int] = Counter()

    def get_queryset(self):
        return super().get_queryset().select_related("rule_set")

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        self._rule_sets, self._touched = {}, Counter()
        if VERSION not in (dataset.headers or []):
            return
        versions = {parse_version(value) for value in dataset[VERSION]} - {None}
        # Locked until the import commits, so the editability checked below still holds then.
        locked = services.lock_for_edit(RuleSet.objects.filter(version__in=versions))
        self._rule_sets = {rule_set.version: rule_set for rule_set in locked}

    def before_import_row(self, row, **kwargs):
        super().before_import_row(row, **kwargs)
        version = parse_version(row.get(VERSION))
        if version is None:
            raise ValidationError({VERSION: _("Enter the version number of a draft rule set.")})
        rule_set = self._rule_sets.get(version)
        if rule_set is None:
            raise ValidationError({VERSION: _("There is no rule set v%(version)s.") % {"version": version}})
        try:
            services.check_editable(rule_set)
        except RuleSetLocked:
            message = _("v%(version)s is %(status)s: only drafts can be imported into; clone it "
                        "as a draft first.")
            message %= {"version": version, "status": rule_set.get_status_display()}
            raise ValidationError({VERSION: message}) from None

    def do_instance_save(self, instance, is_create):
        services.save_rows(instance.rule_set, [instance])

    def after_import_row(self, row, row_result, **kwargs):
        super().after_import_row(row, row_result, **kwargs)
        if row_result.import_type in (RowResult.IMPORT_TYPE_NEW, RowResult.IMPORT_TYPE_UPDATE):
            self._touched[parse_version(row.get(VERSION))] += 1

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        if kwargs.get("dry_run") or result.has_errors() or result.has_validation_errors():
            return
        table = self._meta.model._meta.verbose_name_plural
        file_name = kwargs.get("file_name") or ""
        for version, count in sorted(self._touched.items()):
            detail = _("import: %(count)s row(s) of %(table)s") % {"count": count, "table": table}
            if file_name:
                detail += f" ({file_name})"
            services.record_edit(self._rule_sets[version], actor=kwargs.get("user"), detail=detail)


class TierRuleResource(RuleTableResource):
    class Meta(RuleTableResource.Meta):
        model = TierRule
        fields = export_order = (VERSION, "code", "rank", "name", "name_en", "multiplier", "qualify_points")
        import_id_fields = (VERSION, "code")


class CategoryBonusResource(RuleTableResource):
    class Meta(RuleTableResource.Meta):
        model = CategoryBonus
        fields = export_order = (VERSION, "category", "label", "bonus_percent")
        import_id_fields = (VERSION, "category")


class SpendTierResource(RuleTableResource):
    class Meta(RuleTableResource.Meta):
        model = SpendTier
        fields = export_order = (VERSION, "threshold", "bonus_points")
        import_id_fields = (VERSION, "threshold")


class BehaviourRuleResource(RuleTableResource):
    class Meta(RuleTableResource.Meta):
        model = BehaviourRule
        fields = export_order = (
            VERSION, "action", "label", "points", "photo_bonus_percent", "daily_limit", "lifetime_limit",
        )
        import_id_fields = (VERSION, "action")


class CheckInStepResource(RuleTableResource):
    class Meta(RuleTableResource.Meta):
        model = CheckInStep
        fields = export_order = (VERSION, "day", "points")
        import_id_fields = (VERSION, "day")


RESOURCES = {
    TierRule: TierRuleResource,
    CategoryBonus: CategoryBonusResource,
    SpendTier: SpendTierResource,
    BehaviourRule: BehaviourRuleResource,
    CheckInStep: CheckInStepResource,
}
