"""``python -m workers process <url-or-file>``: the whole pipeline for one video, in-process.

Submits the video to the queue (the same queue the API feeds), runs a worker in this
process until the video is finished, draws a progress bar per step, and prints the clips
(times, titles, files). A video already processed is not processed again: its clips are
printed at once. Works offline on the embedded defaults (embedded Postgres, local LLM,
bundled Whisper model, local storage).
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

from workers.queue import jobs as queue
from workers.queue.db import connect
from workers.pipeline.media import sha256_file
from workers.pipeline.table import STEPS

TERMINAL = ("done", "failed", "cancelled")
BAR = 24


def process(target: str, settings, database_url: str, out=sys.stdout) -> int:
    from workers.queue.worker import Worker
    from workers.pipeline.services import build_services
    from workers.pipeline.table import default_step_table
    from workers.pipeline.fetcher.guard import UrlRejected, check_url

    path = Path(target).expanduser()
    options: dict = {}
    if path.is_file():
        path = path.resolve()
        source = path.as_uri()
        # A local file's identity is its content: an edited file is a new video.
        normalized = f"{source}#sha256={sha256_file(path)}"
        options["local_file"] = str(path)
    else:
        try:
            source = target
            normalized = check_url(target, max_length=settings.max_url_length,
                                   allow_private=settings.allow_private_urls)
        except UrlRejected as exc:
            print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
            return 2
    with connect(database_url, application_name="clipqueue-process") as conn:
        job = queue.enqueue(conn, source_url=source, normalized_url=normalized, priority=10,
                            max_retries=settings.max_retries, options=options)
        print(f"{'submitted' if job.created else 'already submitted'}: {target} (token {job.token})", file=out)

        services = build_services(settings)
        worker = Worker(database_url, default_step_table(), steps=STEPS, settings=settings, services=services,
                        poll_interval=0.5)
        thread = threading.Thread(target=worker.run, name="worker", daemon=True)
        previous = signal.signal(signal.SIGINT, lambda *_: worker.stop(immediately=True))
        started = time.monotonic()
        thread.start()
        try:
            row = _watch(conn, job.token, out, thread)
        finally:
            worker.stop(immediately=True)
            thread.join(timeout=60)
            signal.signal(signal.SIGINT, previous)
        elapsed = time.monotonic() - started
        if row["status"] != "done":
            failure = row["failure_details"] or {}
            print(f"\n{row['status']}: {row['failure_cause'] or ''} {failure.get('message', '')}".rstrip(), file=out)
            return 1
        checkpoints = queue.checkpoints_for_video(conn, row["video_id"])
    _print_clips(checkpoints, services["storage"], elapsed, out)
    return 0


def _watch(conn, token: str, out, worker_thread: threading.Thread) -> dict:
    """Draw progress until the video reaches a terminal state (or the worker stops, as on
    Ctrl-C); return its row."""
    tty = out.isatty()
    shown: dict[str, str] = {}
    while True:
        row = queue.job_by_token(conn, token)
        checkpoints = queue.checkpoints_for_video(conn, row["video_id"])
        for step in STEPS:
            if step in checkpoints:
                cp = checkpoints[step]
                line = _bar(step, 1.0, f"{(cp['finished_at'] - cp['started_at']).total_seconds():6.1f} s")
            elif step == row["step"] and row["status"] in ("running", "queued"):
                note = "retrying" if row["retry"] else ("running" if row["status"] == "running" else "waiting")
                line = _bar(step, row["step_progress"] or 0.0, note)
            else:
                continue
            if shown.get(step) != line and (tty or step in checkpoints or step not in shown):
                end = "\n" if step in checkpoints else ""
                print(("\r" if tty else "") + line, end=end if tty else "\n", file=out, flush=True)
                shown[step] = line
        if row["status"] in TERMINAL or not worker_thread.is_alive():
            return row
        time.sleep(0.3)


def _bar(step: str, fraction: float, note: str) -> str:
    filled = int(round(fraction * BAR))
    return f"{step:16s} [{'#' * filled}{'.' * (BAR - filled)}] {fraction * 100:5.1f}%  {note}"


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:05.2f}"


def _print_clips(checkpoints: dict, storage, elapsed: float, out) -> None:
    clips = checkpoints["clip_generation"]["output"]["clips"]
    source = checkpoints["download"]["output"]
    kind = checkpoints["content_type"]["output"]
    print(f"\ndone in {elapsed:.1f} s: {len(clips)} clips from {source.get('duration', 0):.1f} s of "
          f"{kind['content_type']} ({kind['backend']})", file=out)
    for clip in clips:
        media = clip["files"]["media"]
        where = storage.public_url(media) or storage.local_path(media)
        print(f"{clip['rank']:2d}  {_clock(clip['start'])} - {_clock(clip['end'])}  ({clip['duration']:4.1f} s)  "
              f"{clip.get('title') or ''}\n    \u201c{(clip.get('hook') or '')[:100]}\u201d\n    {where}", file=out)
