"""Personal data at rest: SM4-GCM encrypted model fields, keyed blind indexes, and masks.

A stored value is ``<key id>$<base64(nonce | ciphertext | tag)>``: SM4 in GCM mode (the
``cryptography`` package's ``algorithms.SM4``), a fresh 12-byte nonce per value, and the
column's name (``app_label.model.field``) as associated data, so a value copied into another
column or row type fails to decrypt instead of showing the wrong person's data. ``NULL`` and
``""`` are stored as they are (an absent phone is not a secret).

Lookups never touch the ciphertext: an ``Encrypted*Field`` refuses every lookup but ``isnull``.
Equality (phone login, the unique phone, admin search) goes through a ``BlindIndexField``: the
HMAC-SM3 of the normalised value under the blind-index key, set on every save. The index is keyed
per column (the column's name is hashed in), so equal phones in two tables do not match.

Keys come from a key provider (``FIELD_KEY_PROVIDER``, a dotted path; an HSM or KMS adapter
implements ``KeyProvider``). The default, ``EnvKeyProvider``, reads ``FIELD_ENCRYPTION_KEYS``
("id:base64key,...": the first writes, every one listed decrypts) and ``FIELD_BLIND_INDEX_KEY``.
``manage.py rotate_field_key`` moves every value to the current key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac as std_hmac
import os
import re
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.utils.module_loading import import_string

__all__ = [
    "BlindIndexField", "DecryptionError", "EncryptedCharField", "EncryptedTextField",
    "EnvKeyProvider", "KeyProvider", "VIEW_PERMISSION", "blind_index", "can_view", "decrypt",
    "encrypt", "encrypted_fields", "index_for", "index_update_fields", "key_id_of", "mask_address",
    "mask_email", "mask_name", "mask_phone", "parse_keys", "provider",
]

# Staff holding it see personal data unmasked (every such view is audited).
VIEW_PERMISSION = "mall.view_personal_data"

KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
NONCE_BYTES = 12
TAG_BYTES = 16
# The label the blind-index key is derived from SECRET_KEY with when FIELD_BLIND_INDEX_KEY is
# unset. Changing it (or SECRET_KEY) orphans every index: set FIELD_BLIND_INDEX_KEY in production.
INDEX_KEY_LABEL = b"mall.pii.blind-index.v1"


class DecryptionError(Exception):
    """A stored value that does not decrypt: tampered with, moved from another column, or
    under a key id the key provider does not have."""


def parse_keys(text: str) -> dict[str, bytes]:
    """``"id:base64key,id2:base64key2"`` -> ``{id: key}`` in order (16-byte SM4 keys). Raises
    ``ImproperlyConfigured`` naming what is wrong."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID_RE.match(key_id):
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS: each entry is <key id>:<base64 key>, the id letters, digits, "
                f"'-' or '_' (got an entry starting {item[:8]!r}).")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS: the key of {key_id!r} is not base64.") from None
        if len(key) != 16:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS: the key of {key_id!r} is {len(key)} bytes; SM4 keys are 16.")
        if key_id in keys:
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS: key id {key_id!r} is listed twice.")
        keys[key_id] = key
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS lists no key.")
    return keys


class KeyProvider:
    """Where field keys come from. An HSM or KMS adapter implements these three and is named by
    ``FIELD_KEY_PROVIDER``; keys may be fetched once and kept (values are decrypted often)."""

    @property
    def current_key_id(self) -> str:  # the key new values are written with
        raise NotImplementedError

    def key(self, key_id: str) -> bytes:
        """The 16-byte SM4 key of ``key_id``; ``KeyError`` when there is none."""
        raise NotImplementedError

    def index_key(self) -> bytes:
        """The blind-index HMAC key. It must never change (indexes would stop matching)."""
        raise NotImplementedError


class EnvKeyProvider(KeyProvider):
    """Keys from the settings ``FIELD_ENCRYPTION_KEYS`` and ``FIELD_BLIND_INDEX_KEY`` (read from
    the environment by ``mall.settings``)."""

    def __init__(self):
        self._keys = parse_keys(settings.FIELD_ENCRYPTION_KEYS)
        self._current = next(iter(self._keys))
        explicit = getattr(settings, "FIELD_BLIND_INDEX_KEY", "")
        if explicit:
            self._index_key = explicit.encode()
        else:
            self._index_key = std_hmac.new(settings.SECRET_KEY.encode(), INDEX_KEY_LABEL,
                                           hashlib.sha256).digest()

    @property
    def current_key_id(self) -> str:
        return self._current

    def key(self, key_id: str) -> bytes:
        return self._keys[key_id]

    def index_key(self) -> bytes:
        return self._index_key


@lru_cache(maxsize=1)
def provider() -> KeyProvider:
    path = getattr(settings, "FIELD_KEY_PROVIDER", "common.pii.EnvKeyProvider")
    return import_string(path)()


@receiver(setting_changed)
def _forget_provider(*, setting, **kwargs):
    if setting in {"FIELD_ENCRYPTION_KEYS", "FIELD_BLIND_INDEX_KEY", "FIELD_KEY_PROVIDER", "SECRET_KEY"}:
        provider.cache_clear()


def encrypt(plaintext: str, *, context: str) -> str:
    """``plaintext`` under the current key, bound to ``context`` (the column's name)."""
    keys = provider()
    key_id = keys.current_key_id
    nonce = os.urandom(NONCE_BYTES)
    encryptor = Cipher(algorithms.SM4(keys.key(key_id)), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(context.encode())
    body = encryptor.update(plaintext.encode()) + encryptor.finalize()
    return f"{key_id}${base64.b64encode(nonce + body + encryptor.tag).decode()}"


def decrypt(token: str, *, context: str) -> str:
    """The plaintext of a value ``encrypt`` made for ``context``; ``DecryptionError`` otherwise."""
    key_id, sep, encoded = token.partition("$")
    if not sep:
        raise DecryptionError(f"{context}: not an encrypted value")
    try:
        key = provider().key(key_id)
    except KeyError:
        raise DecryptionError(f"{context}: no key {key_id!r} (FIELD_ENCRYPTION_KEYS)") from None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError(f"{context}: damaged value") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(f"{context}: damaged value")
    nonce, body, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-TAG_BYTES], raw[-TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(context.encode())
    try:
        return (decryptor.update(body) + decryptor.finalize()).decode()
    except (InvalidTag, UnicodeDecodeError):
        raise DecryptionError(f"{context}: the value does not authenticate (tampered or moved)") from None


def key_id_of(token: str | None) -> str | None:
    if not token:
        return None
    return token.partition("$")[0]


def column_context(model, field_name: str) -> str:
    return f"{model._meta.label_lower}.{field_name}"


def blind_index(value: str | None, *, context: str, casefold: bool = False) -> str | None:
    """The keyed index of ``value`` in the column ``context``: HMAC-SM3 of the normalised value
    (trimmed; lower-cased with ``casefold``), hex. ``None`` for an absent value."""
    if value is None:
        return None
    value = value.strip()
    if casefold:
        value = value.lower()
    if not value:
        return None
    mac = hmac.HMAC(provider().index_key(), hashes.SM3())
    mac.update(context.encode() + b"\x00" + value.encode())
    return mac.finalize().hex()


class EncryptedFieldMixin:
    """Stores ``encrypt(value)``, reads ``decrypt(value)``; the attribute is the plaintext."""

    @property
    def context(self) -> str:
        return column_context(self.model, self.name)

    def get_internal_type(self):
        return "TextField"  # ciphertext is longer than the plaintext's max_length

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value, context=self.context)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value, context=self.context)

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.context} is encrypted: only 'isnull' can be looked up; match equal values "
                f"through its blind index (common.pii.index_for).")
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        raise FieldError(f"{self.context} is encrypted: it has no '{lookup_name}' lookup.")


class EncryptedCharField(EncryptedFieldMixin, models.CharField):
    """A ``CharField`` (form widget, ``max_length`` validating the plaintext) stored encrypted
    in a ``text`` column."""

    def db_type(self, connection):
        return "text"


class EncryptedTextField(EncryptedFieldMixin, models.TextField):
    pass


class BlindIndexField(models.CharField):
    """The blind index of the field ``source`` of the same model, set whenever the row is
    saved (also by ``bulk_create``). ``QuerySet.update`` does not save: set it there with
    ``index_for``. Never shown or edited."""

    def __init__(self, *args, source: str = "", casefold: bool = False, **kwargs):
        self.source = source
        self.casefold = casefold
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        if self.casefold:
            kwargs["casefold"] = True
        for key, default in (("max_length", 64), ("editable", False), ("null", True), ("blank", True)):
            if kwargs.get(key, default) == default:
                kwargs.pop(key, None)
        return name, path, args, kwargs

    def compute(self, value):
        return blind_index(value, context=column_context(self.model, self.source), casefold=self.casefold)

    def pre_save(self, model_instance, add):
        value = self.compute(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value


def index_for(model, field_name: str, value: str | None) -> str | None:
    """The blind index of ``value`` in ``model.field_name``: filter ``<field>_index=`` with it."""
    index = _index_field(model, field_name)
    return index.compute(value)


def _index_field(model, field_name: str) -> BlindIndexField:
    for field in model._meta.concrete_fields:
        if isinstance(field, BlindIndexField) and field.source == field_name:
            return field
    raise FieldError(f"{column_context(model, field_name)} has no blind index")


def index_field_name(model, field_name: str) -> str | None:
    try:
        return _index_field(model, field_name).name
    except FieldError:
        return None


def index_update_fields(model_instance, update_fields):
    """``update_fields`` plus the blind indexes of the encrypted fields in it (a model's
    ``save`` passes this on, so ``save(update_fields=["phone"])`` keeps ``phone_index`` true)."""
    if update_fields is None:
        return None
    update_fields = set(update_fields)
    for field in model_instance._meta.concrete_fields:
        if isinstance(field, BlindIndexField) and field.source in update_fields:
            update_fields.add(field.name)
    return update_fields


def encrypted_fields(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedFieldMixin)]


def migrate_columns(schema_editor, table: str, columns: list[tuple], *, forward: bool,
                    batch_size: int = 1000) -> int:
    """For a migration's ``RunPython``: encrypt (``forward``) or decrypt back every value of
    ``columns`` in ``table``, in batches by id; returns the rows changed. ``columns`` holds
    ``(column, context, index column or None, casefold)``. Raw SQL, since the historical
    model's field would decrypt what is still plaintext."""
    qn = schema_editor.quote_name
    changed, last = 0, 0
    names = ", ".join(qn(column) for column, *_ in columns)
    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute(f"SELECT id, {names} FROM {qn(table)} WHERE id > %s ORDER BY id LIMIT %s",
                           [last, batch_size])
            rows = cursor.fetchall()
            if not rows:
                return changed
            updates = []
            for row_id, *values in rows:
                assignments = []
                for (column, context, index_column, casefold), value in zip(columns, values, strict=True):
                    if forward:
                        new = encrypt(value, context=context) if value else value
                        index = blind_index(value, context=context, casefold=casefold)
                    else:
                        new = decrypt(value, context=context) if value else value
                        index = None
                    assignments.append((column, new))
                    if index_column:
                        assignments.append((index_column, index))
                updates.append((assignments, row_id))
            for assignments, row_id in updates:
                sets = ", ".join(f"{qn(column)} = %s" for column, _ in assignments)
                cursor.execute(f"UPDATE {qn(table)} SET {sets} WHERE id = %s",
                               [value for _, value in assignments] + [row_id])
            changed += len(updates)
            last = rows[-1][0]


# -- masks ---------------------------------------------------------------------------------------

def mask_phone(phone: str | None) -> str:
    """``"13800138000"`` -> ``"138****8000"``, ``"+8613800138000"`` -> ``"+86138****8000"``: four
    digits hidden and at most the last four shown; a short number shows less."""
    phone = (phone or "").strip()
    if not phone:
        return ""
    tail = 4 if len(phone) >= 8 else min(2, max(len(phone) - 4, 0))
    head = max(len(phone) - tail - 4, 0)
    return f"{phone[:head]}****{phone[len(phone) - tail:] if tail else ''}"


def mask_email(email: str | None) -> str:
    """``"alice@example.com"`` -> ``"a***@example.com"``."""
    email = (email or "").strip()
    if not email:
        return ""
    local, sep, domain = email.rpartition("@")
    if not sep:
        return mask_name(email)
    return f"{local[:1]}***@{domain}"


def mask_name(name: str | None) -> str:
    """``"张三丰"`` -> ``"张**"``: the first character only."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_address(text: str | None) -> str:
    """A street address or a redemption's shipping snapshot with the person and the street
    hidden: ``"张三 13800138000\n上海市 浦东新区 世纪大道100号"`` -> ``"张* 138****8000\n上海市
    浦东新区 ****"`` (the region stays: it is what a stock or courier question needs)."""
    lines = []
    for line in (text or "").strip().splitlines():
        words = line.split()
        if any(PHONE_WORD.match(word) for word in words):
            lines.append(" ".join(mask_phone(w) if PHONE_WORD.match(w) else mask_name(w) for w in words))
        elif len(words) >= 2:
            lines.append(" ".join([*words[:-1], "****"]))
        elif words:
            lines.append(words[0][:3] + "****")
    return "\n".join(lines)


PHONE_WORD = re.compile(r"^\+?\d{6,20}$")


def can_view(user) -> bool:
    """Whether ``user`` (staff) sees personal data unmasked."""
    return bool(user and user.is_authenticated and user.has_perm(VIEW_PERMISSION))
