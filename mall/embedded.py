"""The embedded PostgreSQL under ``var/``, used when no ``DATABASE_URL`` is set.

Only entry points call :func:`ensure_database` (``manage.py``, the WSGI/ASGI apps, the celery
app, the test run): importing settings never starts a server. The server is left running after
the process exits so the next entry point reuses it; ``manage.py runstack`` stops it on exit when
it was the one that started it.
"""

import logging
import os
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MALL_VAR_DIR", BASE_DIR / "var"))
PGDATA = VAR_DIR / "pgdata"
DATABASE_NAME = "mall"

logger = logging.getLogger(__name__)

# Set when ensure_database() started the server in this process (runstack stops it on exit).
started_here = False


def _prepare_runtime_dir() -> None:
    # pgserver keeps its start-up lock under the runtime dir; without one it warns and uses /tmp.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(VAR_DIR / "run"))
    runtime = Path(os.environ["XDG_RUNTIME_DIR"])
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    runtime.chmod(0o700)


def ensure_database() -> bool:
    """Point ``DATABASE_URL`` at the embedded server, starting it if needed.

    Returns True when this call started the server, False when ``DATABASE_URL`` was already set
    or the server was already running. Safe to call from several processes at once (pgserver
    serialises start-up with an inter-process lock).
    """
    if os.environ.get("DATABASE_URL"):
        return False
    _prepare_runtime_dir()
    import pgserver
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(PGDATA) if (PGDATA / "PG_VERSION").exists() else None
    was_running = info is not None and info.is_running()
    server = pgserver.get_server(PGDATA, cleanup_mode=None)
    socket_dir = server.get_postmaster_info().socket_path.parent
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    os.environ["DATABASE_URL"] = f"postgres://postgres@{quote(str(socket_dir), safe='')}/{DATABASE_NAME}"
    if not was_running:
        global started_here
        started_here = True
        logger.info("started embedded PostgreSQL in %s", PGDATA)
    return not was_running


def stop_database() -> None:
    """Stop the embedded server (used by ``runstack`` on exit)."""
    _prepare_runtime_dir()
    from pgserver import pg_ctl
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(PGDATA)
    if info is None or not info.is_running():
        return
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PGDATA, user=user)
