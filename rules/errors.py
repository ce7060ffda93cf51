"""Rule-set life-cycle errors, each with a machine-readable ``code``."""


class RuleSetError(Exception):
    code = "rule_set_error"

    def __init__(self, message: str = ""):
        self.message = message or (self.__class__.__doc__ or "").strip()
        super().__init__(self.message)


class RuleSetLocked(RuleSetError):
    """Only drafts can be edited; clone the version to change it."""

    code = "rule_set_locked"


class InvalidTransition(RuleSetError):
    """The rule set is not in a state that allows this."""

    code = "invalid_transition"


class SameEditor(RuleSetError):
    """The person who last edited a version cannot also release it (four-eyes rule)."""

    code = "same_editor"
