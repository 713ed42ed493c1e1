"""The embedded Postgres (pgserver): the database when no ``DATABASE_URL`` is set.

The embedded server lives in ``<CLIPQUEUE_DATA_DIR>/postgres`` and keeps running after the
process that started it exits, so the API and every worker process share one server.
It is supervised by its users: a process that finds it gone (killed, crashed; a stale
``postmaster.pid`` whose process is dead or a zombie) starts it again with
``revive_embedded`` -- one process at a time, under a file lock beside the data. The
one-shot ``process`` command stops it on the way out when it started it and no other live
process uses it (``release_embedded``); operators stop it with ``python -m workers db-stop``.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import psycopg

from workers.settings import Settings

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
            _clear_stale_pidfile(pgdata)
            # cleanup_mode=None: leave the server running for the other processes.
            server = pgserver.get_server(pgdata, cleanup_mode=None)
            _embedded_urls[pgdata] = server.get_uri()
            log.info("embedded Postgres at %s", pgdata)
        return _embedded_urls[pgdata]


def _pgdata(data_dir: Path) -> Path:
    return (Path(data_dir) / "postgres").resolve()


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid ``postmaster.pid`` names, or None when there is no (readable) file."""
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def embedded_running(data_dir: Path) -> bool:
    """Whether ``postmaster.pid`` names a live (not zombie) postmaster that accepts connections."""
    pgdata = _pgdata(data_dir)
    pid = _postmaster_pid(pgdata)
    if pid is None or not _alive(pid):
        return False
    url = _embedded_urls.get(pgdata)
    if url is None:
        return True  # alive; we have never connected to it, so let the caller try
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _clear_stale_pidfile(pgdata: Path) -> None:
    """Remove a ``postmaster.pid`` whose postmaster is dead or a zombie (a killed server whose
    parent never reaped it): pgserver checks only that the pid exists, and would take it for
    a running server."""
    pid = _postmaster_pid(pgdata)
    if pid is not None and not _alive(pid):
        stale = pgdata / "postmaster.pid"
        log.warning("removing the stale %s (postmaster %s is not running)", stale, pid)
        stale.unlink(missing_ok=True)


def revive_embedded(data_dir: Path) -> bool:
    """Start the embedded Postgres again if it is gone; True if this call started it. Under
    an inter-process lock, so a fleet that lost it together brings it back once. A stale
    ``postmaster.pid`` (dead or zombie postmaster) is removed first: pgserver would take it
    for a running server."""
    import fcntl

    pgdata = _pgdata(data_dir)
    with open(pgdata.parent / ".postgres-supervisor.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if embedded_running(data_dir):
            return False
        log.warning("embedded Postgres at %s is not running; starting it again", pgdata)
        from pgserver.postgres_server import PostgresServer

        with _embedded_lock:
            PostgresServer._instances.pop(pgdata, None)
            _embedded_urls.pop(pgdata, None)
        url = embedded_database_url(data_dir)
        log.info("embedded Postgres is back at %s", url)
        return True


class EmbeddedSupervisor:
    """What a process using the embedded Postgres calls when the database does not answer:
    ``poke`` starts ``revive_embedded`` in the background at most every ``interval`` seconds
    (a no-op unless ``database_url`` is the embedded server of ``settings.data_dir`` that
    this process started or joined: a configured server is someone else's to run)."""

    def __init__(self, settings: Settings, database_url: str, *, interval: float = 5.0, clock=None):
        import time

        ours = not settings.database_url and _embedded_urls.get(_pgdata(settings.data_dir)) == database_url
        self.data_dir = settings.data_dir if ours else None
        self.interval, self.clock = interval, clock or time.monotonic
        self._last = float("-inf")
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        if self.data_dir is None:
            return
        with self._lock:
            now = self.clock()
            if now < self._last + self.interval or (self._thread is not None and self._thread.is_alive()):
                return
            self._last = now
            self._thread = threading.Thread(target=self._revive, name="pg-supervisor", daemon=True)
            self._thread.start()

    def _revive(self) -> None:
        try:
            revive_embedded(self.data_dir)
        except Exception:  # noqa: BLE001 - the next poke tries again
            log.exception("could not start the embedded Postgres again")


def release_embedded(data_dir: Path) -> bool:
    """For one-shot commands: stop the embedded Postgres unless another live process holds a
    handle on it (pgserver's ``.handle_pids.json``). True if it was stopped."""
    import json

    pgdata = _pgdata(data_dir)
    try:
        pids = json.loads((pgdata / ".handle_pids.json").read_text())
    except (OSError, ValueError):
        pids = []
    others = [p for p in pids if isinstance(p, int) and p != os.getpid() and _alive(p)]
    if others:
        log.info("embedded Postgres left running: processes %s use it", others)
        return False
    return stop_embedded(data_dir)


def stop_embedded(data_dir: Path) -> bool:
    """Stop the embedded Postgres of ``data_dir`` if it runs; True if it was stopped."""
    import subprocess

    from pgserver._commands import pg_ctl  # the package's own pg_ctl wrapper

    pgdata = _pgdata(data_dir)
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
