"""A step table for tests: each step does what the job's options script for it, and records
every execution (start and end, with pid and times) as a JSON line in the directory named
by CLIPQUEUE_TEST_LOG_DIR. Appends of one short line are atomic across processes.

options = {"script": {"<step>": {
    "sleep": seconds,                       # simulate work
    "fail": "transient" | "permanent" | "crash",
    "fail_times": n,                        # fail only while ctx.retry < n
    "wait_for_file": path,                  # block until the file exists (kill/pause tests)
    "marker": path,                         # touch this file once the step has started
                                            # (in both paths "{attempt}" is the lease's attempt)
    "cancellable": true,                    # poll ctx.raise_if_cancelled while waiting
    "progress": fraction,                   # report this progress before waiting
    "rendezvous": [dir, n],                 # touch dir/<video_id>, wait (<= 60 s) until n files are there
    "retry_after": seconds,                 # with "transient": the remote's Retry-After
    "extra_output": {...},                  # merged into the step's output
    "nul_in_output": true,                  # a NUL character in the output (jsonb refuses it)
    "ffmpeg_seconds": s,                    # run a real ffmpeg for s seconds (abortable, as renders are)
}}}
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from workers.queue.errors import PermanentError, TransientError
from workers.pipeline.table import STEPS


def _record(event: str, video, ctx, **extra) -> None:
    log_dir = os.environ.get("CLIPQUEUE_TEST_LOG_DIR")
    if not log_dir:
        return
    line = json.dumps({"event": event, "video_id": video.id, "step": ctx.step, "pid": os.getpid(),
                       "attempt": ctx.attempt, "worker": ctx.worker_id, "t": time.time(), **extra})
    fd = os.open(Path(log_dir) / "executions.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def scripted(step: str):
    def run(video, ctx):
        script = (video.options.get("script") or {}).get(step, {})
        _record("start", video, ctx)
        if script.get("marker"):
            Path(script["marker"].format(attempt=ctx.attempt)).touch()
        deadline = time.monotonic() + float(script.get("sleep", 0))
        while time.monotonic() < deadline:
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
            ctx.report_progress(1 - (deadline - time.monotonic()) / max(script["sleep"], 1e-9))
        if script.get("ffmpeg_seconds"):
            _ffmpeg(float(script["ffmpeg_seconds"]), ctx)
        if script.get("progress") is not None:
            ctx.report_progress(float(script["progress"]))
        if script.get("rendezvous"):
            _rendezvous(video, *script["rendezvous"])
        if script.get("wait_for_file"):
            while not Path(script["wait_for_file"].format(attempt=ctx.attempt)).exists():
                if script.get("cancellable"):
                    ctx.raise_if_cancelled()
                time.sleep(0.02)
        failure = script.get("fail")
        if failure and ctx.retry < int(script.get("fail_times", 1 << 30)):
            _record("error", video, ctx, kind=failure)
            if failure == "transient":
                raise TransientError("test_transient", f"scripted transient failure of {step}",
                                     retry_after=script.get("retry_after"))
            if failure == "permanent":
                raise PermanentError("test_permanent", f"scripted permanent failure of {step}")
            raise RuntimeError(f"scripted crash in {step} at /secret/path.py line 42")
        _record("end", video, ctx)
        return {"step": step, "pid": os.getpid(), "worker": ctx.worker_id, "result": {"step": step},
                "previous": sorted(ctx.checkpoints), "storage_keys": [f"videos/{video.id}/{step}.json"],
                **script.get("extra_output", {}), **({"note": "nul \x00 here"} if script.get("nul_in_output") else {})}
    run.__name__ = f"scripted_{step}"
    return run


def _ffmpeg(seconds: float, ctx) -> None:
    from workers.pipeline.media import ffmpeg_binary, run_tool

    _record_marker = Path(os.environ.get("CLIPQUEUE_TEST_LOG_DIR", "/nonexistent")) / "ffmpeg-started"
    args = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
            f"sine=frequency=440:duration={seconds}", "-f", "null", "-"]
    if _record_marker.parent.is_dir():
        _record_marker.touch()
    # In a pool thread, as clip_generation renders: the interpreter joins such threads at
    # exit, so an exiting worker waits for a render nobody stopped.
    from concurrent.futures import ThreadPoolExecutor

    def render():
        done = run_tool(args, timeout=seconds + 60, on_abort=ctx.on_abort)
        if _record_marker.parent.is_dir():
            (_record_marker.parent / "ffmpeg-exit").write_text(str(done.returncode))  # how it ended
        return done

    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(render).result()
    ctx.raise_if_cancelled()
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg exited with {result.returncode}")


def _rendezvous(video, directory: str, parties: int, timeout: float = 60.0) -> None:
    """Block until ``parties`` steps (this one included) have arrived: proof that they ran
    at the same time, whatever the machine's load."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(video.id)).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < parties:
        if time.monotonic() > deadline:
            raise RuntimeError(f"rendezvous: only {len(list(folder.iterdir()))} of {parties} arrived")
        time.sleep(0.02)


TABLE = {step: scripted(step) for step in STEPS}


def read_executions(log_dir) -> list[dict]:
    path = Path(log_dir) / "executions.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
