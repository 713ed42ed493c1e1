"""``GET /openapi.json``: the API's contract, OpenAPI 3.1 (``server/openapi.json``).

The document is written by hand and held to the code by the tests: every route of the app is
in it, every real response in the test suite validates against it, and Schemathesis runs it
against the app (tests/test_contract.py).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from flask import Blueprint, jsonify

blueprint = Blueprint("contract", __name__)
DOCUMENT = Path(__file__).with_name("openapi.json")


@functools.cache
def document() -> dict:
    return json.loads(DOCUMENT.read_text())


@blueprint.get("/openapi.json")
def openapi():
    response = jsonify(document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
