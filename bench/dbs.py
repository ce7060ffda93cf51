"""The benchmark's own databases, kept apart from the development database.

Everything runs in ``<name>_bench`` (and, for expiry, ``<name>_bench_x*`` copies made from it with
``CREATE DATABASE ... TEMPLATE``), on the server ``DATABASE_URL`` names (or the embedded one). The
databases are dropped and recreated on every run and dropped again at the end unless ``--keep``.
"""

import os
import time
from contextlib import contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import dj_database_url
import psycopg
from psycopg import errors, sql


def url_name(url: str) -> str:
    return dj_database_url.parse(url)["NAME"]


def with_name(url: str, name: str) -> str:
    """The same server URL pointing at database ``name``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(name)))


def connect_kwargs(url: str) -> dict:
    """psycopg keyword arguments for ``url`` (the same server and options Django would use)."""
    cfg = dj_database_url.parse(url)
    kwargs = {"dbname": cfg["NAME"]}
    for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host"), ("PORT", "port")):
        if cfg.get(key):
            kwargs[name] = str(cfg[key])
    kwargs.update(cfg.get("OPTIONS") or {})
    return kwargs


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    conn = psycopg.connect(**connect_kwargs(url), autocommit=autocommit)
    # The session setting the app's own connections get (points.services._cursor.use_generic_plans):
    # without it the plain-SQL side would re-plan its prepared statements over 16 partitions on
    # every call, a handicap the service does not have.
    conn.execute("SET plan_cache_mode = force_generic_plan")
    if not autocommit:
        conn.commit()
    return conn


class Server:
    """Create, clone and drop the benchmark databases through a maintenance connection."""

    def __init__(self, url: str):
        self.url = url
        self._conn = None
        # The maintenance database: "postgres" where it exists, else the one the URL names.
        for name in ("postgres", url_name(url), "template1"):
            try:
                self._conn = connect(with_name(url, name), autocommit=True)
                break
            except psycopg.OperationalError as exc:
                last = exc
        if self._conn is None:
            raise last
        self.version = self._conn.info.server_version
        self.created: list[str] = []

    def close(self) -> None:
        self._conn.close()

    def drop(self, name: str) -> None:
        force = sql.SQL(" WITH (FORCE)") if self.version >= 130000 else sql.SQL("")
        self._conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + force
        )
        if name in self.created:
            self.created.remove(name)

    def create(self, name: str, *, template: str | None = None) -> str:
        """(Re)create database ``name``, empty or as a copy of ``template``; returns its URL."""
        self.drop(name)
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            if self.version >= 150000:
                # A file copy (after a checkpoint) instead of WAL-logging every block: much faster.
                query += sql.SQL(" STRATEGY FILE_COPY")
        # The template must have no other session; an autovacuum worker may visit it briefly.
        for attempt in range(60):
            try:
                self._conn.execute(query)
                break
            except errors.ObjectInUse:
                if attempt == 59:
                    raise
                time.sleep(0.5)
        self.created.append(name)
        return with_name(self.url, name)

    def checkpoint(self) -> None:
        """Flush dirty buffers so a timed run does not pay for the previous one's writes."""
        try:
            self._conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass

    def drop_all(self) -> None:
        for name in list(reversed(self.created)):
            self.drop(name)


@contextmanager
def django_on_bench_database(suffix: str, *, keep: bool = False):
    """Set Django up on a new, migrated ``<name>_bench_<suffix>`` database and yield its
    ``Server``; close every connection and drop it afterwards (unless ``keep``). Django must not be
    set up yet in this process: a bench that needs its own database runs in a fresh process."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    os.environ.setdefault("DEBUG", "1")
    from django.apps import apps

    if apps.ready:
        raise RuntimeError(f"the {suffix} bench sets Django up on its own database: call it in a "
                           "fresh process.")
    from mall.embedded import ensure_database

    ensure_database()
    dev_url = os.environ["DATABASE_URL"]
    server = Server(dev_url)
    try:
        os.environ["DATABASE_URL"] = server.create(f"{url_name(dev_url)}_bench_{suffix}"[:60])
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield server
    finally:
        from django.db import connections

        connections.close_all()
        if not keep:
            server.drop_all()
        server.close()
