"""A worker process stopped while Whisper (CTranslate2) decodes: it hands the transcript back
and exits 0, as the README promises, not 134 (SIGABRT from a native thread still running at
interpreter exit)."""
from __future__ import annotations

import signal
import subprocess
import sys

from workers.queue import jobs as queue

from .conftest import MEDIA, REPO, wait_for


def test_a_worker_stopped_mid_transcript_releases_it_and_exits_0(db, database_url, tmp_path):
    source = MEDIA / "interview_radio.opus"
    token = queue.enqueue(db, source_url=source.as_uri(), normalized_url=source.as_uri() + "#exit",
                          max_retries=3, options={"local_file": str(source)}).token
    env = {"DATABASE_URL": database_url, "CLIPQUEUE_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1",
           "CLIPQUEUE_LOG_LEVEL": "INFO", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "workers", "run", "--steps", "download,transcript",
                                   "--shutdown-grace", "0", "--poll-interval", "0.2"],
                                  cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def decoding():
            job = queue.job_by_token(db, token)
            return job["step"] == "transcript" and job["status"] == "running" and (job["step_progress"] or 0) > 0
        wait_for(decoding, timeout=240, interval=0.1, message="the transcript to be decoding")
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert code == 0, log.read_text(errors="replace")[-3000:]
    job = queue.job_by_token(db, token)
    assert (job["status"], job["step"], job["retry"]) == ("queued", "transcript", 0)
    assert "released at shutdown" in log.read_text(errors="replace")
