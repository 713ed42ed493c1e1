"""Start-up shared by the API and the workers: find the database, apply migrations."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from workers.queue.db import Backoff, connect, resolve_database_url, retrying
from workers.queue.embedded import revive_embedded
from workers.queue.migrate import apply_migrations
from workers.settings import Settings

log = logging.getLogger(__name__)


def prepare_database(settings: Settings, *, sleep=time.sleep, clock=time.monotonic) -> str:
    """Resolve the database URL (starting the embedded Postgres if none is configured),
    apply pending migrations, and return the URL. A database that does not answer yet
    (restarting, still booting) is retried with backoff for ``settings.db_wait_s`` seconds
    before the error is raised, so a fleet started alongside Postgres comes up on its own."""
    url = resolve_database_url(settings)

    def migrate() -> list[str]:
        with connect(url, application_name="clipqueue-migrate") as conn:
            return apply_migrations(conn)

    def waiting(exc: Exception, delay: float) -> None:
        log.warning("database not reachable yet (%s); retrying in %.1f s", str(exc).strip(), delay)
        if not settings.database_url:
            revive_embedded(settings.data_dir)  # ours to run: a stale pid file, a killed server

    applied = retrying(migrate, within_s=settings.db_wait_s, backoff=Backoff(0.2, 5.0), on_retry=waiting,
                       sleep=sleep, clock=clock)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    return url


def configure_logging(settings: Settings, *, log_file: Path | None = None, console: bool = True) -> None:
    """Log at ``CLIPQUEUE_LOG_LEVEL`` to stderr (``console``) and/or to ``log_file``, through a
    bounded queue and one writer thread (``logsink``): a slow or stuck sink drops and counts
    records, it never blocks a thread that holds a lease. Python warnings that libraries emit
    go the same way, so a command that logs only to its file prints nothing but its own output."""
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()] if console else []
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    root = logging.getLogger()
    root.setLevel(getattr(logging, settings.log_level, logging.INFO))
    for handler in handlers:
        handler.setFormatter(formatter)
    if handlers:
        import atexit

        from workers.queue import logsink

        atexit.register(logsink.install(root, handlers).stop)  # what is queued is written at exit
    else:
        root.addHandler(logging.NullHandler())
    logging.captureWarnings(True)
