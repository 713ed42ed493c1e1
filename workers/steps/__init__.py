"""The step table: pipeline order, and the function that runs each step.

A step is a plain function ``run(video, ctx) -> dict``: no SQL, no sleeps, no retry loops.
It returns its checkpoint output (JSON-serializable; a ``storage_keys`` list, if present,
is stored in its own column) or raises a ``workers.errors`` error. The ``result`` key of the
last step's output is what the status endpoint shows clients when the video is done;
everything else in a checkpoint stays internal. The runner takes the
table as an argument, so tests and deployments can pass their own.

Steps never import the queue (CI checks it).
"""
from __future__ import annotations

from typing import Callable, Mapping

STEPS: tuple[str, ...] = ("download", "transcript", "content_type", "clip_lookup", "clip_generation")

StepFn = Callable[..., dict]
StepTable = Mapping[str, StepFn]


def next_step(step: str) -> str | None:
    """The step after ``step``, or None after the last one."""
    index = STEPS.index(step)
    return STEPS[index + 1] if index + 1 < len(STEPS) else None


def validate_steps(names) -> tuple[str, ...]:
    """Parse a worker's --steps list; unknown names raise ValueError."""
    chosen = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in chosen if n not in STEPS]
    if unknown:
        raise ValueError(f"unknown step(s) {', '.join(unknown)}; steps are {', '.join(STEPS)}")
    if not chosen:
        raise ValueError("no steps given")
    return chosen


def default_step_table() -> StepTable:
    """The production steps. Each module imports its heavy library inside the step."""
    from . import media  # noqa: PLC0415 - kept out of import time on purpose

    return media.STEP_TABLE


def load_step_table(spec: str | None) -> StepTable:
    """``module:attribute`` names a mapping (or a zero-argument factory of one); None is the
    production table."""
    if not spec:
        return default_step_table()
    import importlib

    module_name, _, attr = spec.partition(":")
    table = getattr(importlib.import_module(module_name), attr or "STEP_TABLE")
    table = table() if callable(table) else table
    missing = [s for s in STEPS if s not in table]
    if missing:
        raise ValueError(f"step table {spec} lacks: {', '.join(missing)}")
    return table
