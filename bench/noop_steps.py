"""ClipQueue step table for the benchmarks: every step does nothing but return its output
(so each transition still writes its checkpoint and event rows). BENCH_STEP_SLEEP_S makes
each step wait that long first, standing in for work done off this CPU (a GPU, a remote
API), so a benchmark can keep the queue busy without the steps eating the machine."""
import os
import time

from workers.pipeline.table import STEPS

from ._marks import mark


def _noop(step):
    pause = float(os.environ.get("BENCH_STEP_SLEEP_S") or 0)

    def run(video, ctx):
        if pause:
            time.sleep(pause)
        if step == STEPS[0] or os.environ.get("BENCH_MARK_ALL"):
            mark()
        return {"step": step}
    return run


TABLE = {step: _noop(step) for step in STEPS}
