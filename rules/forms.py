"""Admin forms for rule sets: the scalar policies, cross-row checks on the rule tables, and the
intermediate form of a gray release.

Field-level messages come from the model validators (``full_clean`` runs on every form); the
checks here are the ones a single row cannot see, shown as form errors on the rule-set page.
"""

from __future__ import annotations

from django import forms
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from rules.models import RuleSet, validate_reminder_days
from rules.segments import Segment
from rules.services import POLICY_FIELDS
from rules.tiers import table_errors, tier_choices


def _amount(value) -> str:
    return f"{value.normalize():f}"  # 100.00 -> "100", 99.50 -> "99.5"


class RuleSetForm(forms.ModelForm):
    class Meta:
        model = RuleSet
        fields = POLICY_FIELDS

    def clean_reminder_days(self):
        # Store the days in one canonical form (descending, without repeats): " 7, 30 ,30" -> "30,7".
        value = self.cleaned_data["reminder_days"]
        validate_reminder_days(value)  # the model's validator runs later, after this method
        days = sorted({int(part) for part in value.split(",") if part.strip()}, reverse=True)
        return ",".join(str(day) for day in days)

    def clean(self):
        cleaned = super().clean()
        window, grace = cleaned.get("tier_window_days"), cleaned.get("tier_grace_days")
        if window is not None and grace is not None and grace > window:
            self.add_error("tier_grace_days", _("The downgrade grace cannot be longer than the tier window."))
        return cleaned


class RuleTableFormSet(BaseInlineFormSet):
    """Base for the rule-table inlines: ``rows()`` gives the rows that will exist after saving,
    ``changes()`` what saving writes (through ``rules.services``, never ``formset.save()``)."""

    def changes(self) -> tuple[list, list]:
        """``(rows to save, rows to delete)``: the new and changed rows with their rule set set,
        and the existing rows marked for deletion."""
        saved = self.save(commit=False)
        return saved, list(self.deleted_objects)

    def rows(self) -> list[dict]:
        return [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]


class TierRuleFormSet(RuleTableFormSet):
    """The tier table: staff add, rename and re-order tiers (``rules.tiers.table_errors`` says
    what a table must be). Dropping a code members still hold is refused when releasing."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        errors = table_errors(self.rows())
        if errors:
            raise forms.ValidationError(errors)


class SpendTierFormSet(RuleTableFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        rows = sorted(self.rows(), key=lambda row: row["threshold"])
        for lower, higher in zip(rows, rows[1:], strict=False):
            if higher["threshold"] == lower["threshold"]:
                continue  # the unique check reports it
            if higher["bonus_points"] <= lower["bonus_points"]:
                raise forms.ValidationError(
                    _("Bonus points must rise with the order amount: 满%(high)s gives %(high_bonus)s, "
                      "not more than 满%(low)s (%(low_bonus)s).")
                    % {"high": _amount(higher["threshold"]), "high_bonus": higher["bonus_points"],
                       "low": _amount(lower["threshold"]), "low_bonus": lower["bonus_points"]}
                )


class CheckInStepFormSet(RuleTableFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        days = sorted(row["day"] for row in self.rows())
        if days and days[0] != 1:
            # A streak starts on day 1: without a step for it, the first check-ins earn nothing.
            raise forms.ValidationError(_("The check-in streak must start with day 1."))


class GrayReleaseForm(forms.Form):
    percent = forms.IntegerField(
        label=_("Percentage of members"), min_value=0, max_value=100,
        help_text=_("Members whose stable bucket (0-99) is below this number earn under this version."),
    )
    tiers = forms.MultipleChoiceField(
        label=_("Tiers"), choices=tier_choices, required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("Members of these tiers earn under this version whatever their bucket."),
    )
    segments = forms.MultipleChoiceField(
        label=_("RFM segments"), choices=Segment.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Members of these RFM segments (from the last nightly run) earn under this "
                    "version whatever their bucket."),
    )

    def __init__(self, *args, rule_set: RuleSet | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rule_set = rule_set

    def clean(self):
        cleaned = super().clean()
        percent, tiers = cleaned.get("percent"), cleaned.get("tiers") or []
        segments = cleaned.get("segments") or []
        if percent is None:
            return cleaned
        if percent == 0 and not tiers and not segments:
            raise forms.ValidationError(
                _("Choose a percentage above 0, at least one tier or one RFM segment."))
        current = self.rule_set
        if current is not None and current.status == "candidate":
            if percent < current.gray_percent or not set(current.gray_tiers) <= set(tiers):
                raise forms.ValidationError(
                    _("A gray release can only be widened (at least %(percent)s%% and the tiers it "
                      "already has); stop it to narrow it.") % {"percent": current.gray_percent}
                )
            if not set(current.gray_segments) <= set(segments):
                raise forms.ValidationError(
                    _("A gray release can only be widened (the RFM segments it already has); stop "
                      "it to narrow it."))
        return cleaned
