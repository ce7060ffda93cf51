"""The rule tables in the admin: the inlines that edit a draft's tables on its page (editable
only while it is a draft, as ``rules.services.is_editable`` decides), and each table on its own
across versions, read-only, with CSV/XLSX import into drafts and export
(``rules.resources``)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.formats import base_formats
from unfold.admin import TabularInline
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from common.admin import AllOrNothingImport, ImportExportAdmin, ReadOnlyAdminMixin
from rules import choices, services
from rules.forms import CheckInStepFormSet, RuleTableFormSet, SpendTierFormSet, TierRuleFormSet
from rules.models import BehaviourRule, CategoryBonus, CheckInStep, SpendTier, TierRule
from rules.resources import RESOURCES
from rules.tiers import published_tiers


class CodeInput(UnfoldAdminTextInputWidget):
    """A code typed for a new row, with the known codes and their names offered as a list."""

    def __init__(self, options=(), attrs=None):
        super().__init__(attrs)
        self.options = list(options)

    def render(self, name, value, attrs=None, renderer=None):
        # Rendered here, not by a template: the form renderer reads only the apps' templates.
        list_id = f"{(attrs or {}).get('id', name)}-known"
        attrs = {**(attrs or {}), "list": list_id}
        options = format_html_join("", '<option value="{}">{}</option>', self.options)
        return format_html('{}<datalist id="{}">{}</datalist>',
                           super().render(name, value, attrs, renderer), list_id, options)


class CodeChoiceForm(forms.ModelForm):
    """A rule-table row whose code (a tier, a category, a behaviour action) is picked by name.

    An existing row picks its code from the known ones (``rules.choices``: this rule set's and the
    published one's), so a typo cannot orphan the members, products or shop events that carry it,
    and an unknown code is refused. A new row may bring a new code (a draft adds 铂金 or a new
    category): it is typed, with the known ones offered as a list, and checked by the model's
    validator."""

    code_field = ""

    @staticmethod
    def known(rule_set) -> list[tuple[str, str]]:
        raise NotImplementedError

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        rule_set = self.instance.rule_set if self.instance.rule_set_id else None
        known = self.known(rule_set)
        self.known_codes = {code for code, _label in known}
        self.known_labels = [label for _code, label in known]
        field = self.fields.get(self.code_field)
        if field is None:
            return
        if self.instance.pk is not None:
            field.widget = UnfoldAdminSelectWidget(choices=[("", "---------"), *known])
        else:
            field.widget = CodeInput(known)

    def _clean_code(self):
        value = self.cleaned_data[self.code_field]
        if self.instance.pk is not None and value and value not in self.known_codes:
            raise forms.ValidationError(
                gettext("“%(code)s” is not in the list; pick one of %(names)s.")
                % {"code": value, "names": ", ".join(self.known_labels) or "-"},
                code="invalid_choice",
            )
        return value


class TierRuleForm(CodeChoiceForm):
    code_field = "code"
    known = staticmethod(choices.tier_choices)

    def clean_code(self):
        return self._clean_code()


class CategoryBonusForm(CodeChoiceForm):
    code_field = "category"
    known = staticmethod(choices.category_choices)

    def clean_category(self):
        return self._clean_code()


class BehaviourRuleForm(CodeChoiceForm):
    code_field = "action"
    known = staticmethod(choices.action_choices)

    def clean_action(self):
        return self._clean_code()


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
    form = TierRuleForm
    formset = TierRuleFormSet
    fields = ("rank", "code", "name", "name_en", "multiplier", "qualify_points")

    def get_extra(self, request, obj=None, **kwargs):
        # A new rule set needs at least the published tiers (members hold their codes).
        return max(len(published_tiers()), 1) if obj is None else 0


class CategoryBonusInline(RuleTableInline):
    model = CategoryBonus
    form = CategoryBonusForm
    fields = ("category", "label", "bonus_percent")


class SpendTierInline(RuleTableInline):
    model = SpendTier
    formset = SpendTierFormSet
    fields = ("threshold", "bonus_points")


class BehaviourRuleInline(RuleTableInline):
    model = BehaviourRule
    form = BehaviourRuleForm
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
