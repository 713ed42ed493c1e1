"""The bearer check of every ``/internal`` route (INTERNAL_API_TOKEN)."""
from __future__ import annotations

import hmac

from flask import request

from .errors import ApiError
from .state import state


def require_internal_token() -> None:
    """Raise unless the request carries ``Authorization: Bearer <INTERNAL_API_TOKEN>``. With
    no token configured the internal routes do not exist (404)."""
    expected = state().settings.internal_api_token
    if not expected:
        raise ApiError(404, "not_found", "no such resource")
    header = request.headers.get("Authorization", "")
    scheme, _, provided = header.partition(" ")
    # compare_digest: constant time in the token's content, whatever its length.
    if scheme.lower() != "bearer" or not hmac.compare_digest(provided.strip().encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "a valid bearer token is required",
                       {"WWW-Authenticate": 'Bearer realm="clipqueue-internal"'})
