"""Crashes in the middle of the real pipeline cost only the unfinished part."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from workers.queue import jobs as queue
from workers.pipeline.storage import LocalStorage

from .conftest import REPO, wait_for


def start_worker(database_url, data_dir, *args):
    env = {**os.environ, "DATABASE_URL": database_url, "CLIPQUEUE_DATA_DIR": str(data_dir),
           "CLIPQUEUE_RENDER_PARALLEL": "1", "CLIPQUEUE_LOG_LEVEL": "INFO"}
    return subprocess.Popen([sys.executable, "-m", "workers", "run", "--lease-seconds", "2", *args], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_worker_killed_during_clip_generation_leaves_only_unrendered_clips_to_redo(database_url, db, media, tmp_path):
    data = tmp_path / "data"
    source = media / "manifesto.mp4"
    token = queue.enqueue(db, source_url=source.as_uri(), normalized_url=source.as_uri(),
                          options={"local_file": str(source), "clip_min_seconds": 10, "clip_max_seconds": 20,
                                   "max_clips": 4}).token
    clip_dir = data / "storage" / "videos" / "1" / "clip_generation"
    victim = start_worker(database_url, data)
    try:
        wait_for(lambda: clip_dir.is_dir() and any(p.suffix == ".mp4" for p in clip_dir.iterdir()), timeout=240,
                 interval=0.005, message="the first clip to be published")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
    published = {p.name: p.stat().st_mtime_ns for p in clip_dir.iterdir() if p.suffix in (".mp4", ".jpg")}
    done_before = {n: t for n, t in published.items() if n.endswith(".mp4")}
    assert queue.job_by_token(db, token)["step"] == "clip_generation"

    survivor = start_worker(database_url, data, "--burst")
    _, err = survivor.communicate(timeout=240)
    assert survivor.returncode == 0, err[-3000:]
    job = queue.job_by_token(db, token)
    assert job["status"] == "done", job
    checkpoints = queue.checkpoints_for_video(db, job["video_id"])
    out, looked = checkpoints["clip_generation"]["output"], len(checkpoints["clip_lookup"]["output"]["clips"])
    assert looked >= 2 and len(out["clips"]) == looked  # (how many the picks make is clip_lookup's business)
    assert out["rendered"] == looked - len(done_before) >= 1  # only the clips that were not published yet
    for name, mtime in published.items():  # clips and thumbnails: none made again
        assert (clip_dir / name).stat().st_mtime_ns == mtime, f"{name} was re-rendered"
    assert err.count("claimed download") == 0 and err.count("claimed transcript") == 0  # no earlier step redone
    storage = LocalStorage(data / "storage")
    assert all(storage.exists(k) for c in out["clips"] for k in c["files"].values())


def test_the_process_command_runs_a_file_end_to_end_and_prints_its_clips(database_url, db, media, tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url, "CLIPQUEUE_DATA_DIR": str(tmp_path / "data"),
           "CLIPQUEUE_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "workers", "process", str(media / "jfk.flac")]
    first = subprocess.run(command, cwd=REPO, env={**env, "CLIPQUEUE_CLIP_MIN_S": "5", "CLIPQUEUE_CLIP_MAX_S": "12"},
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "submitted:" in first.stdout and "clip_generation  [########################] 100.0%" in first.stdout
    assert " 1  0:0" in first.stdout and ".m4a" in first.stdout
    # the same file again is the same work: printed at once, nothing redone
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "already done with these options" in again.stdout
    assert db.execute("SELECT count(*) AS n FROM step_checkpoints").fetchone()["n"] == 5
