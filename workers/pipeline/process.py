"""``python -m workers process <url-or-file>``: the whole pipeline for one video, in-process.

Submits the video to the queue (the same queue the API feeds), runs a worker in this
process until the video is finished, draws a progress bar per step (tqdm on a terminal, a
line per change otherwise), and prints the clips (times, titles, files). Logs go to
``<data dir>/logs/process.log`` (``-v``: to the terminal too), so the screen shows only the
bars and the result. A video already processed is not processed again: its clips are
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


def log_path(settings) -> Path:
    """Where ``process`` writes its logs."""
    return Path(settings.data_dir) / "logs" / "process.log"


def process(target: str, settings, database_url: str, out=sys.stdout, *, aspect: str = "original",
            captions: str = "files") -> int:
    from workers.queue.worker import Worker
    from workers.pipeline.services import build_hooks, build_services
    from workers.pipeline.table import default_step_table
    from workers.pipeline.fetcher.guard import UrlRejected, check_url

    path = Path(target).expanduser()
    # Defaults are not stored (as the API does): the same file with the same options is the same work.
    options: dict = {k: v for k, v, default in (("aspect", aspect, "original"), ("captions", captions, "files"))
                     if v != default}
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
                        hooks=build_hooks(settings, services["storage"]), poll_interval=0.5)
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
            print(f"details: {log_path(settings)}", file=out)
            return 1
        checkpoints = queue.checkpoints_for_video(conn, row["video_id"])
    _print_clips(checkpoints, services["storage"], elapsed, out)
    return 0


def _watch(conn, token: str, out, worker_thread: threading.Thread) -> dict:
    """Draw progress until the video reaches a terminal state (or the worker stops, as on
    Ctrl-C); return its row."""
    bars = _TqdmBars(out) if out.isatty() else _LineBars(out)
    try:
        while True:
            row = queue.job_by_token(conn, token)
            checkpoints = queue.checkpoints_for_video(conn, row["video_id"])
            for step in STEPS:
                if step in checkpoints:
                    cp = checkpoints[step]
                    bars.show(step, 1.0, f"{(cp['finished_at'] - cp['started_at']).total_seconds():6.1f} s", True)
                elif step == row["step"] and row["status"] in ("running", "queued"):
                    note = "retrying" if row["retry"] else ("running" if row["status"] == "running" else "waiting")
                    bars.show(step, row["step_progress"] or 0.0, note, False)
            if row["status"] in TERMINAL or not worker_thread.is_alive():
                return row
            time.sleep(0.3)
    finally:
        bars.close()


class _LineBars:
    """Not a terminal (a pipe, a log): one line per change of a step's state."""

    def __init__(self, out):
        self.out, self.shown = out, {}

    def show(self, step: str, fraction: float, note: str, finished: bool) -> None:
        line = _bar(step, fraction, note)
        if self.shown.get(step) != line and (finished or step not in self.shown):
            print(line, file=self.out, flush=True)
            self.shown[step] = line

    def close(self) -> None:
        pass


class _TqdmBars:
    """A terminal: one live tqdm bar per step, in pipeline order."""

    def __init__(self, out):
        self.out, self.bars, self.finished = out, {}, set()

    def show(self, step: str, fraction: float, note: str, finished: bool) -> None:
        import shutil

        from tqdm import tqdm

        if step in self.finished:
            return
        bar = self.bars.get(step)
        if bar is None:
            # A pseudo-terminal may report a 0 x 0 window (tqdm then hides every bar): shutil
            # falls back to 80 x 24 then.
            size = shutil.get_terminal_size((80, 24))
            bar = self.bars[step] = tqdm(total=100, desc=f"{step:16s}", file=self.out, position=len(self.bars),
                                         leave=True, ncols=min(100, size.columns), nrows=max(len(STEPS) + 1, size.lines),
                                         bar_format="{desc} {bar:24} {percentage:5.1f}%")
        bar.n = round(fraction * 100, 1)
        note = note.strip().replace("{", "{{").replace("}", "}}")
        bar.bar_format = "{desc} {bar:24} {percentage:5.1f}%  " + note
        bar.refresh()
        if finished:
            self.finished.add(step)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


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
