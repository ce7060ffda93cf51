"""A member's credentials and the account's end: ``change_password``, ``revoke_tokens`` and
``close_account`` (PIPL's right to deletion).

Revoking tokens signs the member out of every app at once: every outstanding refresh token is
blacklisted (simplejwt's token_blacklist) and ``Member.tokens_valid_after`` is set, so that
``mall.authentication`` refuses any access or refresh token issued before it (401
``token_revoked``). A password change revokes them; so does closing the account.

Closing. In one transaction, locks in the ledger's order (``points.services.lock_objects``): the
member's row (FOR UPDATE: their username, phone and external id change), then, through the
points service, their account. It is refused while something is still open:
``OpenRedemptions`` (a redemption awaiting shipment or payment: the address is needed until it
ships) and ``HeldPoints`` (a checkout hold, an auction bid or an unpaid payment holding points,
which ``points.services.forfeit`` refuses). Then the remaining points are forfeited with one
``forfeit`` entry (debt written off), and the personal data is erased from the row, the saved
addresses and the redemptions' shipping texts; the ledger's entries stay under the anonymised
account. The username is replaced so it is free to register again, the password made
unusable, the account inactive, staff rights and two-factor devices dropped, the invite code
retired. The audit record (``account.close``) carries no personal data.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from catalog.models import Redemption, RedemptionStatus
from catalog.services.addresses import erase_member_addresses
from common import audit
from common.errors import InvalidFields
from common.text import stored_text
from mall.errors import AccountClosed, HeldPoints, OpenRedemptions
from mall.models import Member
from points import services as points
from points.errors import PointsHeld
from referrals.services import tree

# Redemptions that keep an account open: not shipped yet, or not paid yet.
OPEN_REDEMPTION_STATUSES = (RedemptionStatus.CREATED, RedemptionStatus.AWAITING_PAYMENT)
CLOSED_USERNAME_PREFIX = "closed-"


def revoke_tokens(member: Member, *, now: datetime | None = None) -> int:
    """Blacklist every outstanding refresh token of ``member`` and refuse every token issued
    before ``now`` (``Member.tokens_valid_after``); returns how many refresh tokens were
    blacklisted. Joins the caller's transaction."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    now = now or timezone.now()
    with transaction.atomic():
        ids = list(OutstandingToken.objects.filter(user_id=member.pk, expires_at__gt=now,
                                                   blacklistedtoken__isnull=True)
                   .values_list("id", flat=True))
        BlacklistedToken.objects.bulk_create([BlacklistedToken(token_id=pk) for pk in ids],
                                             ignore_conflicts=True)
        Member.objects.filter(pk=member.pk).update(tokens_valid_after=now)
    member.tokens_valid_after = now
    return len(ids)


def change_password(member: Member, *, current_password: str, new_password: str,
                    now: datetime | None = None) -> Member:
    """Set a new password after checking the current one, and revoke every token of the member
    (the session that asks keeps itself signed in: ``update_session_auth_hash``, the page's
    business). Raises ``InvalidFields`` on ``current_password`` (wrong) or ``new_password``
    (``AUTH_PASSWORD_VALIDATORS``)."""
    member = _concrete(member)
    if not member.has_usable_password() or not member.check_password(current_password):
        raise InvalidFields({"current_password": [_("The current password is not correct.")]})
    try:
        password_validation.validate_password(new_password, user=member)
    except DjangoValidationError as exc:
        raise InvalidFields({"new_password": list(exc.messages)}) from None
    with transaction.atomic():
        member.set_password(new_password)
        member.save(update_fields=["password"])
        revoke_tokens(member, now=now)
        audit.record("account.password_change", member, actor=member)
    return member


def _concrete(member: Member) -> Member:
    """The member itself, not the request's lazy ``request.user`` around it (the audit trail
    reads the object's type)."""
    while type(member) is not Member and hasattr(member, "_wrapped"):  # django-otp wraps it twice
        member.pk  # noqa: B018  (evaluates the lazy object)
        member = member._wrapped
    return member


@dataclass(frozen=True)
class Closing:
    member: Member
    forfeited: int  # points forfeited (the forfeit entry's delta, negated; 0 without one)
    entry_id: int | None


def close_account(member: Member, *, password: str, now: datetime | None = None) -> Closing:
    """Close ``member``'s account (see the module docstring) after checking their ``password``.

    Raises ``InvalidFields`` on ``password`` (wrong), ``AccountClosed`` (closed already),
    ``OpenRedemptions`` and ``HeldPoints`` (something still open; nothing is written then).
    """
    member = _concrete(member)
    if member.closed_at is not None:
        raise AccountClosed()
    # Hashing is slow: checked before any lock is taken.
    if not member.has_usable_password() or not member.check_password(password):
        raise InvalidFields({"password": [_("The password is not correct.")]})
    now = now or timezone.now()
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        if locked.closed_at is not None:
            raise AccountClosed()
        if Redemption.objects.filter(member_id=locked.pk,
                                     status__in=OPEN_REDEMPTION_STATUSES).exists():
            raise OpenRedemptions()
        try:
            entry = points.forfeit(locked, key=f"close:{locked.pk}", reason=stored_text(
                gettext_noop("Account closed: remaining points forfeited")))
        except PointsHeld:
            raise HeldPoints() from None
        erased = erase_member_addresses(locked)
        _erase_member(locked, now)
        tree.retire_code(locked.pk)
        revoked = revoke_tokens(locked, now=now)
        forfeited = -entry.delta if entry is not None else 0
        audit.record("account.close", locked, actor=locked, data={
            "forfeited_points": forfeited, "forfeit_entry": entry.pk if entry is not None else None,
            "addresses_deleted": erased["addresses"], "redemption_addresses_erased": erased["redemptions"],
            "refresh_tokens_revoked": revoked,
        })
    member.__dict__.update({name: getattr(locked, name) for name in ERASED_FIELDS})
    return Closing(locked, forfeited, entry.pk if entry is not None else None)


ERASED_FIELDS = ("username", "phone", "email", "first_name", "last_name", "nickname", "external_id",
                 "password", "is_active", "is_staff", "is_superuser", "closed_at")


def _erase_member(member: Member, now: datetime) -> None:
    from auditlog.context import disable_auditlog
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    member.username = f"{CLOSED_USERNAME_PREFIX}{member.pk}-{secrets.token_hex(4)}"
    member.phone = None
    member.email = ""
    member.first_name = ""
    member.last_name = ""
    member.nickname = ""
    member.external_id = None
    member.set_unusable_password()
    member.is_active = False
    member.is_staff = False
    member.is_superuser = False
    member.closed_at = now
    # Not through a model diff of the audit trail: its old values are the personal data erased.
    with disable_auditlog():
        member.save(update_fields=list(ERASED_FIELDS))
    member.groups.clear()
    member.user_permissions.clear()
    TOTPDevice.objects.filter(user=member).delete()
    StaticDevice.objects.filter(user=member).delete()
