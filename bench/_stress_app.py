"""The API as ``bench.status_load`` stresses it: gunicorn runs ``create`` (``gunicorn -c
gunicorn.py bench._stress_app:create()``) -- a DNS that never answers (a black hole, as
when the resolver is down) and no-op steps that take BENCH_STEP_SLEEP_S on the internal
route (long downloads). Bench-only: production builds its app with ``server:create_app()``."""
from __future__ import annotations

import threading

_never = threading.Event()


def black_hole(host: str, port: int):
    _never.wait()  # no answer, ever
    raise OSError("unreachable")


def create():
    from bench.noop_steps import TABLE
    from server import create_app

    return create_app({"resolver": black_hole, "step_table": TABLE})
