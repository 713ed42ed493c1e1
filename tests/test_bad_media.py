"""Bad media, as a client sees it: the URL is accepted (202; nothing is fetched at submit
time), the real pipeline runs it (yt-dlp against a local server, PyAV, Whisper, ffmpeg),
and the status endpoint ends at the exact status and cause expected -- never a job stuck
forever, never "done" with 0 clips, never a stack trace or an internal id."""
from __future__ import annotations

import pytest

from server import create_app
from workers.pipeline.llm.local import LocalLLM
from workers.queue.worker import Worker
from workers.pipeline.table import STEPS, default_step_table
from workers.pipeline.storage import LocalStorage

from doubles.dns import pretend_public, public_localhost
from .support.mediafiles import silent_video
from .test_api import assert_error, assert_no_leak


@pytest.fixture
def pipeline(database_url, db, settings, tmp_path):
    """submit(url, settings=None, **options) -> the client's final status body, after a real
    worker ran it; ``settings`` (a dict) overrides the worker's settings (caps, limits)."""
    storage = LocalStorage(tmp_path / "storage")
    step_settings = settings.replace(data_dir=tmp_path / "data", allow_private_urls=False, max_retries=1,
                                     retry_base_seconds=0.01, retry_max_seconds=0.05, download_retries=0,
                                     render_parallel=1)
    dns = {"resolver": public_localhost, "address_policy": pretend_public}  # support/dns.py: loopback only
    app = create_app({"settings": step_settings, "database_url": database_url, "storage": storage, **dns})
    client = app.test_client()
    services = {"storage": storage, "llm": LocalLLM(), **dns}

    def submit(url, settings=None, **options):
        response = client.post("/public/video", json={"url": url, **options})
        assert response.status_code == 202, response.get_data(as_text=True)
        token = response.get_json()["token"]
        Worker(database_url, default_step_table(), steps=STEPS, settings=step_settings.replace(**(settings or {})),
               services=services, burst=True).run()
        status = client.get(f"/public/video/status?token={token}")
        assert status.status_code == 200
        assert_no_leak(status)
        return status.get_json()

    submit.client = client
    yield submit
    app.extensions["clipqueue"].pool.close()


def local(server, name, path, **fault):
    """A URL on the server that plays a public host (it names "localhost")."""
    return server.add(name, path, **fault)


def assert_failed(body, step, cause):
    assert (body["status"], body["pipeline_step"], body["failure"]["cause"]) == ("failed", step, cause), body
    assert body["failure"]["message"] and "Traceback" not in body["failure"]["message"]
    assert "result" not in body


def test_a_url_to_an_html_page_fails_as_unsupported(pipeline, public_server, tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>A blog</title></head><body>No video here.</body></html>")
    assert_failed(pipeline(local(public_server, "/page.html", page)), "download", "unsupported_url")


def test_a_url_to_a_text_file_fails_as_not_media(pipeline, public_server, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("just some text, not a video\n" * 50)
    assert_failed(pipeline(local(public_server, "/notes.txt", text)), "download", "not_media")


def test_a_truncated_mp4_fails_as_not_media(pipeline, public_server, media, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes((media / "manifesto.mp4").read_bytes()[:300_000])
    assert_failed(pipeline(local(public_server, "/broken.mp4", broken)), "download", "not_media")


def test_a_missing_file_fails_as_not_found(pipeline, public_server):
    assert_failed(pipeline(public_server.url("/gone.mp4")),
                  "download", "not_found")


def test_a_file_over_the_size_cap_fails_before_it_is_downloaded(pipeline, public_server, media):
    body = pipeline(local(public_server, "/big.mp4", media / "manifesto.mp4"), settings={"max_filesize_mb": 0.1})
    assert_failed(body, "download", "too_large")
    assert public_server.bytes_sent("/big.mp4") < 100_000


def test_a_video_over_the_duration_cap_fails_as_too_long(pipeline, public_server, media):
    body = pipeline(local(public_server, "/long.mp4", media / "manifesto.mp4"), settings={"max_duration_s": 60})
    assert_failed(body, "download", "too_long")
    assert "limit is 1 min" in body["failure"]["message"]


def test_a_redirect_to_a_private_address_fails_as_forbidden(pipeline, public_server, media):
    url = local(public_server, "/hop.mp4", media / "manifesto.mp4", redirect="http://169.254.169.254/latest/")
    body = pipeline(url)
    assert_failed(body, "download", "forbidden_host")
    message = body["failure"]["message"]
    assert "refused address" in message and "169.254" not in message  # the public message names no host


def test_a_silent_video_fails_with_no_speech_instead_of_zero_clips(pipeline, public_server, tmp_path):
    path = silent_video(tmp_path / "silent.mp4")
    assert_failed(pipeline(local(public_server, "/silent.mp4", path)), "transcript", "no_speech")


def test_an_audio_only_file_is_processed_into_audio_clips(pipeline, public_server, media):
    body = pipeline(local(public_server, "/jfk.flac", media / "jfk.flac"), clip_min_seconds=3,
                    clip_max_seconds=11, max_clips=1)
    assert body["status"] == "done", body
    clips = body["result"]["clips"]
    assert len(clips) == 1 and clips[0]["urls"]["media"].endswith(".m4a")
    assert "country" in clips[0]["text"].lower()
    clip = pipeline.client.get(clips[0]["urls"]["media"])
    assert clip.status_code == 200 and clip.data[4:8] == b"ftyp"


def test_status_of_another_submission_shows_only_that_submission(pipeline, public_server, media, tmp_path):
    """Tokens are capabilities: each shows its own video, and a near miss shows nothing."""
    client = pipeline.client
    mine = client.post("/public/video", json={"url": "https://public.test/mine.mp4"}).get_json()["token"]
    theirs = client.post("/public/video", json={"url": "https://public.test/theirs.mp4"}).get_json()["token"]
    assert client.get(f"/public/video/status?token={mine}").get_json()["url"] == "https://public.test/mine.mp4"
    other = client.get(f"/public/video/status?token={theirs}").get_json()
    assert other["url"] == "https://public.test/theirs.mp4" and mine not in str(other)
    flipped = mine[:-1] + ("A" if mine[-1] != "A" else "B")
    assert_error(client.get(f"/public/video/status?token={flipped}"), 404, "unknown_token")
    if mine.swapcase() != mine:
        assert_error(client.get(f"/public/video/status?token={mine.swapcase()}"), 404, "unknown_token")
    assert_error(client.get(f"/public/video/{theirs}/files/clip-01.mp4"), 404, "not_found")
