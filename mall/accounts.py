"""Services for a member's own account: sign-up and profile (the API and the pages share them).

Errors are DRF ``ValidationError``s keyed by field, as both callers show them next to the input.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from mall.models import Member
from points.services import earning
from rules.evaluator import UnknownAction


@dataclass(frozen=True)
class Registration:
    member: Member
    points: int  # what the ``register`` behaviour earned (0 without such a rule)


def register_member(*, username: str, password: str, phone: str | None = None,
                    now=None) -> Registration:
    """Create a member who logs in with ``username`` and ``password`` and credit the ``register``
    behaviour, in one transaction (a refused sign-up writes nothing).

    Usernames are unique ignoring case (``Alice`` cannot sign up next to ``alice``), phones are
    unique; the password must pass ``AUTH_PASSWORD_VALIDATORS``. Raises ``ValidationError`` with
    the failing fields. The points use the same key as a member created by the shop's hook
    (``register:{member id}``), so a member earns them once whichever way they arrived.
    """
    now = now or timezone.now()
    phone = phone or None
    candidate = Member(username=username, phone=phone)
    errors = {}
    try:
        password_validation.validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    errors.update(_taken(username, phone))
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        try:
            with transaction.atomic():
                member = Member.objects.create_user(username=username, password=password,
                                                    phone=phone, date_joined=now)
        except IntegrityError:
            # Someone took the username or phone between the check and the insert.
            raise ValidationError(_taken(username, phone) or {
                "username": [_("This username is taken by another member.")]
            }) from None
        try:
            points, _reason = earning.record_behaviour(
                member, action="register", occurred_at=now, key=f"register:{member.pk}"
            )
        except UnknownAction:
            points = 0
    return Registration(member, points)


def _taken(username: str, phone: str | None) -> dict:
    errors = {}
    if Member.objects.filter(username__iexact=username).exists():
        errors["username"] = [_("This username is taken by another member.")]
    if phone and Member.objects.filter(phone=phone).exists():
        errors["phone"] = [_("This phone number is taken by another member.")]
    return errors


def update_profile(member: Member, *, nickname: str) -> Member:
    """Change what the member may change about themselves (for now their nickname).

    Stored as given: pages and apps escape it when they show it.
    """
    member.nickname = nickname
    member.save(update_fields=["nickname"])
    return member
