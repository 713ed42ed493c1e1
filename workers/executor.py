"""Runs the step of one claimed job and writes its outcome, fenced by the lease.

Shared by the worker processes and the API's internal route. The step runs with no
transaction open; its outcome (checkpoint + advance, retry, or failure) is one statement.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

import psycopg

from . import queue
from .context import StepContext
from .db import connect
from .errors import Cancelled, LeaseLost, StepError
from .heartbeat import Heartbeat
from .retry import RetryPolicy
from .steps import StepTable

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    job_id: int
    token: str
    step: str
    result: str          # succeeded | skipped | retry_scheduled | failed | cancelled | lease_lost
    status: str | None   # the job's status after this (running: chained), None when the lease was lost
    duration_s: float
    cause: str | None = None
    delay_s: float | None = None
    next_job: queue.Job | None = None  # chained: the same video's next step, still leased to us

    def as_dict(self) -> dict[str, Any]:
        view = {k: v for k, v in self.__dict__.items() if k not in ("job_id", "next_job") and v is not None}
        view["duration_s"] = round(self.duration_s, 3)
        return view


class Executor:
    def __init__(
        self,
        step_table: StepTable,
        *,
        heartbeat: Heartbeat,
        policy: RetryPolicy,
        settings: Any,
        services: Mapping[str, Any] | None = None,
        clock=time.monotonic,
        step_clock=time.time,
        sleep=time.sleep,
    ):
        self.step_table = step_table
        self.heartbeat = heartbeat
        self.policy = policy
        self.settings = settings
        self.services = services or {}
        self.clock = clock            # durations
        self.step_clock = step_clock  # what steps see as ctx.clock
        self.sleep = sleep

    def execute(self, conn: psycopg.Connection, job: queue.Job, *, continue_steps: Sequence[str] = ()) -> Outcome:
        """Run ``job``'s step and record the outcome. When the next step is in
        ``continue_steps`` the outcome may carry ``next_job``: the same video, leased to the
        same worker for that step (the caller must run or release it)."""
        return self.record(conn, self.run(job), continue_steps=continue_steps)

    def execute_pooled(self, pool, job: queue.Job) -> Outcome:
        """``execute`` holding a pooled connection only for the outcome write, not the step."""
        ran = self.run(job)
        with pool.connection() as conn:
            return self.record(conn, ran)

    def run(self, job: queue.Job) -> "Ran":
        """Run the step (no database connection needed or held): its output or its error."""
        checkpoints = job.checkpoints
        ctx = StepContext(step=job.step, checkpoints=checkpoints, options=job.options,
                          settings=self.settings, services=self.services, clock=self.step_clock)
        outer = getattr(self.settings, "step_timeout_s", 0)
        if outer:  # every step has a deadline; steps tighten it to what their input needs
            ctx.set_deadline(outer, f"over CLIPQUEUE_STEP_TIMEOUT_S={outer:.0f} s", outer=True)
        lease = job.lease
        log.info("job %s: claimed %s (attempt %s, retry %s/%s%s)", lease.job_id, job.step,
                 lease.attempt, job.retry, job.max_retries, ", rescued" if job.rescued else "")
        started = self.clock()
        self.heartbeat.track(lease, ctx)
        output, result, error = None, "succeeded", None
        try:
            if job.step in checkpoints:
                # A resubmitted video whose step finished before: never run it again.
                output, result = checkpoints[job.step]["output"], "skipped"
            else:
                output = self.step_table[job.step](job, ctx)
                _check_output(job.step, output)
        except Exception as exc:  # noqa: BLE001 - the policy decides what any error means
            error = exc
        finally:
            self.heartbeat.untrack(lease)
        if error is not None and ctx.aborted.is_set():
            # The abort broke the step's read or subprocess: report why, not how it broke.
            error = ctx.stop_reason() or error
        return Ran(job, output, result, error, self.clock() - started)

    def record(self, conn: psycopg.Connection, ran: "Ran", *, continue_steps: Sequence[str] = ()) -> Outcome:
        """Write a run's outcome (checkpoint + advance, retry, failure), fenced by its lease."""
        job, output, result, error, duration = ran.job, ran.output, ran.result, ran.error, ran.duration
        checkpoints, lease = job.checkpoints, job.lease
        if isinstance(error, (Cancelled, LeaseLost)):
            return self._stopped(conn, job, error, duration)
        if error is not None:
            return self._failed(conn, job, error, duration)
        advanced = self._persist(conn, lease, job.step, lambda c: queue.complete_step(
            c, lease, step=job.step, output=output, started_at=job.step_started_at,
            duration_s=duration, continue_steps=continue_steps,
            lease_seconds=self.heartbeat.lease_seconds))
        if advanced is _ALREADY_WRITTEN:
            # Our write committed but its answer was lost with the connection: the result
            # is safe. The next step is queued, or (chained to us) its lease expires and
            # another worker rescues it; either way this step never runs again.
            return Outcome(lease.job_id, job.token, job.step, result, "queued", duration)
        if advanced is None:
            log.warning("job %s: %s finished in %.2f s but the lease was lost; result dropped",
                        lease.job_id, job.step, duration)
            self._record_dropped(conn, lease, job.step, duration)
            return Outcome(lease.job_id, job.token, job.step, "lease_lost", None, duration)
        log.info("job %s: %s %s in %.3f s -> %s %s", lease.job_id, job.step, result, duration,
                 advanced.status, advanced.step)
        next_job = None
        if advanced.status == "running":
            checkpoint = {"output": output, "storage_keys": output.get("storage_keys", []),
                          "attempt": lease.attempt}
            next_job = dataclasses.replace(
                job,
                lease=queue.Lease(lease.job_id, lease.worker_id, advanced.attempt),
                step=advanced.step,
                retry=0,
                step_started_at=advanced.step_started_at,
                lease_expires_at=advanced.lease_expires_at,
                rescued=False,
                checkpoints={**checkpoints, job.step: checkpoint},
            )
        return Outcome(lease.job_id, job.token, job.step, result, advanced.status, duration, next_job=next_job)

    def _failed(self, conn, job: queue.Job, exc: Exception, duration: float) -> Outcome:
        lease = job.lease
        decision = self.policy.decide(exc, job.retry, job.max_retries)
        if isinstance(exc, StepError):
            # Operators keep the underlying error ("No space left on device", the host's
            # answer) when the step recorded one; clients see only decision.message.
            extra = {"error": exc.message, **exc.details}
        else:
            # Operators get the traceback (failure_details, events); clients never do.
            extra = {"error": str(exc)[:2000], "traceback": "".join(traceback.format_exception(exc, limit=20))}
        # "message" is what clients see: the step's details never override it.
        details = {**extra, "message": decision.message, "step": job.step, "error_type": type(exc).__name__}
        if decision.retry:
            ok = self._persist(conn, lease, job.step, lambda c: queue.schedule_retry(
                c, lease, delay_seconds=decision.delay, cause=decision.cause, details=details))
            result, status = "retry_scheduled", "queued"
            log.warning("job %s: %s failed (%s: %s); retry %s/%s in %.1f s", lease.job_id, job.step,
                        decision.cause, exc, job.retry + 1, job.max_retries, decision.delay)
        else:
            ok = self._persist(conn, lease, job.step, lambda c: queue.fail_job(
                c, lease, cause=decision.cause, details=details))
            result, status = "failed", "failed"
            log.error("job %s: %s failed permanently (%s: %s)", lease.job_id, job.step,
                      decision.cause, exc)
        if not ok:
            log.warning("job %s: lease lost before the failure could be recorded", lease.job_id)
            self._record_dropped(conn, lease, job.step, duration, completed=False)
            return Outcome(lease.job_id, job.token, job.step, "lease_lost", None, duration)
        if not decision.retry:
            self._final(job, "failed")
        return Outcome(lease.job_id, job.token, job.step, result, status, duration,
                       cause=decision.cause, delay_s=decision.delay if decision.retry else None)

    def contain(self, job: queue.Job, exc: BaseException) -> bool:
        """After an unexpected error outside the step (most often its outcome write refused by
        the database): give the job a retry, or fail it with ``internal_error`` once its
        retries are spent, on a fresh connection. Returns whether that was written; if not,
        the lease expires and the job is rescued like one whose worker died."""
        error = RuntimeError(f"{type(exc).__name__} while recording the outcome of {job.step}")
        decision = self.policy.decide(error, job.retry, job.max_retries)
        details = {"message": decision.message, "step": job.step, "error_type": type(exc).__name__,
                   "error": str(exc)[:2000], "traceback": "".join(traceback.format_exception(exc, limit=20))}
        try:
            with connect(self.heartbeat.database_url, application_name="clipqueue-contain") as conn:
                if decision.retry:
                    return queue.schedule_retry(conn, job.lease, delay_seconds=decision.delay,
                                                cause=decision.cause, details=details)
                failed = queue.fail_job(conn, job.lease, cause=decision.cause, details=details)
            if failed:
                self._final(job, "failed")
            return failed
        except Exception:  # noqa: BLE001 - best effort; the lease is the safety net
            log.exception("job %s: could not record the contained error either", job.lease.job_id)
            return False

    def _persist(self, conn: psycopg.Connection, lease: queue.Lease, step: str,
                 write: Callable[[psycopg.Connection], T]) -> T | object:
        """Run one fenced outcome write. When the connection drops (Postgres restarting),
        retry it on fresh connections for as long as the lease could still be valid: the
        fence makes a repeat harmless, and a finished step is not thrown away because of
        a blip. Returns ``_ALREADY_WRITTEN`` when a retry finds that the first try had
        committed after all; raises the connection error when the lease time runs out."""
        try:
            return write(conn)
        except psycopg.OperationalError as exc:
            log.warning("job %s: outcome write failed (%s); retrying on a new connection",
                        lease.job_id, str(exc).strip())
        deadline = self.clock() + self.heartbeat.lease_seconds
        delay = 0.2
        while True:
            self.sleep(delay)
            try:
                with connect(self.heartbeat.database_url, application_name="clipqueue-outcome") as fresh:
                    result = write(fresh)
                    if not result and queue.outcome_written(fresh, lease, step=step):
                        return _ALREADY_WRITTEN
                    return result
            except psycopg.OperationalError:
                if self.clock() + delay > deadline:
                    raise
                delay = min(delay * 2, 2.0)

    def _final(self, job: queue.Job, status: str) -> None:
        """The job ended for good (failed, cancelled): let the product drop its work files
        (``services["on_final"]``, e.g. a partial download) so they do not fill the disk."""
        hook = self.services.get("on_final")
        if hook is None:
            return
        try:
            hook(job, status)
        except Exception:  # noqa: BLE001 - cleanup must not turn a recorded outcome into an error
            log.exception("job %s: cleanup after %s failed", job.lease.job_id, status)

    def _record_dropped(self, conn: psycopg.Connection, lease: queue.Lease, step: str, duration: float,
                        *, completed: bool = True) -> None:
        """Best effort: the wasted_work view counts these; losing one loses only a count."""
        try:
            queue.record_dropped_result(conn, lease, step=step, duration_s=duration, completed=completed)
        except psycopg.Error as exc:
            log.warning("job %s: could not record the dropped result: %s", lease.job_id, exc)

    def _stopped(self, conn, job: queue.Job, exc: Exception, duration: float) -> Outcome:
        lease = job.lease
        if isinstance(exc, Cancelled) and queue.release_job(conn, lease):
            log.info("job %s: cancelled during %s", lease.job_id, job.step)
            self._final(job, "cancelled")
            return Outcome(lease.job_id, job.token, job.step, "cancelled", "cancelled", duration)
        log.warning("job %s: %s stopped, lease lost; nothing written", lease.job_id, job.step)
        self._record_dropped(conn, lease, job.step, duration, completed=False)
        return Outcome(lease.job_id, job.token, job.step, "lease_lost", None, duration)


_ALREADY_WRITTEN = object()


@dataclass(frozen=True)
class Ran:
    """A step's run, before its outcome is written."""
    job: queue.Job
    output: Any
    result: str          # succeeded | skipped
    error: Exception | None
    duration: float


def _check_output(step: str, output: Any) -> None:
    if not isinstance(output, dict):
        raise TypeError(f"step {step} returned {type(output).__name__}, not a dict")
    json.dumps(output)  # raises TypeError on values that cannot be checkpointed
