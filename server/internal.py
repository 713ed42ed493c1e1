"""``/internal``: routes for schedulers, behind ``Authorization: Bearer <INTERNAL_API_TOKEN>``.

With no token configured the routes do not exist (404). ``perform-video-processing``
claims one due job and runs its next step inside the request, so pg_cron + pg_net (or any
scheduler) can drive the pipeline without long-running workers.
"""
from __future__ import annotations

import hmac
import os
import socket
import threading

from flask import Blueprint, jsonify, request

from workers import queue
from workers.steps import validate_steps, STEPS

from .errors import ApiError
from .state import state
from .video import json_object_body

blueprint = Blueprint("internal", __name__, url_prefix="/internal")


@blueprint.before_request
def require_token():
    expected = state().settings.internal_api_token
    if not expected:
        raise ApiError(404, "not_found", "no such resource")
    header = request.headers.get("Authorization", "")
    scheme, _, provided = header.partition(" ")
    # compare_digest: constant time in the token's content, whatever its length.
    if scheme.lower() != "bearer" or not hmac.compare_digest(provided.strip().encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "a valid bearer token is required",
                       {"WWW-Authenticate": 'Bearer realm="clipqueue-internal"'})


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
    worker_id = f"api:{socket.gethostname()}:{os.getpid()}/{threading.get_ident()}"
    with app_state.pool.connection() as conn:
        job = queue.claim(conn, worker_id=worker_id, steps=steps,
                          lease_seconds=app_state.settings.lease_seconds)
        if job is None:
            return "", 204
        outcome = app_state.executor().execute(conn, job)
    return jsonify(outcome.as_dict())
