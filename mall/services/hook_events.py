"""The exactly-once store of the shop's events (hooks and checkout writes).

The transaction that applies an event first inserts its ``HookEvent`` row (``ON CONFLICT DO
NOTHING``), then does the work, then stores the response in that row and commits. A concurrent
duplicate blocks on the unique index until the first commits, then reads the stored response; a
redelivery later reads it too. The same ``event_id`` with a different payload (compared after
parsing, so whitespace and key order do not matter) raises ``IdempotencyConflict``.

Refusals are not stored: an exception from the work rolls the whole transaction back, its
``HookEvent`` row included, so nothing at all is written and a redelivery is evaluated again (an
order reported before its member succeeds once the member has arrived). Only the outcomes the work
returns are replayed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from mall.models import HookEvent
from points.errors import IdempotencyConflict
from points.services.jobs import delete_in_batches


def apply_once(*, event_id: str, endpoint: str, payload: dict,
               work: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
    """Run ``work()`` -> ``(status, response)`` once per ``event_id`` and return its outcome.

    Raises ``IdempotencyConflict`` when the event id was applied with another payload; an
    exception from ``work`` rolls everything back (see the module docstring).
    """
    request_hash = hashlib.sha256(
        json.dumps([endpoint, payload], sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder,
                   ensure_ascii=False).encode()
    ).hexdigest()
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {HookEvent._meta.db_table} (event_id, endpoint, request_hash, created_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING RETURNING id",
                [event_id, endpoint, request_hash, timezone.now()],
            )
            row = cursor.fetchone()
        if row is None:
            # Applied before (or just now by a concurrent delivery we waited for).
            stored = HookEvent.objects.get(event_id=event_id)
            if stored.request_hash != request_hash:
                raise IdempotencyConflict(
                    f"Event {event_id!r} was already received with a different body."
                )
            return stored.status, stored.response
        status, response = work()
        # Stored and returned after the same JSON round trip, so every delivery sees equal bodies.
        response = json.loads(json.dumps(response, cls=DjangoJSONEncoder))
        HookEvent.objects.filter(pk=row[0]).update(status=status, response=response)
    return status, response


def prune(*, before) -> int:
    """Delete the events received before ``before`` (past the key retention no sender redelivers);
    returns how many. In batches, each its own short transaction, safe to run twice at once."""
    return delete_in_batches(HookEvent._meta.db_table, before=before)
