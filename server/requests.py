"""Request helpers the blueprints share (blueprints never import each other)."""
from __future__ import annotations

import re

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


RANGE = re.compile(r"bytes=(?:(\d+)-(\d*)|-(\d+))")


def byte_range(size: int) -> None:
    """The Range header per RFC 9110 14.2, before ``send_file`` serves it: one satisfiable
    byte range is served as 206 (a suffix longer than the file means the whole file); an
    unsatisfiable one is a 416 with ``Content-Range: bytes */size``; anything else -- another
    unit, several ranges, a garbled value -- is ignored and the whole file is sent (200)."""
    header = request.environ.get("HTTP_RANGE")
    if header is None:
        return
    match = RANGE.fullmatch(header.replace(" ", ""))
    if match is None:
        del request.environ["HTTP_RANGE"]  # not one byte range we understand: ignore it
        return
    first, last, suffix = match.groups()
    if suffix is not None:
        length = int(suffix)
        if length == 0 or size == 0:
            raise ApiError(416, "range_not_satisfiable", "the range is outside the file",
                           {"Content-Range": f"bytes */{size}"})
        start, end = max(0, size - length), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if last and int(last) < start:
            del request.environ["HTTP_RANGE"]  # invalid (last < first): ignored, per the RFC
            return
        if start >= size:
            raise ApiError(416, "range_not_satisfiable", "the range starts past the end of the file",
                           {"Content-Range": f"bytes */{size}"})
    request.environ["HTTP_RANGE"] = f"bytes={start}-{end}"  # normalized for send_file
