"""Fixtures of the fault tests (``make fault``): one private PostgreSQL for the session (initdb and
migrate once, a fresh database cloned from it per test), a private Redis per test, the app under
gunicorn. Every test here is marked ``fault`` and left out of ``make test``."""

import logging
import shutil
from pathlib import Path

import pytest

from tests.faults import harness

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _quiet_http_client():
    """httpx logs every request at INFO: thousands of lines under load."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.fault)


@pytest.fixture(scope="session")
def migrated_pg():
    """The private cluster, with a migrated template database ``mall_template``."""
    pg = harness.PrivatePostgres()
    try:
        pg.init()
        harness.manage(harness.app_env(pg, None), "migrate", "--no-input", timeout=900)
        with pg.connect("postgres") as conn:
            conn.autocommit = True
            conn.execute("ALTER DATABASE mall RENAME TO mall_template")
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def pg(migrated_pg):
    """A fresh migrated database ``mall`` for one test (a copy of the template)."""
    with migrated_pg.connect("postgres") as conn:
        conn.autocommit = True
        conn.execute("DROP DATABASE IF EXISTS mall WITH (FORCE)")
        conn.execute("CREATE DATABASE mall TEMPLATE mall_template")
    return migrated_pg


@pytest.fixture
def redis_server():
    if shutil.which("redis-server") is None:
        pytest.fail("the fault tests start their own redis-server: install it (apt-get install redis-server)")
    server = harness.PrivateRedis()
    try:
        yield server.start()
    finally:
        server.stop()  # resumes a paused server first


@pytest.fixture
def processes():
    """Processes a test starts (app servers, workers): stopped at the end, whatever happened."""
    started = []
    yield started
    for process in reversed(started):
        if isinstance(process, harness.AppServer):
            process.stop()
        else:
            harness.stop_process(process)
