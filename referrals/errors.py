"""Referral errors: each carries its machine ``code`` and its ``kind`` (``common.errors``)."""

from django.utils.translation import gettext_lazy as _

from common.errors import DomainError, Kind


class InviteError(DomainError):
    """An invite code that cannot be bound. Reported as an error of the ``invite_code`` field."""

    code = "invite_error"
    kind = Kind.INVALID

    def __init__(self, message=""):
        super().__init__(message, field="invite_code")


class InvalidInviteCode(InviteError):
    code = "invalid_invite_code"
    default_message = _("No member has this invite code.")


class SelfInvite(InviteError):
    code = "self_invite"
    default_message = _("A member cannot use their own invite code.")


class InviteCycle(InviteError):
    code = "invite_cycle"
    default_message = _("This member was invited, directly or further down, by you: a member "
                        "cannot be their own inviter's ancestor.")


class AlreadyInvited(InviteError):
    code = "already_invited"
    kind = Kind.REFUSED
    default_message = _("This member already has an inviter; it never changes.")


class InviteClosed(InviteError):
    code = "invite_closed"
    kind = Kind.REFUSED
    default_message = _("An inviter can only be bound before the member's first paid order and "
                        "first invitee.")


class UnknownMerchant(DomainError):
    code = "unknown_merchant"
    kind = Kind.INVALID
    default_message = _("No active merchant has this code.")

    def __init__(self, message=""):
        super().__init__(message, field="merchant")


class PlanError(DomainError):
    code = "plan_error"
    kind = Kind.REFUSED


class PlanLocked(PlanError):
    code = "plan_locked"
    default_message = _("Only a draft plan can be edited; clone it to change it.")


class PlanTransition(PlanError):
    code = "invalid_transition"
    default_message = _("The plan is not in a state that allows this.")


class PlanSameEditor(PlanError):
    code = "same_editor"
    default_message = _("The person who last edited a plan cannot also publish it (four eyes).")


class PlanInvalid(PlanError):
    """A plan that breaks a guardrail; ``fields`` names the fields."""

    code = "invalid_plan"
    kind = Kind.INVALID
