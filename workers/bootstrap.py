"""Start-up shared by the API and the workers: find the database, apply migrations."""
from __future__ import annotations

import logging

from .db import connect, resolve_database_url
from .migrate import apply_migrations
from .settings import Settings

log = logging.getLogger(__name__)


def prepare_database(settings: Settings) -> str:
    """Resolve the database URL (starting the embedded Postgres if none is configured),
    apply pending migrations, and return the URL."""
    url = resolve_database_url(settings)
    with connect(url, application_name="clipqueue-migrate") as conn:
        applied = apply_migrations(conn)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    return url


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s",
    )
