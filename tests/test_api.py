"""The HTTP API: happy paths and the bad-input battery (each case its own test)."""
from __future__ import annotations

import json
import socket

import pytest

from server import create_app
from workers.queue import jobs as queue

from doubles.dns import fake_resolver
from .support.steps import TABLE

INTERNAL_TOKEN = "internal-secret-0123456789abcdef"


@pytest.fixture
def app(database_url, db, settings):
    app = create_app({"settings": settings.replace(allow_private_urls=False, internal_api_token=INTERNAL_TOKEN,
                                                   max_body_bytes=4096),
                      "database_url": database_url, "resolver": fake_resolver, "step_table": TABLE})
    yield app
    app.extensions["clipqueue"].pool.close()


@pytest.fixture
def client(app):
    return app.test_client()


def auth(token=INTERNAL_TOKEN):
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    assert_no_leak(response)


def assert_no_leak(response):
    text = response.get_data(as_text=True)
    for needle in ("Traceback", 'File "', "psycopg", f"{socket.gethostname()}:", "video_id", "job_id", "worker"):
        assert needle not in text, (needle, text)


# ------------------------------------------------------------------ happy paths
def test_submit_returns_202_with_a_token_and_its_status_url(client):
    response = client.post("/public/video", json={"url": "https://example.com/talk.mp4"})
    assert response.status_code == 202
    body = response.get_json()
    assert len(body["token"]) == 32 and body["created"] is True
    assert body["status_url"] == f"/public/video/status?token={body['token']}"
    assert response.headers["Location"] == body["status_url"]
    status = client.get(body["status_url"]).get_json()
    assert (status["status"], status["pipeline_step"], status["progress"]) == ("queued", "download", 0.0)
    assert status["url"] == "https://example.com/talk.mp4"


def test_the_same_video_submitted_again_gets_the_same_token(client):
    first = client.post("/public/video", json={"url": "https://example.com/talk.mp4"}).get_json()
    again = client.post("/public/video", json={"url": "  HTTPS://EXAMPLE.com:443/talk.mp4#t=10 "}).get_json()
    assert again["token"] == first["token"] and again["created"] is False


def test_unicode_hosts_are_accepted_in_their_idna_form(client, db):
    response = client.post("/public/video", json={"url": "https://bücher.example/v.mp4"})
    assert response.status_code == 202
    assert db.execute("SELECT normalized_url FROM videos").fetchone()["normalized_url"] == \
        "https://xn--bcher-kva.example/v.mp4"


def test_status_of_a_finished_video_has_timeline_progress_and_result(client):
    token = client.post("/public/video", json={"url": "https://example.com/done.mp4"}).get_json()["token"]
    outcomes = [client.post("/internal/perform-video-processing", headers=auth()).get_json() for _ in range(5)]
    assert [o["step"] for o in outcomes] == ["download", "transcript", "content_type", "clip_lookup",
                                             "clip_generation"]
    assert [o["result"] for o in outcomes] == ["succeeded"] * 5 and outcomes[-1]["status"] == "done"
    status = client.get(f"/public/video/status?token={token}")
    assert status.headers["Cache-Control"] == "no-store"
    body = status.get_json()
    assert (body["status"], body["progress"], body["failure"]) == ("done", 1.0, None)
    assert [s["state"] for s in body["steps"]] == ["done"] * 5
    assert all(s["duration_s"] >= 0 and s["started_at"] <= s["finished_at"] for s in body["steps"])
    assert body["result"] == {"step": "clip_generation"}
    assert_no_leak(status)


def test_status_shows_progress_of_a_partly_processed_video(client):
    token = client.post("/public/video", json={"url": "https://example.com/partial.mp4"}).get_json()["token"]
    for _ in range(2):
        client.post("/internal/perform-video-processing", headers=auth())
    body = client.get(f"/public/video/status?token={token}").get_json()
    assert body["progress"] == 0.4 and body["pipeline_step"] == "content_type"
    assert [s["state"] for s in body["steps"]] == ["done", "done", "queued", "pending", "pending"]


def test_a_failed_video_reports_its_cause_and_a_message_but_no_stack_trace(client, db):
    token = queue.enqueue(db, source_url="https://example.com/crash.mp4", normalized_url="https://example.com/crash.mp4",
                          max_retries=0, options={"script": {"download": {"fail": "crash"}}}).token
    outcome = client.post("/internal/perform-video-processing", headers=auth()).get_json()
    assert (outcome["result"], outcome["cause"]) == ("failed", "internal_error")
    response = client.get(f"/public/video/status?token={token}")
    body = response.get_json()
    assert body["status"] == "failed" and body["failure"]["cause"] == "internal_error"
    assert "secret" not in body["failure"]["message"] and body["steps"][0]["state"] == "failed"
    assert_no_leak(response)


def test_a_video_waiting_for_a_retry_says_when(client, db):
    token = queue.enqueue(db, source_url="https://example.com/flaky.mp4", normalized_url="https://example.com/flaky.mp4",
                          options={"script": {"download": {"fail": "transient"}}}).token
    assert client.post("/internal/perform-video-processing", headers=auth()).get_json()["result"] == "retry_scheduled"
    body = client.get(f"/public/video/status?token={token}").get_json()
    assert body["status"] == "queued" and body["retry"] == 1 and body["steps"][0]["state"] == "retrying"
    assert body["failure"]["cause"] == "test_transient" and body["next_attempt_at"]


def test_a_cancelled_video_shows_no_stale_transient_failure(client, db):
    token = queue.enqueue(db, source_url="https://example.com/gone.mp4", normalized_url="https://example.com/gone.mp4",
                          options={"script": {"download": {"fail": "transient"}}}).token
    assert client.post("/internal/perform-video-processing", headers=auth()).get_json()["result"] == "retry_scheduled"
    assert queue.request_cancel(db, token) == "cancelled"
    body = client.get(f"/public/video/status?token={token}").get_json()
    assert body["status"] == "cancelled" and body["steps"][0]["state"] == "cancelled"
    assert body["failure"] is None and "next_attempt_at" not in body  # not "... it will be retried"


def test_internal_route_answers_204_when_nothing_is_due(client):
    response = client.post("/internal/perform-video-processing", headers=auth())
    assert response.status_code == 204 and response.get_data() == b""


def test_internal_route_takes_only_the_steps_asked_for(client):
    client.post("/public/video", json={"url": "https://example.com/steps.mp4"})
    response = client.post("/internal/perform-video-processing", headers=auth(), json={"steps": ["transcript"]})
    assert response.status_code == 204
    response = client.post("/internal/perform-video-processing", headers=auth(), json={"steps": ["download"]})
    assert response.get_json()["step"] == "download"


def test_healthz_reports_a_reachable_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["database"] == "ok"


def test_healthz_reports_503_when_the_database_is_unreachable(database_url, settings):
    app = create_app({"settings": settings, "database_url": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"})
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503 and response.get_json()["status"] == "unavailable"
    finally:
        app.extensions["clipqueue"].pool.close(timeout=0)


# ------------------------------------------------------------------ bad input: POST /public/video
RAW_BODY_CASES = {
    "text_plain_body": ("text/plain", '{"url": "https://example.com/v.mp4"}', 415, "unsupported_media_type"),
    "form_encoded_body": ("application/x-www-form-urlencoded", "url=https://example.com", 415,
                          "unsupported_media_type"),
    "no_content_type": (None, '{"url": "https://example.com/v.mp4"}', 415, "unsupported_media_type"),
    "malformed_json": ("application/json", '{"url": ', 400, "invalid_json"),
    "empty_json_body": ("application/json", "", 400, "invalid_json"),
    "json_array": ("application/json", '["https://example.com"]', 400, "invalid_body"),
    "json_string": ("application/json", '"https://example.com"', 400, "invalid_body"),
    "json_null": ("application/json", "null", 400, "invalid_json"),
    "invalid_utf8": ("application/json", b'{"url": "\xff\xfe"}', 400, "invalid_json"),
}


@pytest.mark.parametrize("case", sorted(RAW_BODY_CASES))
def test_submit_rejects_a_bad_body(client, case):
    content_type, data, status, code = RAW_BODY_CASES[case]
    headers = {"Content-Type": content_type} if content_type else {}
    assert_error(client.post("/public/video", data=data, headers=headers), status, code)


URL_CASES = {
    "missing_url": ({}, "missing_url"),
    "null_url": ({"url": None}, "missing_url"),
    "empty_url": ({"url": ""}, "missing_url"),
    "blank_url": ({"url": "   "}, "missing_url"),
    "numeric_url": ({"url": 42}, "invalid_url"),
    "list_url": ({"url": ["https://example.com"]}, "invalid_url"),
    "url_too_long": ({"url": "https://example.com/" + "a" * 2100}, "url_too_long"),
    "unknown_field": ({"url": "https://example.com/v.mp4", "priority": 9}, "unknown_field"),
    "file_scheme": ({"url": "file:///etc/passwd"}, "unsupported_scheme"),
    "ftp_scheme": ({"url": "ftp://example.com/v.mp4"}, "unsupported_scheme"),
    "javascript_scheme": ({"url": "javascript:alert(1)"}, "unsupported_scheme"),
    "data_scheme": ({"url": "data:video/mp4;base64,AAAA"}, "unsupported_scheme"),
    "gopher_scheme": ({"url": "gopher://example.com/"}, "unsupported_scheme"),
    "no_scheme": ({"url": "example.com/v.mp4"}, "unsupported_scheme"),
    "user_and_password": ({"url": "https://user:pass@example.com/v.mp4"}, "credentials_in_url"),
    "user_only": ({"url": "https://user@example.com/v.mp4"}, "credentials_in_url"),
    "loopback_ipv4": ({"url": "http://127.0.0.1:8080/v.mp4"}, "forbidden_host"),
    "localhost_name": ({"url": "http://localhost/v.mp4"}, "forbidden_host"),
    "private_10": ({"url": "http://10.0.0.1/v.mp4"}, "forbidden_host"),
    "private_192_168": ({"url": "http://192.168.1.10/v.mp4"}, "forbidden_host"),
    "private_172_16": ({"url": "http://172.16.5.4/v.mp4"}, "forbidden_host"),
    "link_local_metadata": ({"url": "http://169.254.169.254/latest/meta-data/"}, "forbidden_host"),
    "metadata_hostname": ({"url": "http://metadata.google.internal/computeMetadata/v1/"}, "forbidden_host"),
    "unspecified_address": ({"url": "http://0.0.0.0/"}, "forbidden_host"),
    "cgnat_address": ({"url": "http://100.64.0.1/"}, "forbidden_host"),
    "decimal_loopback": ({"url": "http://2130706433/"}, "forbidden_host"),
    "hex_loopback": ({"url": "http://0x7f000001/"}, "forbidden_host"),
    "ipv6_loopback": ({"url": "http://[::1]/v.mp4"}, "forbidden_host"),
    "ipv6_mapped_loopback": ({"url": "http://[::ffff:127.0.0.1]/v.mp4"}, "forbidden_host"),
    "ipv6_unique_local": ({"url": "http://[fd00::1]/v.mp4"}, "forbidden_host"),
    "ipv6_link_local": ({"url": "http://[fe80::1]/v.mp4"}, "forbidden_host"),
    "ipv6_nat64_private": ({"url": "http://[64:ff9b::a00:1]/v.mp4"}, "forbidden_host"),
    "name_resolving_private": ({"url": "https://internal.corp/v.mp4"}, "forbidden_host"),
    "name_resolving_private_ipv6": ({"url": "https://v6-private.example/v.mp4"}, "forbidden_host"),
    "name_with_one_private_address": ({"url": "https://rebind.example/v.mp4"}, "forbidden_host"),
    "unresolvable_name": ({"url": "https://no-such-host.example/v.mp4"}, "unresolvable_host"),
    "space_in_host": ({"url": "https://exa mple.com/v.mp4"}, "invalid_url"),
    "control_character": ({"url": "https://example.com/\x00v.mp4"}, "invalid_url"),
    "port_out_of_range": ({"url": "https://example.com:99999/v.mp4"}, "invalid_url"),
    "non_numeric_port": ({"url": "https://example.com:http/v.mp4"}, "invalid_url"),
    "no_host": ({"url": "https:///v.mp4"}, "invalid_url"),
    "unclosed_ipv6_bracket": ({"url": "http://[::1/v.mp4"}, "invalid_url"),
    "label_too_long": ({"url": "https://" + "a" * 64 + ".example/v.mp4"}, "invalid_url"),
    "empty_label": ({"url": "https://example..com/v.mp4"}, "invalid_url"),
}


@pytest.mark.parametrize("case", sorted(URL_CASES))
def test_submit_rejects_a_bad_url(client, db, case):
    body, code = URL_CASES[case]
    assert_error(client.post("/public/video", json=body), 400, code)
    assert db.execute("SELECT count(*) AS n FROM video_processing_queue").fetchone()["n"] == 0


def test_submit_rejects_an_oversized_body_with_413(client):
    body = json.dumps({"url": "https://example.com/v.mp4", "pad": "x" * 10000})
    assert_error(client.post("/public/video", data=body, content_type="application/json"), 413, "body_too_large")


def test_submit_with_get_is_405_and_names_the_allowed_methods(client):
    response = client.get("/public/video")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_private_hosts_pass_when_allowed_by_the_setting(database_url, db, settings):
    app = create_app({"settings": settings.replace(allow_private_urls=True), "database_url": database_url,
                      "resolver": fake_resolver})
    try:
        response = app.test_client().post("/public/video", json={"url": "http://127.0.0.1:8000/v.mp4"})
        assert response.status_code == 202
    finally:
        app.extensions["clipqueue"].pool.close()


# ------------------------------------------------------------------ bad input: status
