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

from workers import queue

from .conftest import REPO, wait_for

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
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "CLIPQUEUE_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "2", "ALLOW_PRIVATE_URLS": "1", "INTERNAL_API_TOKEN": "e2e-token"}
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
    yield base
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def test_a_video_submitted_over_http_is_processed_by_worker_processes(api, workers, exec_log):
    status, body = http("POST", api + "/public/video", {"url": "http://127.0.0.1:9/talk.mp4"})
    assert status == 202
    worker = workers.start("--burst")
    assert worker.wait(timeout=60) == 0, workers.logs()[-2000:]
    status, view = http("GET", api + body["status_url"])
    assert status == 200 and view["status"] == "done" and view["progress"] == 1.0
    assert http("POST", api + "/public/video", {"url": "file:///etc/passwd"}) == \
        (400, {"error": {"code": "unsupported_scheme", "message": "only http:// and https:// URLs are accepted"}})


def test_the_internal_route_drives_the_pipeline_under_gunicorn(api, db):
    status, body = http("POST", api + "/public/video", {"url": "http://127.0.0.1:9/cron.mp4"})
    assert http("POST", api + "/internal/perform-video-processing", headers={"Authorization": "Bearer nope"})[0] == 401
    # The default step table of this build fails the download with a clear cause.
    status, outcome = http("POST", api + "/internal/perform-video-processing",
                           headers={"Authorization": "Bearer e2e-token"})
    assert status == 200 and outcome["result"] == "failed" and outcome["cause"] == "step_not_available"
    view = http("GET", api + body["status_url"])[1]
    assert view["status"] == "failed" and "not available" in view["failure"]["message"]


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
