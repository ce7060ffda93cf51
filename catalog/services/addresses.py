"""A member's saved shipping addresses: ``add_address``, ``update_address``, ``remove_address``
and ``set_default``.

At most one default per member (the partial unique index ``catalog_address_one_default``); the
member's first address becomes the default, and removing the default makes the newest remaining
one the default. Each call locks the member's row first (``catalog.services``' lock order), so
two calls of one member never race for the default. Fields are validated here
(``InvalidFields``, per field, as a form shows them); a redemption keeps a text snapshot, so
editing or removing an address never changes one made with it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from catalog.errors import AddressNotFound, TooManyAddresses
from catalog.models import Address
from catalog.services._helpers import _lock_member
from common.errors import InvalidFields

FIELDS = ("recipient", "phone", "region", "detail")
MAX_ADDRESSES = 20


def _clean(values: dict) -> dict:
    cleaned, errors = {}, {}
    for name in FIELDS:
        value = values.get(name, "")
        field = Address._meta.get_field(name)
        if not isinstance(value, str) or not value.strip():
            errors[name] = [_("This field is required.")]
            continue
        value = value.strip()
        try:
            field.clean(value, None)
        except ValidationError as exc:
            errors[name] = [str(message) for message in exc.messages]
            continue
        cleaned[name] = value
    if errors:
        raise InvalidFields(errors)
    return cleaned


def _own(member, address) -> Address:
    address_id = getattr(address, "pk", address)
    found = (Address.objects.select_for_update().filter(pk=address_id, member_id=member.pk).first()
             if type(address_id) is int else None)
    if found is None:
        raise AddressNotFound()
    return found


def add_address(member, *, recipient, phone, region, detail, is_default=False) -> Address:
    """Save a new address; the member's first one (or ``is_default``) becomes the default."""
    cleaned = _clean({"recipient": recipient, "phone": phone, "region": region, "detail": detail})
    with transaction.atomic():
        _lock_member(member.pk)
        existing = Address.objects.filter(member_id=member.pk)
        if existing.count() >= MAX_ADDRESSES:
            raise TooManyAddresses(MAX_ADDRESSES)
        make_default = bool(is_default) or not existing.exists()
        if make_default:
            existing.filter(is_default=True).update(is_default=False)
        return Address.objects.create(member=member, is_default=make_default, **cleaned)


def update_address(member, address, **values) -> Address:
    """Change the fields given (``recipient``, ``phone``, ``region``, ``detail``); ``is_default
    =True`` also makes it the default."""
    make_default = values.pop("is_default", False)
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise InvalidFields({name: [_("Unknown field.")] for name in sorted(unknown)})
    with transaction.atomic():
        _lock_member(member.pk)
        found = _own(member, address)
        current = {name: getattr(found, name) for name in FIELDS}
        cleaned = _clean({**current, **values})
        for name, value in cleaned.items():
            setattr(found, name, value)
        found.save(update_fields=list(FIELDS))
        if make_default and not found.is_default:
            _make_default(member, found)
    return found


def remove_address(member, address) -> None:
    """Delete one of the member's addresses (redemptions keep their snapshot); the newest
    remaining one becomes the default if this was it."""
    with transaction.atomic():
        _lock_member(member.pk)
        found = _own(member, address)
        was_default = found.is_default
        found.delete()
        if was_default:
            newest = Address.objects.filter(member_id=member.pk).order_by("-id").first()
            if newest is not None:
                newest.is_default = True
                newest.save(update_fields=["is_default"])


def set_default(member, address) -> Address:
    """Make one of the member's addresses their default (again: no change)."""
    with transaction.atomic():
        _lock_member(member.pk)
        found = _own(member, address)
        if not found.is_default:
            _make_default(member, found)
    return found


def _make_default(member, address: Address) -> None:
    Address.objects.filter(member_id=member.pk, is_default=True).update(is_default=False)
    address.is_default = True
    address.save(update_fields=["is_default"])


def erase_member_addresses(member) -> dict:
    """Erase a closing member's addresses (PIPL erasure, ``mall.services.accounts``): every saved
    address is deleted, and the shipping text of every redemption of theirs is emptied (the
    redemption itself stays, for the ledger and the stock). Called with the member's row locked,
    after the closing made sure none is still to ship. Plain attribute assignment and ``save``,
    so fields that encrypt their values keep doing so. Returns the counts erased."""
    from catalog.models import Redemption

    addresses = Address.objects.filter(member=member)
    count = addresses.count()
    addresses.delete()  # redemptions' shipping_address is SET_NULL
    redemptions = 0
    # Compared in Python: an encrypted column cannot be filtered on its plaintext.
    for redemption in Redemption.objects.filter(member=member).only("id", "address"):
        if not redemption.address:
            continue
        redemption.address = ""
        redemption.save(update_fields=["address"])
        redemptions += 1
    return {"addresses": count, "redemptions": redemptions}
