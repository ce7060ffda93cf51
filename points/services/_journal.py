"""What every posting writes: the account's cached totals and its journal entry."""

from __future__ import annotations

import json

from common.text import Text, message_of, stored_text
from points.models import Entry
from points.services._idempotency import _KeyTaken
from points.services.lock_objects import _Account, lock_account


def _in_default_language(message: str, **params) -> Text:
    """Reasons written by the system are stored in the site's default language, with the message
    they were made from (``Entry.reason_message``) to be shown in the reader's language."""
    return stored_text(message, **params)


def _take_available(cursor, member_id: int, points: int, *, into_hold: bool):
    """Lock the account and take ``points`` out of ``available`` (spent, or into ``held``).

    Returns ``(account after, True)``, or ``(account, False)`` with nothing changed when the
    points are not there. The common case is one conditional UPDATE that locks and debits; when
    it matches no row (no account yet, or too few points) the account is locked and looked at,
    since a credit may have landed in between.
    """
    held, spent = (points, 0) if into_hold else (0, points)
    cursor.execute(
        "UPDATE points_account SET available = available - %s, held = held + %s, "
        "lifetime_spent = lifetime_spent + %s WHERE id = %s AND available >= %s "
        "RETURNING id, available, pending, held, debt",
        [points, held, spent, member_id, points],
    )
    row = cursor.fetchone()
    if row is not None:
        return _Account(*row), True
    account = lock_account(cursor, member_id)
    if account.available < points:
        return account, False
    account.available -= points
    account.held += held
    _save_totals(cursor, account, spent=spent)
    return account, True


def _save_totals(cursor, account: _Account, *, earned=0, spent=0, expired=0) -> None:
    cursor.execute(
        "UPDATE points_account SET available = %s, pending = %s, held = %s, debt = %s, "
        "lifetime_earned = lifetime_earned + %s, lifetime_spent = lifetime_spent + %s, "
        "lifetime_expired = lifetime_expired + %s WHERE id = %s",
        [account.available, account.pending, account.held, account.debt,
         earned, spent, expired, account.id],
    )


_ENTRY_TYPES = {
    "account_id": "bigint", "key": "text", "kind": "text", "delta": "bigint",
    "balance_after": "bigint", "reason": "text", "reason_message": "jsonb", "reference": "text",
    "fingerprint": "text",
    "reverses_id": "bigint", "hold_id": "bigint", "rule_version": "text", "explanation": "jsonb",
    "staff_id": "bigint", "created_at": "timestamptz",
}
_ENTRY_COLUMNS = tuple(_ENTRY_TYPES)


def _insert_entry(cursor, *, guard_key: bool = False, then: tuple[str, list] | None = None,
                  source: tuple[str, list, str, dict[str, str]] | None = None, **fields) -> Entry:
    """Append one journal row and return it as an ``Entry`` without reading it back.

    With ``guard_key`` the insert does nothing when a refusal holds the key (raising
    ``_KeyTaken``); a duplicate entry key is caught by the unique index. ``then`` is
    ``(more CTEs, their parameters)`` run in the same statement, reading the new row as
    ``entry``: the lot of an earning, the lots taken by a spending, one round trip instead of two.
    ``source`` is ``(CTEs, their parameters, FROM list, {column: SQL expression})``: CTEs that
    come before the insert in the same statement, and the columns it takes from them instead of
    from ``fields`` (a hold's entry names the hold inserted with it: ``("hold AS (INSERT ...)",
    [...], "hold", {"hold_id": "hold.id"})``); the returned entry carries their stored values.
    """
    fields.setdefault("reason", "")
    fields["reason_message"] = message_of(fields["reason"])
    fields["reason"] = str(fields["reason"])
    fields.setdefault("reference", "")
    fields.setdefault("fingerprint", "")
    fields.setdefault("rule_version", "")
    for name in ("reverses_id", "hold_id", "explanation", "staff_id"):
        fields.setdefault(name, None)
    prefix, params, from_, computed = "", [], "", {}
    if source is not None:
        source_ctes, source_params, source_from, computed = source
        prefix, params, from_ = f"{source_ctes}, ", list(source_params), f" FROM {source_from}"
    placeholders = []
    for name in _ENTRY_COLUMNS:
        if name in computed:
            placeholders.append(computed[name])
            continue
        value = fields[name]
        if name in ("explanation", "reason_message") and value is not None:
            value = json.dumps(value, ensure_ascii=False)
        params.append(value)
        # Explicit types: in INSERT ... SELECT a NULL bound on the server would otherwise be text.
        placeholders.append(f"%s::{_ENTRY_TYPES[name]}")
    placeholders = ", ".join(placeholders)
    columns = ", ".join(_ENTRY_COLUMNS)
    returned = ", ".join(["id", *computed])
    if guard_key:
        sql = (f"INSERT INTO points_entry ({columns}) SELECT {placeholders}{from_} "
               "WHERE NOT EXISTS (SELECT 1 FROM points_refusal WHERE account_id = %s AND key = %s) "
               f"RETURNING {returned}")
        params.extend([fields["account_id"], fields["key"]])
    elif from_:
        sql = f"INSERT INTO points_entry ({columns}) SELECT {placeholders}{from_} RETURNING {returned}"
    else:
        sql = f"INSERT INTO points_entry ({columns}) VALUES ({placeholders}) RETURNING {returned}"
    if then is not None or prefix:
        more_ctes, more_params = then if then is not None else ("", [])
        more = f", {more_ctes}" if more_ctes else ""
        sql = f"WITH {prefix}entry AS ({sql}){more} SELECT {returned} FROM entry"
        params.extend(more_params)
    cursor.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        raise _KeyTaken
    for name, value in zip(computed, row[1:], strict=True):
        fields[name] = value
    entry = Entry(id=row[0], **fields)
    entry._state.adding = False
    return entry
