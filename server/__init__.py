"""ClipQueue's HTTP API: ``create_app(config=None)``.

``config`` (all optional) overrides what would come from the environment: ``settings``
(a ``workers.settings.Settings``), ``database_url``, ``step_table`` (for the internal
route), ``services`` (collaborators handed to steps), ``storage`` (where clip files are
served from), ``resolver`` (DNS lookups for the SSRF guard) and ``address_policy`` (which
addresses count as public; tests only). Nothing happens at import time; ``create_app``
resolves the database (embedded Postgres when ``DATABASE_URL`` is unset) and applies
migrations.
"""
from __future__ import annotations

from typing import Any, Mapping

from datetime import date, datetime

from flask import Flask
from flask.json.provider import DefaultJSONProvider


class IsoJSONProvider(DefaultJSONProvider):
    """Timestamps as ISO 8601 (Flask's default is the HTTP date format); keys in order."""

    sort_keys = False

    @staticmethod
    def default(o):
        if isinstance(o, (datetime, date)):
            return o.isoformat()
        return DefaultJSONProvider.default(o)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    from workers.queue.bootstrap import configure_logging, prepare_database
    from workers.settings import Settings
    from workers.pipeline.storage import build_storage
    from workers.pipeline.fetcher.guard import CachedResolver, is_public_address, system_resolver

    from . import contract, errors, health, internal, metrics, page, search, uploads, video
    from .state import AppState

    config = dict(config or {})
    settings = config.get("settings") or Settings.from_env()
    if "settings" not in config:
        configure_logging(settings)
    database_url = config.get("database_url") or prepare_database(settings)

    app = Flask(__name__)
    app.json = IsoJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    pool = ConnectionPool(
        database_url,
        min_size=1,
        max_size=settings.db_pool_size,
        kwargs={"autocommit": True, "row_factory": dict_row, "application_name": "clipqueue-api"},
        timeout=10,
        open=True,
        check=ConnectionPool.check_connection,
    )
    app.extensions["clipqueue"] = AppState(
        settings=settings,
        database_url=database_url,
        pool=pool,
        # Submit-time DNS: bounded and cached, so a slow resolver never holds a request thread.
        resolver=CachedResolver(config.get("resolver") or system_resolver, timeout_s=settings.dns_timeout_s),
        address_policy=config.get("address_policy") or is_public_address,
        step_table=config.get("step_table"),
        services=config.get("services") or {},
        storage=config.get("storage") or build_storage(settings),
        **({"clock": config["clock"]} if config.get("clock") else {}),
    )
    from workers.queue.embedded import EmbeddedSupervisor

    app.extensions["clipqueue_supervisor"] = EmbeddedSupervisor(settings, database_url)
    errors.register(app)
    app.register_blueprint(video.blueprint)
    app.register_blueprint(internal.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(contract.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(page.blueprint)
    app.register_blueprint(uploads.blueprint)
    app.register_blueprint(search.blueprint)
    return app
