"""What a step sees besides the video: ``StepContext``.

A step reads the outputs of earlier steps, reports progress, and may check for
cancellation; time and collaborators (storage, LLM, ...) come in through here so tests can
inject their own. The context never touches the database itself: the runner's heartbeat
thread writes progress and reads cancellation.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import Cancelled, LeaseLost


@dataclass
class StepContext:
    step: str
    checkpoints: Mapping[str, Any]          # step name -> output of that step's checkpoint
    options: Mapping[str, Any]              # per-request options of the submission
    settings: Any
    services: Mapping[str, Any] = field(default_factory=dict)  # storage, llm, ... (injected)
    clock: Callable[[], float] = time.time
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    lease_lost: threading.Event = field(default_factory=threading.Event)
    _progress: float | None = None
    _progress_dirty: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def output_of(self, step: str) -> Any:
        """The checkpointed output of an earlier step (KeyError if it has none)."""
        return self.checkpoints[step]["output"]

    def report_progress(self, fraction: float) -> None:
        """Progress within this step, 0..1. Cheap: the heartbeat thread writes it to the
        database at most about once a second."""
        with self._lock:
            self._progress = min(1.0, max(0.0, float(fraction)))
            self._progress_dirty = True

    def take_progress(self) -> float | None:
        """For the heartbeat thread: the progress to write, or None if unchanged."""
        with self._lock:
            if not self._progress_dirty:
                return None
            self._progress_dirty = False
            return self._progress

    def raise_if_cancelled(self) -> None:
        """Long steps call this between units of work to stop early."""
        if self.lease_lost.is_set():
            raise LeaseLost("the lease on this job was lost")
        if self.cancel_requested.is_set():
            raise Cancelled("cancellation was requested")
