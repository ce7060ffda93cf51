"""The rule tables in the admin: the inlines that edit a draft's tables on its page (editable
only while it is a draft, as ``rules.services.is_editable`` decides), and each table on its own
across versions, read-only, with CSV/XLSX import into drafts and export
(``rules.resources``)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.utils.translation import gettext_lazy as _
from import_export.formats import base_formats
from unfold.admin import TabularInline

from common.admin import AllOrNothingImport, ImportExportAdmin, ReadOnlyAdminMixin
from rules import services
from rules.forms import CheckInStepFormSet, RuleTableFormSet, SpendTierFormSet, TierRuleFormSet
from rules.models import BehaviourRule, CategoryBonus, CheckInStep, SpendTier, TierRule
from rules.resources import RESOURCES
from rules.tiers import published_tiers


class RuleTableInline(TabularInline):
    """A table of a rule set: editable while the rule set is a draft, read-only afterwards."""

    extra = 0
    formset = RuleTableFormSet

    @staticmethod
    def _editable(rule_set) -> bool:
        return rule_set is None or services.is_editable(rule_set)

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class TierRuleInline(RuleTableInline):
    model = TierRule
    formset = TierRuleFormSet
    fields = ("rank", "code", "name", "name_en", "multiplier", "qualify_points")

    def get_extra(self, request, obj=None, **kwargs):
        # A new rule set needs at least the published tiers (members hold their codes).
        return max(len(published_tiers()), 1) if obj is None else 0


class CategoryBonusInline(RuleTableInline):
    model = CategoryBonus
    fields = ("category", "label", "bonus_percent")


class SpendTierInline(RuleTableInline):
    model = SpendTier
    formset = SpendTierFormSet
    fields = ("threshold", "bonus_points")


class BehaviourRuleInline(RuleTableInline):
    model = BehaviourRule
    fields = ("action", "label", "points", "photo_bonus_percent", "daily_limit", "lifetime_limit")


class CheckInStepInline(RuleTableInline):
    model = CheckInStep
    formset = CheckInStepFormSet
    fields = ("day", "points")


class RuleTableAdmin(ReadOnlyAdminMixin, AllOrNothingImport, ImportExportAdmin):
    """A rule table across versions: read-only lists (rows are edited on the rule-set page) with
    CSV/XLSX import into drafts and export. Import needs add and change permission on the table."""

    formats = [base_formats.CSV, base_formats.XLSX]
    list_filter = ("rule_set__status", "rule_set")
    list_select_related = ("rule_set",)

    @admin.display(description=_("version"), ordering="rule_set__version")
    def version(self, obj):
        return obj.rule_set.version

    def get_resource_classes(self, request):
        return [RESOURCES[self.model]]


    def has_import_permission(self, request):
        opts = self.opts
        return all(
            request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in ("add", "change")
        )

    def has_export_permission(self, request):
        return self.has_view_permission(request)



@admin.register(TierRule)
class TierRuleAdmin(RuleTableAdmin):
    list_display = ("version", "rank", "code", "name", "name_en", "multiplier", "qualify_points")


@admin.register(CategoryBonus)
class CategoryBonusAdmin(RuleTableAdmin):
    list_display = ("version", "category", "label", "bonus_percent")
    search_fields = ("category", "label")


@admin.register(SpendTier)
class SpendTierAdmin(RuleTableAdmin):
    list_display = ("version", "threshold", "bonus_points")


@admin.register(BehaviourRule)
class BehaviourRuleAdmin(RuleTableAdmin):
    list_display = ("version", "action", "label", "points", "photo_bonus_percent", "daily_limit",
                    "lifetime_limit")
    search_fields = ("action", "label")


@admin.register(CheckInStep)
class CheckInStepAdmin(RuleTableAdmin):
    list_display = ("version", "day", "points")
