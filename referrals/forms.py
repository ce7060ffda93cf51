"""Admin forms for referrals: the reward-plan draft form.

The form checks a plan with the same guardrails the services enforce (``plans.validate``), so a
plan that could not be saved is refused on the page, field by field, before anything is written;
the write itself (and its final refusal, should the draft change meanwhile) is
``plans.create_draft`` or ``plans.save_draft``.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS

from referrals.errors import PlanInvalid
from referrals.models import RewardPlan
from referrals.services import plans


class RewardPlanForm(forms.ModelForm):
    class Meta:
        model = RewardPlan
        fields = plans.PLAN_FIELDS

    def _post_clean(self):
        # What the form could not read (not a number...) keeps that error alone; for the rest the
        # guardrail's message replaces the model validator's ("Ensure this value is less than or
        # equal to 3."): it says why, and it is the message the service would give.
        unread = set(self._errors)
        own = self._errors.get(NON_FIELD_ERRORS)
        super()._post_clean()
        try:
            plans.validate(self.instance)
        except PlanInvalid as error:
            # The model's check constraints hold the same limits once more; their messages
            # ("Constraint “referrals_shares_within_budget” is violated.") would only repeat them.
            if own is None:
                self._errors.pop(NON_FIELD_ERRORS, None)
            else:
                self._errors[NON_FIELD_ERRORS] = own
            for name, messages in error.fields.items():
                if name in unread:
                    continue
                if name in self.fields:
                    self._errors.pop(name, None)
                    self.add_error(name, messages)
                else:
                    self.add_error(None, messages)
