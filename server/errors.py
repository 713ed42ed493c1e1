"""The one place that turns errors into JSON: ``{"error": {"code", "message"}}``.

Clients never see a stack trace or an internal id; unexpected errors are logged with
their traceback and answered with a generic 500.
"""
from __future__ import annotations

import logging

import psycopg
from flask import Flask, jsonify
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = {
            404: "no such resource",
            405: "method not allowed on this resource",
            413: "the request body is too large",
        }.get(status, exc.description or exc.name)
        headers = {k: v for k, v in exc.get_response().headers.items() if k in ("Allow",)}
        return error_response(status, _HTTP_CODES.get(status, "http_error"), message, headers)

    @app.errorhandler(psycopg.OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(exc: Exception):
        log.warning("database unavailable: %s", exc)
        supervisor = app.extensions.get("clipqueue_supervisor")
        if supervisor is not None:
            supervisor.poke()  # the embedded Postgres is ours to bring back
        return error_response(503, "unavailable", "the service is temporarily unavailable; retry shortly",
                              {"Retry-After": "5"})

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an internal error occurred")
