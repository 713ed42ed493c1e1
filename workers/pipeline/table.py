"""The pipeline's step order and table: which function runs each step.

The order is data the engine is given at start-up (``workers.queue`` names no step): a
step table is an ordered mapping of step name to function, in pipeline order, and the
queue's ``pipeline_step`` enum must list the same names in the same order (the worker
checks at start-up).

A step is a plain function ``run(video, ctx) -> dict`` (``video``: the narrow view the
engine hands it, ``workers.queue.context.Subject``; ``ctx``: its ``StepContext``): no SQL,
no sleeps, no retry loops. It returns its checkpoint output (JSON-serializable; a
``storage_keys`` list, if present, is stored in its own column) or raises a
``workers.queue.errors`` error. The ``result`` key of the last step's output is what the
status endpoint shows clients when the video is done; everything else in a checkpoint
stays internal.
"""
from __future__ import annotations

from typing import Callable, Mapping

STEPS: tuple[str, ...] = ("download", "transcript", "content_type", "clip_lookup", "clip_generation")
FIRST, LAST = STEPS[0], STEPS[-1]

StepFn = Callable[..., dict]
StepTable = Mapping[str, StepFn]


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
    """The production steps, in pipeline order. Each module imports its heavy library
    inside its step, so building the table is cheap."""
    from workers.pipeline.steps import clip_generation, clip_lookup, content_type, download, transcript

    return {"download": download.run, "transcript": transcript.run, "content_type": content_type.run,
            "clip_lookup": clip_lookup.run, "clip_generation": clip_generation.run}


def load_step_table(spec: str | None) -> StepTable:
    """``module:attribute`` names a mapping (or a zero-argument factory of one) of every
    step, in pipeline order; None is the production table."""
    if not spec:
        return default_step_table()
    import importlib

    module_name, _, attr = spec.partition(":")
    table = getattr(importlib.import_module(module_name), attr or "STEP_TABLE")
    table = table() if callable(table) else table
    if tuple(table) != STEPS:
        raise ValueError(f"step table {spec} must map exactly the steps {', '.join(STEPS)}, in that order; "
                         f"it maps {', '.join(table) or 'none'}")
    return dict(table)
