"""The HTTP API's bad-input battery, continued: status tokens, the internal route, clip
options, files, and property tests over any token or URL value."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings as settings_, strategies as st

from server import create_app

from .test_api import INTERNAL_TOKEN, app, assert_error, assert_no_leak, auth, client  # noqa: F401 - fixtures


STATUS_CASES = {
    "no_token": ("/public/video/status", 400, "missing_token"),
    "empty_token": ("/public/video/status?token=", 400, "missing_token"),
    "short_token": ("/public/video/status?token=abc", 400, "invalid_token"),
    "long_token": ("/public/video/status?token=" + "a" * 33, 400, "invalid_token"),
    "token_with_bad_characters": ("/public/video/status?token=" + "a" * 31 + "!", 400, "invalid_token"),
    "sql_in_token": ("/public/video/status?token=' OR 1=1 --", 400, "invalid_token"),
    "unknown_token": ("/public/video/status?token=" + "A" * 32, 404, "unknown_token"),
}


@pytest.mark.parametrize("case", sorted(STATUS_CASES))
def test_status_rejects_a_bad_token(client, case):
    path, status, code = STATUS_CASES[case]
    assert_error(client.get(path), status, code)


def test_status_with_post_is_405(client):
    assert_error(client.post("/public/video/status?token=" + "A" * 32), 405, "method_not_allowed")


def test_an_unknown_route_is_a_json_404(client):
    assert_error(client.get("/nope"), 404, "not_found")


# ------------------------------------------------------------------ bad input: internal route
INTERNAL_AUTH_CASES = {
    "no_authorization": {},
    "wrong_token": auth("internal-secret-0123456789abcdeX"),
    "shorter_token": auth("internal"),
    "longer_token": auth(INTERNAL_TOKEN + "x"),
    "empty_bearer": {"Authorization": "Bearer "},
    "basic_scheme": {"Authorization": f"Basic {INTERNAL_TOKEN}"},
    "token_without_scheme": {"Authorization": INTERNAL_TOKEN},
}


@pytest.mark.parametrize("case", sorted(INTERNAL_AUTH_CASES))
def test_internal_route_refuses_without_the_right_token(client, case):
    response = client.post("/internal/perform-video-processing", headers=INTERNAL_AUTH_CASES[case])
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_internal_routes_do_not_exist_without_a_configured_token(database_url, db, settings):
    app = create_app({"settings": settings.replace(internal_api_token=None), "database_url": database_url})
    try:
        response = app.test_client().post("/internal/perform-video-processing", headers=auth())
        assert_error(response, 404, "not_found")
    finally:
        app.extensions["clipqueue"].pool.close()


INTERNAL_BODY_CASES = {
    "non_json_body": ({"data": "steps=download", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    "malformed_json": ({"data": "{", "content_type": "application/json"}, 400, "invalid_json"),
    "unknown_step": ({"json": {"steps": ["render"]}}, 400, "invalid_steps"),
    "steps_not_a_list": ({"json": {"steps": "download"}}, 400, "invalid_steps"),
    "empty_steps": ({"json": {"steps": []}}, 400, "invalid_steps"),
    "unknown_field": ({"json": {"limit": 3}}, 400, "unknown_field"),
}


@pytest.mark.parametrize("case", sorted(INTERNAL_BODY_CASES))
def test_internal_route_rejects_a_bad_body(client, case):
    kwargs, status, code = INTERNAL_BODY_CASES[case]
    assert_error(client.post("/internal/perform-video-processing", headers=auth(), **kwargs), status, code)


def test_internal_route_with_get_is_405(client):
    assert_error(client.get("/internal/perform-video-processing", headers=auth()), 405, "method_not_allowed")


CLIP_OPTION_CASES = {
    "min_too_small": ({"clip_min_seconds": 1}, "invalid_clip_length"),
    "max_too_large": ({"clip_max_seconds": 3600}, "invalid_clip_length"),
    "min_not_a_number": ({"clip_min_seconds": "15"}, "invalid_clip_length"),
    "min_boolean": ({"clip_min_seconds": True}, "invalid_clip_length"),
    "min_above_max": ({"clip_min_seconds": 50, "clip_max_seconds": 20}, "invalid_clip_length"),
    "max_clips_zero": ({"max_clips": 0}, "invalid_max_clips"),
    "max_clips_fraction": ({"max_clips": 2.5}, "invalid_max_clips"),
    "max_clips_too_many": ({"max_clips": 500}, "invalid_max_clips"),
}


@pytest.mark.parametrize("case", sorted(CLIP_OPTION_CASES))
def test_submit_rejects_bad_clip_options(client, db, case):
    extra, code = CLIP_OPTION_CASES[case]
    assert_error(client.post("/public/video", json={"url": "https://example.com/v.mp4", **extra}), 400, code)
    assert db.execute("SELECT count(*) AS n FROM video_processing_queue").fetchone()["n"] == 0


def test_clip_options_reach_the_job(client, db):
    body = {"url": "https://example.com/opts.mp4", "clip_min_seconds": 10, "clip_max_seconds": 30, "max_clips": 3}
    assert client.post("/public/video", json=body).status_code == 202
    options = db.execute("SELECT options FROM video_processing_queue").fetchone()["options"]
    assert options == {"clip_min_seconds": 10.0, "clip_max_seconds": 30.0, "max_clips": 3}


@pytest.mark.parametrize("name", ["..%2Fsecret", "clip-01.mp4", ".hidden"])
def test_files_of_unknown_or_unfinished_videos_are_404(client, name):
    token = client.post("/public/video", json={"url": "https://example.com/f.mp4"}).get_json()["token"]
    assert_error(client.get(f"/public/video/{token}/files/{name}"), 404, "not_found")
    assert_error(client.get(f"/public/video/{'A' * 32}/files/{name}"), 404, "not_found")


# ------------------------------------------------------------------ properties
@settings_(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80))
def test_any_token_text_gets_a_json_400_or_404_never_an_error_page(client, text):
    from urllib.parse import quote

    response = client.get("/public/video/status?token=" + quote(text, safe=""))
    assert response.status_code in (400, 404), response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] in ("missing_token", "invalid_token", "unknown_token")
    assert_no_leak(response)


@settings_(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=200), st.integers(), st.none(), st.lists(st.text(max_size=5), max_size=3)))
def test_any_url_value_is_accepted_or_refused_with_a_json_400(client, value):
    response = client.post("/public/video", json={"url": value})
    assert response.status_code in (202, 400), response.get_data(as_text=True)
    if response.status_code == 400:
        assert response.get_json()["error"]["code"]
    assert_no_leak(response)
