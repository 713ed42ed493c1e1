"""``GET /healthz``: 200 when the database answers, 503 otherwise."""
from __future__ import annotations

import logging

import psycopg
from flask import Blueprint, jsonify
from psycopg_pool import PoolTimeout

from workers.queue import jobs as queue

from .state import state

log = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    try:
        with state().pool.connection(timeout=2) as conn:
            queue.ping(conn)
    except (psycopg.Error, PoolTimeout) as exc:
        log.warning("health check failed: %s", exc)
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"})
