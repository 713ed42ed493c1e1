"""The embedded Postgres (pgserver): the database when no ``DATABASE_URL`` is set.

The embedded server lives in ``<CLIPQUEUE_DATA_DIR>/postgres`` and keeps running after the
process that started it exits, so the API and every worker process share one server.
It is supervised by its users: a process that finds it gone (killed, crashed; a stale
``postmaster.pid`` whose process is dead or a zombie) starts it again with
``revive_embedded`` -- one process at a time, under a file lock beside the data (the same
lock under which the first process creates it: processes that start together join one
server). The one-shot commands stop it on the way out when they started it and no other live
process uses it (``release_embedded``); operators stop it with ``python -m workers db-stop``.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import psycopg

from workers.settings import Settings

log = logging.getLogger(__name__)
# Held around every create, start and revive in this process, always before the file lock.
_embedded_lock = threading.RLock()
_embedded_urls: dict[Path, str] = {}
STANDALONE_WAIT_S = 60.0  # how long to wait for someone else's initdb / single-user backend


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded Postgres in ``data_dir/postgres``; return its URL.

    Creating and starting happen under an inter-process lock (``flock`` on a file beside the
    data): of processes that start at the same moment on a fresh data directory (gunicorn's
    workers and ``workers run``), the first creates the server and the others wait and join
    it, instead of reading a ``postmaster.pid`` that initdb is still writing."""
    pgdata = _pgdata(data_dir)
    with _embedded_lock:
        if pgdata not in _embedded_urls:
            with _file_lock(pgdata):
                _start_locked(pgdata)
        return _embedded_urls[pgdata]


@contextmanager
def _file_lock(pgdata: Path):
    """The inter-process lock of ``pgdata``'s server: ``<data dir>/.postgres-supervisor.lock``."""
    import fcntl

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with open(pgdata.parent / ".postgres-supervisor.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _pgserver():
    """pgserver, imported quietly: its import asks platformdirs for a runtime directory, which
    warns when XDG_RUNTIME_DIR is unset (it then uses /tmp/runtime-<uid>, which is fine)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver
        from pgserver.postgres_server import PostgresServer
    return pgserver, PostgresServer


def _start_locked(pgdata: Path) -> None:
    """Create and start the server, or join the running one (the file lock is held)."""
    pgserver, PostgresServer = _pgserver()
    _clear_stale_pidfile(pgdata)
    PostgresServer._instances.pop(pgdata, None)  # a handle from before a stop would not start it
    # cleanup_mode=None: leave the server running for the other processes.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    _embedded_urls[pgdata] = server.get_uri()
    log.info("embedded Postgres at %s", pgdata)


def _pgdata(data_dir: Path) -> Path:
    return (Path(data_dir) / "postgres").resolve()


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid ``postmaster.pid`` names, or None when there is no (readable) file. A negative
    pid is a standalone backend's (initdb's, or single-user mode), not a postmaster's."""
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def embedded_running(data_dir: Path) -> bool:
    """Whether ``postmaster.pid`` names a live (not zombie) postmaster that accepts connections."""
    pgdata = _pgdata(data_dir)
    pid = _postmaster_pid(pgdata)
    if pid is None or pid <= 0 or not _alive(pid):
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
    """Whether ``pid`` is a live process, not a zombie. psutil refuses a pid <= 0 with a
    ValueError (not a psutil.Error)."""
    import psutil

    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError, OverflowError):
        return False


def _clear_stale_pidfile(pgdata: Path, *, clock=time.monotonic, sleep=time.sleep) -> None:
    """Remove a ``postmaster.pid`` pgserver would misread (the file lock is held, so none of
    our processes is writing it): one whose postmaster is dead or a zombie (a killed server
    whose parent never reaped it: pgserver checks only that the pid exists), one whose first
    line is not a pid, or a dead standalone backend's (a negative pid: initdb was killed).
    A live standalone backend (someone else's initdb or single-user session) is waited for."""
    stale = pgdata / "postmaster.pid"
    deadline = clock() + STANDALONE_WAIT_S
    while stale.exists():
        pid = _postmaster_pid(pgdata)
        if pid is not None and pid < 0 and _alive(-pid):
            if clock() > deadline:
                raise RuntimeError(f"a standalone Postgres backend (pid {-pid}) still holds {pgdata} after "
                                   f"{STANDALONE_WAIT_S:.0f} s: is initdb or a single-user session running?")
            sleep(0.2)
            continue
        if pid is not None and pid > 0 and _alive(pid):
            return
        log.warning("removing the stale %s (%s)", stale,
                    "not a pid in it" if pid is None else f"process {abs(pid)} is not running")
        stale.unlink(missing_ok=True)


def revive_embedded(data_dir: Path) -> bool:
    """Start the embedded Postgres again if it is gone; True if this call started it. Under
    an inter-process lock, so a fleet that lost it together brings it back once. A stale
    ``postmaster.pid`` (dead or zombie postmaster) is removed first: pgserver would take it
    for a running server."""
    pgdata = _pgdata(data_dir)
    with _embedded_lock, _file_lock(pgdata):
        if embedded_running(data_dir):
            return False
        log.warning("embedded Postgres at %s is not running; starting it again", pgdata)
        _embedded_urls.pop(pgdata, None)
        _start_locked(pgdata)
        log.info("embedded Postgres is back at %s", _embedded_urls[pgdata])
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

    _pgserver()
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
