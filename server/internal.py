"""``/internal``: routes for schedulers, behind ``Authorization: Bearer <INTERNAL_API_TOKEN>``.

With no token configured the routes do not exist (404). ``perform-video-processing``
claims one due job and runs its next step inside the request, so pg_cron + pg_net (or any
scheduler) can drive the pipeline without long-running workers. At most
CLIPQUEUE_INTERNAL_CONCURRENCY steps run at once per API process; past that the route
answers 429 with Retry-After at once, so steps never take the threads that public reads need.
"""
from __future__ import annotations

import os
import socket
import threading

from flask import Blueprint, jsonify, request

from workers.queue import jobs as queue
from workers.pipeline.table import validate_steps, STEPS

from . import checks
from .auth import require_internal_token
from .errors import ApiError
from .state import state
from .requests import json_object_body

blueprint = Blueprint("internal", __name__, url_prefix="/internal")


blueprint.before_request(require_internal_token)


@blueprint.post("/perform-video-processing")
def perform_video_processing():
    steps = STEPS
    if request.content_length or request.data:
        body = json_object_body()
        unknown = sorted(set(body) - {"steps"})
        if unknown:
            raise ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}; accepted: steps")
        if "steps" in body:
            raw = body["steps"]
            if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
                raise ApiError(400, "invalid_steps", '"steps" must be a list of step names')
            try:
                steps = validate_steps(raw)
            except ValueError as exc:
                raise ApiError(400, "invalid_steps", str(exc)) from None
    app_state = state()
    if not app_state.internal_slot():
        raise ApiError(429, "too_many_steps",
                       f"this API process already runs {app_state.settings.internal_concurrency} steps "
                       "(CLIPQUEUE_INTERNAL_CONCURRENCY); try again shortly", {"Retry-After": "5"})
    try:
        worker_id = f"api:{socket.gethostname()}:{os.getpid()}/{threading.get_ident()}"
        with app_state.pool.connection() as conn:
            job = queue.claim(conn, worker_id=worker_id, steps=steps,
                              lease_seconds=app_state.settings.lease_seconds)
        if job is None:
            return "", 204
        # The step runs with no pooled connection held: a long download must not take a
        # connection that status reads need; the outcome write takes one for a moment.
        outcome = app_state.executor().execute_pooled(app_state.pool, job)
    finally:
        app_state.release_internal_slot()
    return jsonify(outcome.as_dict())


@blueprint.get("/health")
def health():
    """The detailed health check (bearer, like every internal route): 200 when every check is
    ok, 503 otherwise; each check says what it found."""
    app_state = state()
    settings = app_state.settings
    found = {
        "database": checks.database(app_state.pool, settings),
        "storage": checks.storage(app_state.storage, settings),
        "ffmpeg": checks.ffmpeg(settings),
        "whisper": checks.whisper(settings),
        "llm": checks.llm(app_state.services, settings),
    }
    healthy = all(c["ok"] for c in found.values())
    response = jsonify({"status": "ok" if healthy else "degraded", "checks": found})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
