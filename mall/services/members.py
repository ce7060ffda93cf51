"""Members: sign-up, the shop's upsert, profile and phone changes — every write to ``Member``.

Usernames are unique ignoring case (``Alice`` cannot exist beside ``alice``) and phones are
unique. The database enforces both (``UniqueConstraint(Lower("username"))`` and the unique
``phone_index``, the phone's blind index: the phone itself is encrypted); :func:`_taken` checks
them first, in one place, so a clash is a field error (``InvalidFields``) and not an
``IntegrityError``; a clash with a concurrent writer between the check and the insert
is caught and reported the same way.

A new member earns the ``register`` behaviour once, under the key ``register:{member id}``, and
gets the ``welcome`` message once (period ``join``), whichever way they arrived (the pages, the API
or the shop's hook), in the transaction that creates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import pricing
from common.errors import InvalidFields
from common.pii import index_for
from mall.errors import MemberNotFound
from mall.models import Member, TierChange
from mall.services import messages, tiers
from points.services import earning
from referrals.errors import InviteError
from referrals.services import tree
from rules.errors import UnknownAction
from rules.tiers import default_tier_code, tier_codes


@dataclass(frozen=True)
class Registration:
    member: Member
    points: int  # what the ``register`` behaviour earned (0 without such a rule)


def register(*, username: str, password: str, phone: str | None = None,
             invite_code: str | None = None, now: datetime | None = None) -> Registration:
    """Create a member who logs in with ``username`` and ``password``, bind the holder of
    ``invite_code`` as their inviter, credit the ``register`` behaviour and send the welcome
    message, in one transaction (a refused sign-up writes nothing).

    The password must pass ``AUTH_PASSWORD_VALIDATORS``. Raises ``InvalidFields`` naming the
    failing fields (``password``, ``username``, ``phone``, ``invite_code``), or
    ``referrals.errors.InvalidInviteCode`` when the code is all that is wrong.
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
    if invite_code:
        try:
            tree.check_code(invite_code)
        except InviteError as exc:
            if not errors:
                raise
            errors.update(exc.fields)
    if errors:
        raise InvalidFields(errors)

    with transaction.atomic():
        try:
            with transaction.atomic():
                member = Member.objects.create_user(username=username, password=password,
                                                    phone=phone, date_joined=now,
                                                    tier=default_tier_code())
        except IntegrityError:
            # Someone took the username or phone between the check and the insert.
            raise InvalidFields(_taken(username, phone) or {
                "username": [_("This username is taken by another member.")]
            }) from None
        tree.ensure_nodes([member.pk])
        if invite_code:
            tree.bind(member, invite_code, now=now)
        points = _register_points(member, now)
        _welcome(member, now)
    return Registration(member, points)


def upsert_from_shop(*, external_id: str, fields: dict,
                     now: datetime | None = None) -> tuple[Member, bool, int]:
    """Create or update the member with the shop's ``external_id``; returns
    ``(member, created, register points)``.

    ``fields`` may hold ``username`` (default ``ext_{external_id}`` for a new member), ``phone``,
    ``nickname``, ``tier`` (a published tier's code, recorded as a ``TierChange`` "set by the
    shop" when it changes) and ``invite_code`` (the inviter, bound once: see
    ``referrals.services.tree.bind``); absent fields are left alone. A new member has no usable
    password (they log in through the shop), earns the ``register`` behaviour once (0 if the
    rules have no such behaviour) and gets the welcome message; an update sends nothing. A
    username or phone held by another member raises ``InvalidFields``; an invite code that cannot
    be bound, a ``referrals.errors.InviteError``.
    """
    now = now or timezone.now()
    fields = dict(fields)
    invite_code = fields.pop("invite_code", None)
    tier = fields.pop("tier", None)
    if tier is not None and tier not in tier_codes():
        raise InvalidFields({"tier": [_("“%(code)s” is not a tier.") % {"code": tier}]})
    with transaction.atomic():
        member = Member.objects.select_for_update().filter(external_id=external_id).first()
        created = member is None
        if created:
            member = Member(external_id=external_id, username=f"ext_{external_id}", date_joined=now,
                            tier=default_tier_code())
            member.set_unusable_password()
        for name, value in fields.items():
            setattr(member, name, value)

        def created_meanwhile() -> bool:
            # A concurrent delivery created this member after our read (its default username
            # then looks taken, or its row collides with ours): update it instead.
            return created and Member.objects.filter(external_id=external_id).exists()

        def as_update():
            return upsert_from_shop(external_id=external_id, now=now, fields={
                **fields, **({"invite_code": invite_code} if invite_code else {}),
                **({"tier": tier} if tier is not None else {})})

        try:
            _refuse_taken(member)
        except InvalidFields:
            if created_meanwhile():
                return as_update()
            raise
        try:
            with transaction.atomic():
                member.save()
        except IntegrityError:
            if created_meanwhile():
                return as_update()
            _refuse_taken(member)  # a username or phone taken meanwhile: a field error, not a 500
            raise
        if created:
            tree.ensure_nodes([member.pk])
        if tier is not None:  # recorded as a tier change, like the nightly re-evaluation's
            tiers.set_tier(member, tier, reason=TierChange.Reason.SHOP, now=now)
        if invite_code:
            tree.bind(member, invite_code, now=now)
        points = 0
        if created:
            points = _register_points(member, now)
            _welcome(member, now)
    return member, created, points


def by_external_id(external_id: str) -> Member:
    """The member with the shop's user id; raises ``MemberNotFound``."""
    member = Member.objects.filter(external_id=external_id).first()
    if member is None:
        raise MemberNotFound(_("No member with external id %(id)s.") % {"id": external_id})
    return member


def update_profile(member: Member, *, nickname: str) -> Member:
    """Change what the member may change about themselves (for now their nickname).

    Stored as given: pages and apps escape it when they show it.
    """
    member.nickname = nickname
    member.save(update_fields=["nickname"])
    return member


def change_phone(member: Member, *, phone: str | None) -> Member:
    """Give the member another phone number (``None`` removes it). Raises ``InvalidFields``
    (``phone``) when another member holds it, also when they took it a moment ago."""
    phone = phone or None
    if phone == member.phone:
        return member
    errors = _taken(None, phone, exclude_pk=member.pk)
    if errors:
        raise InvalidFields(errors)
    try:
        with transaction.atomic():
            # update() runs no save(): the blind index is set beside the (encrypted) phone.
            Member.objects.filter(pk=member.pk).update(
                phone=phone, phone_index=index_for(Member, "phone", phone))
    except IntegrityError:
        raise InvalidFields(_taken(None, phone, exclude_pk=member.pk) or {
            "phone": [_("This phone number is taken by another member.")]
        }) from None
    member.phone = phone
    member.phone_index = index_for(Member, "phone", phone)
    return member


def _register_points(member: Member, now: datetime) -> int:
    try:
        points, _reason = earning.record_behaviour(
            member, action="register", occurred_at=now, key=f"register:{member.pk}"
        )
    except UnknownAction:
        points = 0
    return points


def _welcome(member: Member, now: datetime) -> None:
    """The ``welcome`` message with the welcome offer of the member's rule book (``catalog.pricing``;
    0 points in 0 days without a published rule set), once: period ``join``."""
    book = pricing.book_for(member)
    messages.send(member, "welcome", period="join", now=now, context={
        "name": str(member),
        "discount": book.new_member_redemption_discount if book else 0,
        "days": book.new_member_days if book else 0,
    })


def _refuse_taken(member: Member) -> None:
    errors = _taken(member.username, member.phone, exclude_pk=member.pk)
    if errors:
        raise InvalidFields(errors)


def _taken(username: str | None, phone: str | None, *, exclude_pk: int | None = None) -> dict:
    """Field errors for a username (ignoring case) or phone that another member holds."""
    others = Member.objects.exclude(pk=exclude_pk) if exclude_pk else Member.objects.all()
    errors = {}
    # Lower() on both sides, as the unique index computes it (not Python's str.lower()).
    if username and others.alias(name=Lower("username")).filter(name=Lower(Value(username))).exists():
        errors["username"] = [_("This username is taken by another member.")]
    if phone and others.filter(phone_index=index_for(Member, "phone", phone)).exists():
        errors["phone"] = [_("This phone number is taken by another member.")]
    return errors
