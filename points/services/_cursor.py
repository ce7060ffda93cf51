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


@contextmanager
def _posting_cursor():
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        yield _PreparedCursor(cursor)
