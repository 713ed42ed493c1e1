"""Connections: the configured Postgres, or an embedded one (pgserver) when none is set.

``resolve_database_url`` is the only place that decides which server ClipQueue talks to.
The embedded server lives in ``<CLIPQUEUE_DATA_DIR>/postgres`` and keeps running after the
process that started it exits, so the API and every worker process share one server.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from .settings import Settings

log = logging.getLogger(__name__)
_embedded_lock = threading.Lock()
_embedded_urls: dict[Path, str] = {}


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded Postgres in ``data_dir/postgres``; return its URL."""
    pgdata = (Path(data_dir) / "postgres").resolve()
    with _embedded_lock:
        if pgdata not in _embedded_urls:
            import pgserver  # imported here: only the embedded default needs it

            pgdata.parent.mkdir(parents=True, exist_ok=True)
            # cleanup_mode=None: leave the server running for the other processes.
            server = pgserver.get_server(pgdata, cleanup_mode=None)
            _embedded_urls[pgdata] = server.get_uri()
            log.info("embedded Postgres at %s", pgdata)
        return _embedded_urls[pgdata]


def stop_embedded(data_dir: Path) -> bool:
    """Stop the embedded Postgres of ``data_dir`` if it runs; True if it was stopped."""
    import os
    import subprocess

    from pgserver._commands import pg_ctl  # the package's own pg_ctl wrapper

    pgdata = (Path(data_dir) / "postgres").resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs Postgres as this user under root
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        return False
    with _embedded_lock:
        _embedded_urls.pop(pgdata, None)
    return True


def resolve_database_url(settings: Settings) -> str:
    return settings.database_url or embedded_database_url(settings.data_dir)


def connect(url: str, *, application_name: str = "clipqueue") -> psycopg.Connection:
    """An autocommit connection with dict rows: every statement is its own transaction
    unless the caller opens ``conn.transaction()`` (claim, commit, then work)."""
    return psycopg.connect(
        url,
        autocommit=True,
        row_factory=dict_row,
        application_name=application_name,
        connect_timeout=10,
    )
