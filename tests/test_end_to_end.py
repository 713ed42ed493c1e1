"""The real deployment shape: gunicorn with the repo's gunicorn.py in front, worker
processes behind, a client over HTTP; and the operator CLI."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from workers.queue import jobs as queue
from workers.pipeline.clips.choosing import join_words
from workers.pipeline.media import probe
from workers.pipeline.storage import LocalStorage

from .conftest import REPO, wait_for
from .support.contract import assert_body_conforms

GUNICORN = Path(sys.executable).parent / "gunicorn"  # the console script: `python -m gunicorn` would import ./gunicorn.py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@pytest.fixture
def api(database_url, db, tmp_path):
    """gunicorn with the repo's gunicorn.py; yields (base URL, the environment it runs in)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "CLIPQUEUE_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "2", "ALLOW_PRIVATE_URLS": "1", "INTERNAL_API_TOKEN": "e2e-token",
           "CLIPQUEUE_DATA_DIR": str(tmp_path / "data")}
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.py"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return http("GET", base + "/healthz")[0] == 200
        except OSError:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            return False

    wait_for(healthy, timeout=60, interval=0.1, message="gunicorn to serve /healthz")
    yield base, env
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def test_a_video_submitted_over_http_is_processed_by_worker_processes(api, workers, exec_log):
    api, _ = api
    status, body = http("POST", api + "/public/video", {"url": "http://127.0.0.1:9/talk.mp4"})
    assert status == 202
    worker = workers.start("--burst")
    assert worker.wait(timeout=60) == 0, workers.logs()[-2000:]
    status, view = http("GET", api + body["status_url"])
    assert status == 200 and view["status"] == "done" and view["progress"] == 1.0
    assert http("POST", api + "/public/video", {"url": "file:///etc/passwd"}) == \
        (400, {"error": {"code": "unsupported_scheme", "message": "only http:// and https:// URLs are accepted"}})


def get_bytes(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def srt_text(text: str) -> str:
    """The caption text of an SRT or WebVTT file: the lines after each cue's timing line."""
    texts = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        timing = next((n for n, line in enumerate(lines) if "-->" in line), None)
        if timing is not None:
            texts.extend(lines[timing + 1:])
    return " ".join(texts)


def test_a_real_talk_becomes_playable_clips_on_word_edges(api, media_server, media, tmp_path, database_url):
    base, env = api
    url = media_server.add("/manifesto.mp4", media / "manifesto.mp4")
    status, body = http("POST", base + "/public/video", {"url": url, "clip_min_seconds": 15, "clip_max_seconds": 40})
    assert status == 202
    worker = subprocess.run([sys.executable, "-m", "workers", "run", "--burst"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert worker.returncode == 0, worker.stderr[-3000:]
    view = http("GET", base + body["status_url"])[1]
    assert view["status"] == "done", view
    assert_body_conforms("/public/video/status", "get", 200, view)  # real clips, as the contract says
    clips = view["result"]["clips"]
    assert clips and all(15 <= c["duration"] <= 40 + 0.5 for c in clips)
    storage = LocalStorage(Path(env["CLIPQUEUE_DATA_DIR"]) / "storage")
    transcript = json.loads(storage.get_bytes("videos/1/transcript/transcript.json"))
    words = [w for s in transcript["segments"] for w in s["words"]]
    for clip in clips:
        inside = [w for w in words if w["end"] > clip["start"] and w["start"] < clip["end"]]  # overlapping it
        # on word edges: no word is cut by the start or the end
        assert not any(w["start"] < clip["start"] < w["end"] or w["start"] < clip["end"] < w["end"] for w in words)
        assert inside and clip["start"] <= inside[0]["start"] <= clip["start"] + 0.25 + 1e-6
        # the captions say exactly the words inside the clip
        srt = get_bytes(base + clip["urls"]["srt"])[2].decode()
        assert srt_text(srt) == " ".join(join_words(inside).split())
        vtt = get_bytes(base + clip["urls"]["vtt"])[2].decode()
        assert vtt.startswith("WEBVTT\n") and srt_text(vtt) == srt_text(srt)
        # the clip file is served with Range (seekable) and is playable at the right length
        code, headers, part = get_bytes(base + clip["urls"]["media"], {"Range": "bytes=0-99"})
        assert code == 206 and len(part) == 100 and headers["Content-Range"].startswith("bytes 0-99/")
        local = tmp_path / f"clip{clip['rank']}.mp4"
        local.write_bytes(get_bytes(base + clip["urls"]["media"])[2])
        info = probe(local)
        assert info.video_codec == "h264" and info.audio_codec == "aac"
        assert abs(info.duration - clip["duration"]) < 0.3
        code, headers, jpeg = get_bytes(base + clip["urls"]["thumbnail"])
        assert headers["Content-Type"] == "image/jpeg" and jpeg[:2] == b"\xff\xd8"
    # a second submission of the same video and options is the same work: same token, nothing
    # redone; other options are a 409 that says so, not the old clips passed off as new ones
    again = http("POST", base + "/public/video", {"url": url, "clip_min_seconds": 15, "clip_max_seconds": 40})[1]
    assert again["token"] == body["token"] and again["created"] is False
    status, other = http("POST", base + "/public/video", {"url": url})
    assert status == 409 and other["error"]["code"] == "options_conflict"


def test_the_internal_route_drives_the_real_pipeline_under_gunicorn(api, media_server, media):
    base, _ = api
    url = media_server.add("/jfk.flac", media / "jfk.flac")
    status, body = http("POST", base + "/public/video", {"url": url, "clip_min_seconds": 5, "clip_max_seconds": 12})
    assert http("POST", base + "/internal/perform-video-processing", headers={"Authorization": "Bearer nope"})[0] == 401
    results = []
    for _ in range(5):
        status, outcome = http("POST", base + "/internal/perform-video-processing",
                               headers={"Authorization": "Bearer e2e-token"})
        assert status == 200, outcome
        assert_body_conforms("/internal/perform-video-processing", "post", 200, outcome)
        results.append((outcome["step"], outcome["result"]))
    assert results == [(s, "succeeded") for s in ("download", "transcript", "content_type", "clip_lookup",
                                                  "clip_generation")]
    view = http("GET", base + body["status_url"])[1]
    assert view["status"] == "done" and view["result"]["clips"][0]["urls"]["media"].endswith(".m4a")
    assert "thumbnail" not in view["result"]["clips"][0]["urls"]  # audio only
    # the transcript step indexed it (in the API process, which ran it): searchable at once
    status, found = http("GET", base + f"/public/video/search?token={body['token']}&q=your+country")
    assert status == 200 and found["moments"] and found["moments"][0]["start"] < 5
    # a 5 KB query gets the app's JSON 400; a 10 KB one is over gunicorn's request-line limit
    # (8190 bytes, its largest finite value) and is refused before the app (README: known limits)
    status, refused = http("GET", base + f"/public/video/search?token={body['token']}&q={'x' * 5120}")
    assert status == 400 and refused["error"]["code"] == "q_too_long"
    request = urllib.request.Request(base + f"/public/video/search?token={body['token']}&q={'x' * 10240}")
    with pytest.raises(urllib.error.HTTPError) as refused_early:
        urllib.request.urlopen(request, timeout=10)
    assert refused_early.value.code == 414  # URI Too Long


def cli(database_url, *args):
    env = {**os.environ, "DATABASE_URL": database_url, "ALLOW_PRIVATE_URLS": "1"}
    return subprocess.run([sys.executable, "-m", "workers", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_operator_cli_submits_inspects_cancels_requeues_and_limits(database_url, db):
    submitted = cli(database_url, "submit", "http://127.0.0.1:9/cli.mp4")
    assert submitted.returncode == 0, submitted.stderr
    token = json.loads(submitted.stdout)["token"]
    assert json.loads(cli(database_url, "status", token).stdout)["status"] == "queued"
    assert cli(database_url, "cancel", token).stdout.strip() == "cancelled"
    assert queue.job_by_token(db, token)["status"] == "cancelled"
    assert cli(database_url, "requeue", token).stdout.strip() == "requeued at download"
    assert json.loads(cli(database_url, "limit", "transcript", "2").stdout) == {"step": "transcript", "max_running": 2}
    overview = json.loads(cli(database_url, "overview").stdout)
    assert overview["limits"] == [{"step": "transcript", "max_running": 2}]
    assert overview["jobs"][0]["status"] == "queued"
    assert cli(database_url, "limit", "transcript", "--clear").stdout.strip() == "cleared"
    bad = cli(database_url, "submit", "ftp://example.com/x")
    assert bad.returncode == 2 and "only http" in bad.stderr
    assert cli(database_url, "status", "A" * 32).returncode == 1
    assert cli(database_url, "run", "--steps", "render").returncode == 2
