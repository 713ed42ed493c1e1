"""Holds real responses to the API's contract (server/openapi.json)."""
from __future__ import annotations

import functools

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from server.contract import document

URI = "urn:clipqueue:openapi"


@functools.cache
def _registry() -> Registry:
    return Registry().with_resource(URI, Resource.from_contents(document(), default_specification=DRAFT202012))


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def response_spec(path: str, method: str, status: int) -> tuple[str, dict]:
    """(JSON pointer, object) of the documented response; AssertionError when undocumented."""
    responses = document()["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which the contract does not list"
    pointer = "/paths/" + "/".join(_escape(p) for p in (path, method.lower(), "responses", str(status)))
    spec = responses[str(status)]
    if "$ref" in spec:
        pointer = spec["$ref"].lstrip("#")
        spec = _registry().resolver(base_uri=URI).lookup(spec["$ref"]).contents
    return pointer, spec


def assert_conforms(path: str, method: str, response) -> None:
    """The Flask test ``response`` is documented for ``method path`` (status and content
    type) and its JSON body validates against the documented schema."""
    _, spec = response_spec(path, method, response.status_code)
    content = spec.get("content") or {}
    if content:
        assert response.mimetype in content, \
            f"{method} {path} {response.status_code} answered {response.mimetype}; the contract says {sorted(content)}"
    if response.mimetype == "application/json":
        assert_body_conforms(path, method, response.status_code, response.get_json())


def assert_body_conforms(path: str, method: str, status: int, body) -> None:
    """A JSON ``body`` answered with ``status`` validates against the documented schema."""
    pointer, spec = response_spec(path, method, status)
    assert "application/json" in (spec.get("content") or {}), f"{method} {path} {status} documents no JSON body"
    schema_pointer = f"{pointer}/content/{_escape('application/json')}/schema"
    validator = Draft202012Validator({"$ref": f"{URI}#{schema_pointer}"}, registry=_registry(),
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method} {path} {status}: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '(body)'}: {e.message}" for e in errors[:5])
