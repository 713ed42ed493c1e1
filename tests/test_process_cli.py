"""``python -m workers process`` as people use it: the API's clip options as flags, checked by
the API's own validator before anything starts; the same file again with other options makes
its clips again (the transcript and every checkpoint the options do not touch reused), with
the same options prints the result at once; clear words for a missing or broken file, for
options that cannot apply to audio, and for a video shorter than the band asked for."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workers.pipeline.media import probe
from workers.pipeline.process import AUDIO_ONLY
from workers.pipeline.steps import download
from workers.pipeline.uploads import chunks
from workers.queue.errors import PermanentError

from .conftest import REPO


def cli(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workers", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def env_with(database_url: str | None, data: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"CLIPQUEUE_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"})
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def checkpoints(db) -> dict:
    rows = db.execute("SELECT step::text AS step, worker_id, finished_at, output FROM step_checkpoints").fetchall()
    return {r["step"]: r for r in rows}


def media_files(stdout: str) -> list[Path]:
    return [Path(line.strip()) for line in stdout.splitlines() if line.strip().endswith((".mp4", ".m4a"))]


def test_a_missing_file_and_bad_flags_are_said_before_anything_starts(tmp_path):
    env = env_with(None, tmp_path / "data")  # the embedded default: nothing may start it
    missing = cli(env, "process", "talks/nope.mp4")
    assert (missing.returncode, missing.stderr) == (2, "error: no such file: talks/nope.mp4\n")
    # the API's validator, in the flags' names; its bounds pinned at their edges
    for flags, words in ((["--min-seconds", "30", "--max-seconds", "30"], "--min-seconds must be below --max-seconds"),
                         (["--clips", "21"], "--clips must be a whole number from 1 to 20"),
                         (["--clips", "0"], "--clips must be a whole number from 1 to 20"),
                         (["--max-seconds", "600.5"], "--max-seconds must be a number of seconds from 3 to 600"),
                         (["--min-seconds", "2.9"], "--min-seconds must be a number of seconds from 3 to 600")):
        done = cli(env, "process", str(REPO / "tests" / "media" / "jfk.flac"), *flags)
        assert (done.returncode, done.stderr) == (2, f"error: {words}\n"), flags
    assert not (tmp_path / "data" / "postgres").exists(), "a refused command started Postgres"
    helped = cli(env, "process", "--help")
    assert "centre crop" not in helped.stdout and "follow the speaker's face" in helped.stdout
    assert all(flag in helped.stdout for flag in ("--min-seconds", "--max-seconds", "--clips", "--aspect", "--captions"))


def test_a_broken_file_is_called_the_file(db, database_url, tmp_path):
    broken = tmp_path / "talk.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))  # an MP4 header, then noise
    done = cli(env_with(database_url, tmp_path / "data"), "process", str(broken))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "failed: not_media the file is not a playable audio or video file" in done.stdout
    assert "URL" not in done.stdout + done.stderr


def test_audio_with_video_options_and_a_band_longer_than_the_video_are_said(db, database_url, media, tmp_path):
    env = env_with(database_url, tmp_path / "data")
    done = cli(env, "process", str(media / "jfk.flac"), "--aspect", "9:16", "--captions", "burned",
               "--min-seconds", "20", "--max-seconds", "40")
    assert done.returncode == 0, done.stdout + done.stderr
    assert AUDIO_ONLY in done.stdout.splitlines()
    assert "note: the video is only 11.0 s long, shorter than the 20 s minimum" in done.stdout
    assert [f.suffix for f in media_files(done.stdout)] == [".m4a"]
    # the same options again: the result at once, said so, with the same words
    again = cli(env, "process", str(media / "jfk.flac"), "--aspect", "9:16", "--captions", "burned",
                "--min-seconds", "20", "--max-seconds", "40")
    assert again.returncode == 0 and again.stdout.startswith("already done with these options"), again.stdout
    assert AUDIO_ONLY in again.stdout and "shorter than the 20 s minimum" in again.stdout
    # inside the band, no note
    inside = cli(env, "process", str(media / "jfk.flac"), "--min-seconds", "5", "--max-seconds", "20")
    assert inside.returncode == 0 and "note:" not in inside.stdout and AUDIO_ONLY not in inside.stdout, inside.stdout


def test_other_options_make_the_clips_again_and_reuse_what_they_do_not_touch(db, database_url, media, tmp_path):
    env = env_with(database_url, tmp_path / "data")
    talk = str(media / "manifesto.mp4")
    band = ["--min-seconds", "10", "--max-seconds", "20"]
    first = cli(env, "process", talk, *band, "--clips", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    made = checkpoints(db)
    assert len(made["clip_generation"]["output"]["clips"]) == 1

    # only the frame changes: clip_generation alone runs again, into a square
    square = cli(env, "process", talk, *band, "--clips", "1", "--aspect", "1:1")
    assert square.returncode == 0, square.stdout + square.stderr
    assert "from clip_generation, reusing download, transcript, content_type, clip_lookup" in square.stdout
    now = checkpoints(db)
    for step in ("download", "transcript", "content_type", "clip_lookup"):
        assert now[step]["finished_at"] == made[step]["finished_at"], step  # the same checkpoint, reused
    assert now["clip_generation"]["finished_at"] > made["clip_generation"]["finished_at"]
    [clip] = media_files(square.stdout)
    info = probe(clip)
    assert info.width == info.height and info.video_codec
    [old] = [c["files"]["media"] for c in made["clip_generation"]["output"]["clips"]]
    assert Path(old).name != clip.name  # the old render is not taken for the new one

    # the count changes: clip_lookup runs again (and so clip_generation); the transcript does not
    more = cli(env, "process", talk, *band, "--clips", "2", "--aspect", "1:1")
    assert more.returncode == 0, more.stdout + more.stderr
    assert "from clip_lookup, reusing download, transcript, content_type" in more.stdout
    latest = checkpoints(db)
    assert latest["transcript"]["finished_at"] == made["transcript"]["finished_at"]
    assert latest["clip_lookup"]["finished_at"] > made["clip_lookup"]["finished_at"]
    assert len(latest["clip_generation"]["output"]["clips"]) == 2
    # each step ran as often as its inputs changed: the transcript once; nothing was rewritten
    runs = {r["step"]: r["n"] for r in db.execute(
        "SELECT step::text AS step, count(*) AS n FROM queue_events WHERE kind = 'succeeded' GROUP BY 1")}
    assert runs == {"download": 1, "transcript": 1, "content_type": 1, "clip_lookup": 2, "clip_generation": 3}
    retired = db.execute("SELECT step::text AS step, options FROM step_checkpoints_retired ORDER BY id").fetchall()
    assert [r["step"] for r in retired] == ["clip_generation", "clip_lookup", "clip_generation"]
    assert retired[0]["options"].get("aspect") is None and retired[1]["options"]["aspect"] == "1:1"


def test_a_local_file_or_an_upload_that_is_not_media_is_the_file_not_the_url(step_ctx, tmp_path):
    noise = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16
    local = tmp_path / "talk.mp4"
    local.write_bytes(noise)
    video, ctx = step_ctx("download", url=local.as_uri(), options={"local_file": str(local)})
    with pytest.raises(PermanentError) as failed:
        download.run(video, ctx)
    assert (failed.value.cause, failed.value.message) == ("not_media", "the file is not a playable audio or video file")
    step_ctx.storage.put_bytes(chunks.key("up1", 0), noise)
    video, ctx = step_ctx("download", url="upload:up1", video_id=2,
                          options={"upload": {"id": "up1", "chunks": [0]}, "filename": "talk.mp4"})
    with pytest.raises(PermanentError) as failed:
        download.run(video, ctx)
    assert (failed.value.cause, failed.value.message) == ("not_media", "the file is not a playable audio or video file")
