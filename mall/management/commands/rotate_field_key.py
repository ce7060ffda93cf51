"""``manage.py rotate_field_key``: re-encrypt every personal-data value (``common.pii``'s
encrypted columns) that is not under the current key (the first of FIELD_ENCRYPTION_KEYS).

Online and resumable: each batch is its own short transaction that locks its rows
``FOR UPDATE SKIP LOCKED`` (a row a member is saving right now is left for the next pass, and
nobody waits on the command); a row already under the current key is never selected, so running
it again continues where a stopped run left off. Old keys must stay configured until it reports
nothing left.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from common import pii


def rotate_model(model, *, batch_size: int, max_batches: int | None = None) -> tuple[int, int]:
    """Re-encrypt ``model``'s encrypted columns under the current key, batch by batch; returns
    ``(values re-encrypted, values still under another key)``."""
    fields = pii.encrypted_fields(model)
    if not fields:
        return 0, 0
    current = pii.provider().current_key_id
    qn = connection.ops.quote_name
    table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
    stale = " OR ".join(
        f"({qn(f.column)} IS NOT NULL AND {qn(f.column)} <> '' AND NOT starts_with({qn(f.column)}, %s))"
        for f in fields)
    prefix = [f"{current}$"] * len(fields)
    columns = ", ".join(qn(f.column) for f in fields)
    done, batches, last = 0, 0, None
    while max_batches is None or batches < max_batches:
        with transaction.atomic(), connection.cursor() as cursor:
            after = f"{pk} > %s AND " if last is not None else ""
            cursor.execute(
                f"SELECT {pk}, {columns} FROM {table} WHERE {after}({stale}) "
                f"ORDER BY {pk} LIMIT %s FOR UPDATE SKIP LOCKED",
                ([last] if last is not None else []) + prefix + [batch_size])
            rows = cursor.fetchall()
            if not rows:
                break
            for row_pk, *values in rows:
                sets, params = [], []
                for field, value in zip(fields, values, strict=True):
                    if value and pii.key_id_of(value) != current:
                        plaintext = pii.decrypt(value, context=field.context)
                        sets.append(f"{qn(field.column)} = %s")
                        params.append(pii.encrypt(plaintext, context=field.context))
                        done += 1
                cursor.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {pk} = %s", params + [row_pk])
            last = rows[-1][0]
        batches += 1
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE {stale}", prefix)
        left = cursor.fetchone()[0]
    return done, left


class Command(BaseCommand):
    help = "Re-encrypt personal data under the current key of FIELD_ENCRYPTION_KEYS (online, resumable)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (500).")
        parser.add_argument("--max-batches", type=int, default=None,
                            help="Stop after this many batches per table (run again to continue).")

    def handle(self, *args, batch_size, max_batches, **options):
        current = pii.provider().current_key_id
        self.stdout.write(f"current key: {current}")
        total_left = 0
        for model in apps.get_models():
            if not pii.encrypted_fields(model):
                continue
            done, left = rotate_model(model, batch_size=batch_size, max_batches=max_batches)
            total_left += left
            self.stdout.write(f"{model._meta.label}: {done} re-encrypted, {left} row(s) left")
        if total_left:
            self.stdout.write(self.style.WARNING(
                f"{total_left} row(s) still under an old key: run the command again; keep the old keys."))
        else:
            self.stdout.write(self.style.SUCCESS("every value is under the current key."))
