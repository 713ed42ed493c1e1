"""Bad input that once got a 500 or a wrong answer: each gets a JSON 4xx that says what is
wrong, Range follows RFC 9110, a resubmission never silently drops its options, and the
status says the options a video is made with and an upload's file name."""
from __future__ import annotations

import base64

import pytest

from server import create_app
from workers.queue import jobs as queue
from workers.queue.worker import Worker
from workers.pipeline.table import STEPS
from workers.pipeline.storage import LocalStorage

from doubles.dns import fake_resolver
from .support.steps import TABLE
from .support.contract import assert_conforms
from .test_api import assert_error


@pytest.fixture
def app(database_url, db, settings, tmp_path):
    app = create_app({"settings": settings.replace(allow_private_urls=False, max_body_bytes=64 * 1024),
                      "database_url": database_url, "resolver": fake_resolver, "step_table": TABLE,
                      "storage": LocalStorage(tmp_path / "storage")})
    yield app
    app.extensions["clipqueue"].pool.close()


@pytest.fixture
def client(app):
    return app.test_client()


def post_raw(client, text):
    return client.post("/public/video", data=text, content_type="application/json")


def test_a_deeply_nested_body_is_a_400(client):
    assert_error(post_raw(client, "[" * 5_000 + "]" * 5_000), 400, "invalid_json")
    assert_error(post_raw(client, '{"url": ' + "{\"a\": " * 3_000 + "1" + "}" * 3_000 + "}"), 400, "invalid_json")


def test_a_lone_surrogate_in_the_url_is_a_400(client):
    assert_error(post_raw(client, '{"url": "http://example.com/\\ud800.mp4"}'), 400, "invalid_url")


@pytest.fixture
def finished(client, app, database_url, db, settings):
    """A done job whose last checkpoint lists ``clip_generation.json`` (scripted steps);
    returns (token, storage, file URL) with the file NOT stored yet."""
    token = client.post("/public/video", json={"url": "https://example.com/done.mp4"}).get_json()["token"]
    Worker(database_url, TABLE, steps=STEPS, settings=settings, burst=True).run()
    assert queue.job_by_token(db, token)["status"] == "done"
    return token, app.extensions["clipqueue"].storage, f"/public/video/{token}/files/clip_generation.json"


def test_a_clip_file_missing_from_storage_is_a_404(client, finished):
    _, _, url = finished
    assert_error(client.get(url), 404, "file_missing")


def test_clip_and_source_files_are_private_and_never_sniffed(client, finished, db):
    token, storage, url = finished
    video_id = queue.job_by_token(db, token)["video_id"]
    storage.put_bytes(f"videos/{video_id}/clip_generation.json", b"{}")
    storage.put_bytes(f"videos/{video_id}/download/source", b"0123456789")
    for path in (url, f"/public/video/{token}/source"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        # the URL carries the token: no shared cache may keep it
        assert response.headers["Cache-Control"].split(",")[0].strip() == "private", path
        assert "public" not in response.headers["Cache-Control"]
        assert response.headers["X-Content-Type-Options"] == "nosniff", path


@pytest.mark.parametrize("header, status, body, content_range", [
    ("bytes=0-3", 206, b"0123", "bytes 0-3/10"),
    ("bytes=7-", 206, b"789", "bytes 7-9/10"),
    ("bytes=-3", 206, b"789", "bytes 7-9/10"),
    ("bytes=-100", 206, b"0123456789", "bytes 0-9/10"),     # a suffix longer than the file: all of it
    ("bytes=2-100", 206, b"23456789", "bytes 2-9/10"),
    ("bytes=10-", 416, None, "bytes */10"),                  # starts past the end
    ("bytes=-0", 416, None, "bytes */10"),
    ("bytes=0-1,4-5", 200, b"0123456789", None),             # several ranges: ignored
    ("items=0-3", 200, b"0123456789", None),                 # another unit: ignored
    ("bytes=garbage", 200, b"0123456789", None),             # garbled: ignored
    ("bytes=5-2", 200, b"0123456789", None),                 # last before first: invalid, ignored
])
def test_range_requests_follow_rfc_9110(client, finished, header, status, body, content_range):
    token, storage, url = finished
    storage.put_bytes("videos/1/clip_generation.json", b"0123456789")  # the key the checkpoint lists
    response = client.get(url, headers={"Range": header})
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers.get("Content-Range") == content_range
    if status == 416:
        assert response.mimetype == "application/json"
        assert response.get_json()["error"]["code"] == "range_not_satisfiable"
    else:
        assert response.data == body


def test_resubmitting_a_url_with_other_clip_options_says_so(client):
    first = client.post("/public/video", json={"url": "https://example.com/o.mp4", "max_clips": 2})
    assert first.status_code == 202
    same = client.post("/public/video", json={"url": "https://example.com/o.mp4", "max_clips": 2})
    assert same.status_code == 202 and same.get_json()["token"] == first.get_json()["token"]
    other = client.post("/public/video", json={"url": "https://example.com/o.mp4", "max_clips": 3})
    assert_error(other, 409, "options_conflict")
    assert "max_clips=2" in other.get_json()["error"]["message"]
    defaults = client.post("/public/video", json={"url": "https://example.com/o.mp4"})
    assert_error(defaults, 409, "options_conflict")


def test_the_status_says_the_options_a_video_is_made_with_and_an_uploads_file_name(client, settings):
    token = client.post("/public/video", json={"url": "https://example.com/opts.mp4", "max_clips": 3,
                                               "aspect": "9:16"}).get_json()["token"]
    status = client.get(f"/public/video/status?token={token}")
    assert status.get_json()["filename"] is None
    assert status.get_json()["options"] == {"clip_min_seconds": settings.clip_min_s,  # the server's defaults
                                            "clip_max_seconds": settings.clip_max_s,  # for what was not given
                                            "max_clips": 3, "aspect": "9:16", "captions": "files"}
    assert_conforms("/public/video/status", "get", status)
    name = "Keynote – día 2 <final>.mp4"
    tus = {"Tus-Resumable": "1.0.0"}
    created = client.post("/public/uploads", headers={**tus, "Upload-Length": "4", "Upload-Metadata": ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in (("filename", name), ("clip_min_seconds", "10"),
                                                                    ("captions", "none")))})
    assert created.status_code == 201
    patched = client.patch(created.headers["Location"], data=b"abcd",
                           headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    upload = client.get(patched.headers["ClipQueue-Status-URL"])
    body = upload.get_json()
    assert body["filename"] == name and body["url"].startswith("upload:")
    assert body["options"] == {"clip_min_seconds": 10.0, "clip_max_seconds": settings.clip_max_s,
                               "max_clips": settings.max_clips, "aspect": "original", "captions": "none"}
    assert_conforms("/public/video/status", "get", upload)
