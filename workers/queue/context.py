"""What a step sees: ``Subject`` (what it works on) and ``StepContext`` (everything else).

A step reads the outputs of earlier steps, reports progress, and may check for
cancellation; time and collaborators (storage, LLM, ...) come in through here so tests can
inject their own. The context never touches the database itself: the runner's heartbeat
thread writes progress and reads cancellation.

Stopping a step early: once cancellation is requested, the lease is lost or the step's
deadline passes, the heartbeat thread calls ``abort``, which runs the callbacks the step
registered with ``on_abort`` (terminate ffmpeg, shut the download's sockets) so that a step
blocked in a read or a subprocess stops within a heartbeat tick, not when the remote is done.
``raise_if_cancelled`` then raises the reason (``LeaseLost``, ``Cancelled``, ``StepTimeout``),
and ``stop_reason`` lets the executor report that reason instead of the error the aborted
operation raised.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from workers.queue.errors import Cancelled, LeaseLost, StepTimeout


@dataclass(frozen=True)
class Subject:
    """The narrow view of a job that a step receives: the id of what it works on (for
    ClipQueue, a video), the URL it was submitted with, the submission's options and the
    outputs of the steps already checkpointed. Never the lease: a step cannot write to the
    queue, and the engine alone decides what its result means."""

    id: int
    source_url: str
    options: Mapping[str, Any]
    checkpoints: Mapping[str, Any]  # step name -> that step's checkpointed output

    @classmethod
    def of(cls, job) -> "Subject":
        """The view of a claimed ``workers.queue.jobs.Job``."""
        return cls(job.video_id, job.source_url, job.options,
                   {step: cp["output"] for step, cp in job.checkpoints.items()})


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
    monotonic: Callable[[], float] = time.monotonic
    deadline: float | None = None           # the step's own, on the ``monotonic`` clock
    deadline_reason: str = ""
    limit: float | None = None              # the runner's outer bound for any step
    limit_reason: str = ""
    aborted: threading.Event = field(default_factory=threading.Event)
    attempt: int = 0                        # this run's number among all claims of the job
    retry: int = 0                          # failed tries of this step so far
    worker_id: str = ""                     # who runs it (for logs and diagnostics)
    _progress: float | None = None
    _progress_dirty: bool = False
    _abort_callbacks: list = field(default_factory=list, repr=False)
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

    def set_deadline(self, seconds: float, reason: str, *, outer: bool = False) -> None:
        """Stop this step ``seconds`` from now (``StepTimeout``); a later call moves it (a
        download that keeps making progress pushes its deadline on). ``outer`` sets the
        runner's bound instead, which the step's own deadline never lifts."""
        with self._lock:
            at = self.monotonic() + max(0.0, seconds)
            if outer:
                self.limit, self.limit_reason = at, reason
            else:
                self.deadline, self.deadline_reason = at, reason

    def _expired(self) -> str | None:
        now = self.monotonic()
        if self.limit is not None and now >= self.limit:
            return self.limit_reason or "over the step time limit"
        if self.deadline is not None and now >= self.deadline:
            return self.deadline_reason or "deadline passed"
        return None

    def past_deadline(self) -> bool:
        return self._expired() is not None

    def on_abort(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` (from another thread) if the step must stop early; returns a
        function that unregisters it. Registered after an abort, it runs at once."""
        with self._lock:
            self._abort_callbacks.append(callback)
            late = self.aborted.is_set()
        if late:
            _call_quietly(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._abort_callbacks:
                    self._abort_callbacks.remove(callback)
        return remove

    def abort(self) -> None:
        """For the heartbeat thread: the step must stop; break whatever it is blocked in."""
        with self._lock:
            if self.aborted.is_set():
                return
            self.aborted.set()
            callbacks = list(self._abort_callbacks)
        for callback in callbacks:
            _call_quietly(callback)

    def must_stop(self) -> bool:
        return self.lease_lost.is_set() or self.cancel_requested.is_set() or self.past_deadline()

    def stop_reason(self) -> Exception | None:
        """Why the step must stop, as the exception to report; None if it need not."""
        if self.lease_lost.is_set():
            return LeaseLost("the lease on this job was lost")
        if self.cancel_requested.is_set():
            return Cancelled("cancellation was requested")
        expired = self._expired()
        return StepTimeout(self.step, expired) if expired else None

    def raise_if_cancelled(self) -> None:
        """Long steps call this between units of work to stop early: raises ``LeaseLost``,
        ``Cancelled`` or ``StepTimeout``."""
        reason = self.stop_reason()
        if reason is not None:
            raise reason


def _call_quietly(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # noqa: BLE001 - an abort must reach every callback
        import logging

        logging.getLogger(__name__).exception("abort callback failed")
