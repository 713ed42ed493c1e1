"""The fleet run's step tables (``--step-table bench._fleet_steps:REAL`` or ``:SLEEP``).

``REAL``: the production steps, each followed by a hook the run uses to stage a partition:
when the host's data directory holds ``hold``, the first step to finish there renames it
``held-<step>-<video>`` and keeps its finished result until the run deletes
that file (the worker has done its work and wrote its files; its result is not yet recorded:
the moment a partition hurts most). ``SLEEP``: ``bench.noop_steps`` (each step sleeps
BENCH_STEP_SLEEP_S), for throughput without the steps eating the CPU."""
from __future__ import annotations

import os
import time
from pathlib import Path

from workers.pipeline.table import default_step_table

from .noop_steps import TABLE as SLEEP  # noqa: F401 - a step table, named by the run


def _held(step: str, video_id: int) -> Path | None:
    data = Path(os.environ.get("CLIPQUEUE_DATA_DIR") or ".data")
    held = data / f"held-{step}-{video_id}"
    try:
        (data / "hold").rename(held)
    except FileNotFoundError:
        return None
    return held


def _with_hold(step: str, run):
    def hooked(video, ctx):
        output = run(video, ctx)
        held = _held(step, video.id)
        while held is not None and held.exists():  # the run deletes it when the network is back
            time.sleep(0.1)
        return output
    return hooked


def REAL():  # noqa: N802 - a step table factory, named like the tables it stands beside
    return {step: _with_hold(step, run) for step, run in default_step_table().items()}
