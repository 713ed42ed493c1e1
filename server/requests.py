"""Request helpers the blueprints share (blueprints never import each other)."""
from __future__ import annotations

from flask import request

from .errors import ApiError


def json_object_body() -> dict:
    """The request body as a JSON object, or a 415/400 ApiError that says what is wrong."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON (Content-Type: application/json)")
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # json's recursion limit: a body nested thousands deep
        raise ApiError(400, "invalid_json", "the request body is nested too deeply") from None
    if body is None:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "the request body must be a JSON object")
    return body
