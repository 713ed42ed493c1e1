"""``python -m workers process <url-or-file>``: the whole pipeline for one video, in-process.

Submits the video to the queue (the same queue the API feeds), runs a worker in this
process until the video is finished, draws a progress bar per step (tqdm on a terminal, a
line per change otherwise), and prints the clips (times, titles, files). Logs go to
``<data dir>/logs/process.log`` (``-v``: to the terminal too), so the screen shows only the
bars and the result. A video already processed with the same options is not processed
again: its clips are printed at once; with other options its clips are made again from the
first step the options change (``rerun_from``), the rest reused. Works offline on the embedded defaults (embedded Postgres, local LLM,
bundled Whisper model, local storage).
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from workers.queue import jobs as queue
from workers.queue.db import connect
from workers.pipeline.media import sha256_file
from workers.pipeline.options import CLIP_OPTIONS, clip_options
from workers.pipeline.table import STEPS

TERMINAL = ("done", "failed", "cancelled")
BAR = 24
LOOKUP_OPTIONS = ("clip_min_seconds", "clip_max_seconds", "max_clips")  # read by clip_lookup; the rest by
AUDIO_ONLY = "audio only: clips are M4A; aspect and burned captions do not apply"  # clip_generation


class InputError(ValueError):
    """The command line names something ``process`` cannot take (printed as ``error: ...``)."""


@dataclass
class Request:
    target: str       # as typed
    source: str       # the URL (a local file's file:// URL)
    normalized: str   # the video's identity
    options: dict     # stored with the job (clip options that differ from the defaults; local_file)


def log_path(settings) -> Path:
    """Where ``process`` writes its logs."""
    return Path(settings.data_dir) / "logs" / "process.log"


def request_for(target: str, settings, flags: dict) -> Request:
    """Check the command line before anything starts: the clip options (the API's own
    validator: ``InvalidOption``), then the file or URL (``InputError``)."""
    from workers.pipeline.fetcher.guard import UrlRejected, check_url

    options = clip_options({k: v for k, v in flags.items() if v is not None})
    path = Path(target).expanduser()
    if path.is_file():
        path = path.resolve()
        # A local file's identity is its content: an edited file is a new video.
        return Request(target, path.as_uri(), f"{path.as_uri()}#sha256={sha256_file(path)}",
                       {**options, "local_file": str(path)})
    if path.exists():
        raise InputError(f"not a file: {target}")
    if "://" not in target:
        raise InputError(f"no such file: {target}")
    try:
        normalized = check_url(target, max_length=settings.max_url_length, allow_private=settings.allow_private_urls)
    except UrlRejected as exc:
        raise InputError(f"{exc.message} ({exc.code})") from None
    return Request(target, target, normalized, options)


def _clip_options(options: dict) -> dict:
    return {k: options[k] for k in CLIP_OPTIONS if k in options}


def _describe(options: dict, settings) -> str:
    from workers.pipeline.status import made_with

    made = made_with(options, settings)
    return (f"{made['clip_min_seconds']:g}-{made['clip_max_seconds']:g} s, up to {made['max_clips']} clips, "
            f"aspect {made['aspect']}, captions {made['captions']}")


def process(request: Request, settings, database_url: str, out=sys.stdout) -> int:
    """Submit ``request`` and run it here; print the clips. The same video with the same
    options prints its clips at once; with other options, its clips are made again (from
    clip_lookup, or only clip_generation when just the aspect or captions changed), the
    download, transcript and content type reused."""
    from workers.queue.worker import Worker
    from workers.pipeline.services import build_hooks, build_services
    from workers.pipeline.table import default_step_table

    wanted = _clip_options(request.options)
    with connect(database_url, application_name="clipqueue-process") as conn:
        job = queue.enqueue(conn, source_url=request.source, normalized_url=request.normalized, priority=10,
                            max_retries=settings.max_retries, options=request.options)
        row = queue.job_by_token(conn, job.token)
        before = _clip_options(job.options)
        if job.created:
            print(f"submitted: {request.target} (token {job.token})", file=out)
        elif before == wanted and row["status"] == "done":
            print(f"already done with these options ({_describe(wanted, settings)}): the clips below are "
                  f"the existing result (token {job.token})", file=out)
            services = build_services(settings)
            _print_clips(queue.checkpoints_for_video(conn, row["video_id"]), services["storage"], None, out, wanted)
            return 0
        elif before == wanted:
            print(f"already submitted: {request.target} (token {job.token}), {row['status']}", file=out)
        elif row["status"] != "done":
            print(f"error: this video is {row['status']} with other options ({_describe(before, settings)}); "
                  "run this again once it has finished", file=sys.stderr)
            return 1
        else:
            step = "clip_lookup" if any(before.get(k) != wanted.get(k) for k in LOOKUP_OPTIONS) else "clip_generation"
            if queue.rerun_from(conn, job.token, step, request.options, actor="cli") is None:
                print("error: its finished job could not be run again (archived, or run again by another process "
                      "meanwhile); submit it again later", file=sys.stderr)
                return 1
            reused = ", ".join(STEPS[:STEPS.index(step)])
            print(f"made before with other options ({_describe(before, settings)}): making the clips again with "
                  f"{_describe(wanted, settings)} from {step}, reusing {reused} (token {job.token})", file=out)

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
    _print_clips(checkpoints, services["storage"], elapsed, out, wanted)
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


def _print_clips(checkpoints: dict, storage, elapsed: float | None, out, options: dict) -> None:
    clips = checkpoints["clip_generation"]["output"]["clips"]
    source = checkpoints["download"]["output"]
    kind = checkpoints["content_type"]["output"]
    when = "done" if elapsed is None else f"done in {elapsed:.1f} s"
    print(f"\n{when}: {len(clips)} clips from {source.get('duration', 0):.1f} s of "
          f"{kind['content_type']} ({kind['backend']})", file=out)
    if not source.get("video_codec") and (options.get("aspect", "original") != "original"
                                           or options.get("captions") == "burned"):
        print(AUDIO_ONLY, file=out)
    for clip in clips:
        media = clip["files"]["media"]
        where = storage.public_url(media) or storage.local_path(media)
        print(f"{clip['rank']:2d}  {_clock(clip['start'])} - {_clock(clip['end'])}  ({clip['duration']:4.1f} s)  "
              f"{clip.get('title') or ''}\n    \u201c{(clip.get('hook') or '')[:100]}\u201d\n    {where}", file=out)
        if clip.get("band_note"):  # the API's words: why this clip is outside the band asked for
            print(f"    note: {clip['band_note']}", file=out)
