"""Rule errors: each carries its machine ``code`` and its ``kind`` (``common.errors``)."""

from django.utils.translation import gettext as _

from common.errors import DomainError, Kind


class RuleSetError(DomainError):
    code = "rule_set_error"
    kind = Kind.REFUSED


class RuleSetLocked(RuleSetError):
    """Only drafts can be edited; clone the version to change it."""

    code = "rule_set_locked"


class InvalidTransition(RuleSetError):
    """The rule set is not in a state that allows this."""

    code = "invalid_transition"


class SameEditor(RuleSetError):
    """The person who last edited a version cannot also release it (four-eyes rule)."""

    code = "same_editor"


class UnknownAction(DomainError, ValueError):
    """The behaviour is not in the rule set. ``action`` is the code asked for."""

    code = "unknown_action"
    kind = Kind.INVALID

    def __init__(self, action: str):
        self.action = action
        super().__init__(_("Unknown action: %(action)s") % {"action": action},
                         fields={"action": [_("This action is not in the rules.")]})


class InvalidTierTable(InvalidTransition):
    """The rule set's tier table breaks a rule (``rules.tiers.table_errors``): it cannot be
    released until it is fixed in the draft."""

    code = "invalid_tier_table"


class TierInUse(InvalidTransition):
    """Releasing the rule set would drop a tier code that members or products still hold."""

    code = "tier_in_use"
