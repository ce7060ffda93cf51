"""The cursor postings run on: server-side binding and prepared statements."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import psycopg
from django.db import connection


class Cursor(Protocol):
    """What the lock helpers and the postings need of a cursor: ``_PreparedCursor`` or one of
    Django's."""

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ...) -> Any: ...

    def fetchone(self) -> tuple | None: ...

    def fetchall(self) -> list[tuple]: ...


class _PreparedCursor:
    """A psycopg cursor on Django's connection that binds parameters on the server and prepares
    each statement once per connection.

    Django's own cursors bind client-side and never prepare, so PostgreSQL would parse and plan
    the same few posting statements on every call (the lot-taking CTE is costly to plan). Errors
    still surface as ``django.db`` exceptions through ``wrap_database_errors``.
    """

    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql, params=()):
        with connection.wrap_database_errors:
            self._cursor.execute(sql, params, prepare=True)

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchall(self):
        return self._cursor.fetchall()


# Django opens its psycopg connections with ``prepare_threshold=None``, which turns prepared
# statements off for the whole connection: ``execute(..., prepare=True)`` is then silently
# ignored. Our cursors switch them back on; with this threshold only the statements executed with
# ``prepare=True`` (ours) are prepared, as Django's own cursors bind client-side and never
# prepare anyway.
_ONLY_WHEN_ASKED = 2**62


@contextmanager
def prepared_cursor():
    """A ``_PreparedCursor`` on Django's connection (in its transaction, if any): what every
    posting runs on, and what the catalog services use for their own hot statements (lottery
    draws, auction bids). Statements with parameters whose type PostgreSQL cannot infer from
    their context need casts (``%s::bigint``)."""
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    with psycopg.Cursor(raw) as cursor:
        yield _PreparedCursor(cursor)


_posting_cursor = prepared_cursor


def use_generic_plans(sender, connection, **kwargs) -> None:
    """On every new connection (``connection_created``, outside any transaction, so it lasts):
    prepared statements use their generic plan. The ledger is partitioned (points migration
    0013): a generic plan of a posting statement lists all 16 partitions and is pruned to one
    when it starts, but the planner costs it as 16 scans, so by default every execution would be
    planned anew (a custom plan) and preparing would save nothing. Only prepared statements
    (ours, above) and the foreign keys' checks go through the plan cache; Django's own
    statements bind client-side and are planned once each anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
