"""``GET /``: the web page (plain HTML, CSS and JS in ``server/static``; no build step, no CDN).

It talks to the public JSON API only, like any client: submit, poll the status, play the
clips, read the transcript. The tokens a browser submitted stay in its localStorage; the
server lists no tokens.
"""
from __future__ import annotations

from flask import Blueprint, current_app

blueprint = Blueprint("page", __name__)


@blueprint.get("/")
def index():
    response = current_app.send_static_file("index.html")
    response.headers["Cache-Control"] = "no-cache"
    # No inline script or style, nothing from elsewhere: the page needs nothing more.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob: https:; media-src 'self' blob: https:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
