"""The completer: writes the outcome of a step's run, fenced by the lease.

One outcome per run, one statement each: checkpoint + advance (``jobs.complete_step``), or
the lease given up (``jobs.end_attempt``: retry, failure, release). Zero rows written means
the lease was lost: the result is dropped and counted (``wasted_work``). A write cut by a
dropped connection is tried again on fresh connections while the lease could still hold;
the fence makes a repeat harmless.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import psycopg

from workers.queue import jobs, metrics
from workers.queue.context import Subject
from workers.queue.db import Backoff, connect, retrying
from workers.queue.errors import Cancelled, LeaseLost, StepError
from workers.queue.hooks import Hooks
from workers.queue.retry import RetryPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")
OBSERVER_TRIES = 3  # an observer whose connection failed: tried again on fresh ones, at once


@dataclass(frozen=True)
class Outcome:
    job_id: int
    token: str
    step: str
    result: str          # succeeded | skipped | retry_scheduled | failed | cancelled | lease_lost
    # The job's status after this (running: chained to us); None when the lease was lost;
    # "unknown" when the write committed but its answer was lost with the connection.
    status: str | None
    duration_s: float
    cause: str | None = None
    delay_s: float | None = None
    next_job: jobs.Job | None = None  # chained: the same subject's next step, still leased to us

    def as_dict(self) -> dict[str, Any]:
        view = {k: v for k, v in self.__dict__.items() if k not in ("job_id", "next_job") and v is not None}
        view["duration_s"] = round(self.duration_s, 3)
        return view


@dataclass(frozen=True)
class Ran:
    """A step's run, as the executor hands it over: its output or its error."""
    job: jobs.Job
    output: Any
    result: str          # succeeded | skipped
    error: Exception | None
    duration: float


_ALREADY_WRITTEN = object()


class Completer:
    def __init__(self, database_url: str, *, lease_seconds: float, policy: RetryPolicy,
                 hooks: Hooks | None = None, clock=time.monotonic, sleep=time.sleep):
        self.database_url = database_url
        self.lease_seconds = lease_seconds
        self.policy = policy
        # on_final: the product's cleanup once a job ended for good; on_checkpoint: its view of
        # each checkpoint once written (metrics, the search index), after the commit.
        self.hooks = hooks or Hooks()
        self.clock, self.sleep = clock, sleep

    def record(self, conn: psycopg.Connection, ran: Ran, *, continue_steps: Sequence[str] = ()) -> Outcome:
        """Write a run's outcome (checkpoint + advance, retry, failure), fenced by its lease,
        and count it (``workers.queue.metrics``)."""
        outcome = self._record(conn, ran, continue_steps)
        metrics.finished(outcome)
        if outcome.result == "succeeded" and outcome.status is not None:
            for observer in self.hooks.on_checkpoint:
                self._observe(conn, observer, ran)
        return outcome

    def _observe(self, conn: psycopg.Connection, observer, ran: Ran) -> None:
        """One checkpoint observer, on a live connection: the worker's, unless the outcome
        write left it dead (then a fresh one). A failed connection is replaced and the
        observer tried again at once (``OBSERVER_TRIES``), not left to maintenance."""
        subject, job_id = Subject.of(ran.job), ran.job.lease.job_id
        name = getattr(observer, "__name__", repr(observer))
        for attempt in range(1, OBSERVER_TRIES + 1):
            live = conn is not None and not conn.closed and not conn.broken
            try:
                if live:
                    observer(conn, subject, ran.job.step, ran.output)
                else:
                    with connect(self.database_url, application_name="clipqueue-observer") as fresh:
                        observer(fresh, subject, ran.job.step, ran.output)
                return
            except psycopg.OperationalError as exc:
                log.warning("job %s: checkpoint observer %s lost its connection (%s), try %s of %s",
                            job_id, name, str(exc).strip(), attempt, OBSERVER_TRIES)
                conn = None  # a fresh connection next time
                self.sleep(0.2 * attempt)
            except Exception:  # noqa: BLE001 - an observer must not turn a written outcome into an error
                log.exception("job %s: checkpoint observer %s failed", job_id, name)
                return

    def _record(self, conn: psycopg.Connection, ran: Ran, continue_steps: Sequence[str]) -> Outcome:
        job, output, result, duration = ran.job, ran.output, ran.result, ran.duration
        lease = job.lease
        if isinstance(ran.error, (Cancelled, LeaseLost)):
            return self._stopped(conn, job, ran.error, duration)
        if ran.error is not None:
            return self._failed(conn, job, ran.error, duration)
        advanced = self._persist(conn, lease, job.step, lambda c: jobs.complete_step(
            c, lease, step=job.step, output=output, started_at=job.step_started_at,
            duration_s=duration, continue_steps=continue_steps, lease_seconds=self.lease_seconds))
        if advanced is _ALREADY_WRITTEN:
            # Our write committed but its answer was lost with the connection: the result
            # is safe. The next step is queued, or (chained to us) its lease expires and
            # another worker rescues it; either way this step never runs again.
            return Outcome(lease.job_id, job.token, job.step, result, "unknown", duration)
        if advanced is None:
            log.warning("job %s: %s finished in %.2f s but the lease was lost; result dropped",
                        lease.job_id, job.step, duration)
            self._record_dropped(conn, lease, job.step, duration)
            return Outcome(lease.job_id, job.token, job.step, "lease_lost", None, duration)
        log.info("job %s: %s %s in %.3f s -> %s %s", lease.job_id, job.step, result, duration,
                 advanced.status, advanced.step)
        next_job = None
        if advanced.status == "running":
            checkpoint = {"output": output, "storage_keys": output.get("storage_keys", []), "attempt": lease.attempt}
            next_job = dataclasses.replace(
                job, lease=jobs.Lease(lease.job_id, lease.worker_id, advanced.attempt), step=advanced.step,
                retry=0, step_started_at=advanced.step_started_at, lease_expires_at=advanced.lease_expires_at,
                rescued=False, checkpoints={**job.checkpoints, job.step: checkpoint})
        return Outcome(lease.job_id, job.token, job.step, result, advanced.status, duration, next_job=next_job)

    def contain(self, job: jobs.Job, exc: BaseException) -> bool:
        """After an unexpected error outside the step (most often its outcome write refused by
        the database): give the job a retry, or fail it with ``internal_error`` once its
        retries are spent, on a fresh connection. Returns whether that was written; if not,
        the lease expires and the job is rescued like one whose worker died."""
        error = RuntimeError(f"{type(exc).__name__} while recording the outcome of {job.step}")
        decision = self.policy.decide(error, job.retry, job.max_retries)
        details = {"message": decision.message, "step": job.step, "error_type": type(exc).__name__,
                   "error": str(exc)[:2000], "traceback": "".join(traceback.format_exception(exc, limit=20))}
        try:
            with connect(self.database_url, application_name="clipqueue-contain") as conn:
                written = jobs.end_attempt(conn, job.lease, outcome="retry" if decision.retry else "fail",
                                           delay_seconds=decision.delay, cause=decision.cause, details=details)
        except Exception:  # noqa: BLE001 - best effort; the lease is the safety net
            log.exception("job %s: could not record the contained error either", job.lease.job_id)
            return False
        if written and not decision.retry:
            self._final(job, "failed")
        return written

    def _failed(self, conn, job: jobs.Job, exc: Exception, duration: float) -> Outcome:
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
        outcome = "retry" if decision.retry else "fail"
        ok = self._persist(conn, lease, job.step, lambda c: jobs.end_attempt(
            c, lease, outcome=outcome, delay_seconds=decision.delay, cause=decision.cause, details=details))
        if decision.retry:
            result, status = "retry_scheduled", "queued"
            log.warning("job %s: %s failed (%s: %s); retry %s/%s in %.1f s", lease.job_id, job.step,
                        decision.cause, exc, job.retry + 1, job.max_retries, decision.delay)
        else:
            result, status = "failed", "failed"
            log.error("job %s: %s failed permanently (%s: %s)", lease.job_id, job.step, decision.cause, exc)
        if not ok:
            log.warning("job %s: lease lost before the failure could be recorded", lease.job_id)
            self._record_dropped(conn, lease, job.step, duration, completed=False)
            return Outcome(lease.job_id, job.token, job.step, "lease_lost", None, duration)
        if not decision.retry:
            self._final(job, "failed")
        return Outcome(lease.job_id, job.token, job.step, result, status, duration,
                       cause=decision.cause, delay_s=decision.delay if decision.retry else None)

    def _stopped(self, conn, job: jobs.Job, exc: Exception, duration: float) -> Outcome:
        lease = job.lease
        if isinstance(exc, Cancelled) and jobs.release_job(conn, lease):
            log.info("job %s: cancelled during %s", lease.job_id, job.step)
            self._final(job, "cancelled")
            return Outcome(lease.job_id, job.token, job.step, "cancelled", "cancelled", duration)
        log.warning("job %s: %s stopped, lease lost; nothing written", lease.job_id, job.step)
        self._record_dropped(conn, lease, job.step, duration, completed=False)
        return Outcome(lease.job_id, job.token, job.step, "lease_lost", None, duration)

    def _persist(self, conn: psycopg.Connection, lease: jobs.Lease, step: str,
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

        def again() -> T | object:
            with connect(self.database_url, application_name="clipqueue-outcome") as fresh:
                result = write(fresh)
                if not result and jobs.outcome_written(fresh, lease, step=step):
                    return _ALREADY_WRITTEN
                return result

        self.sleep(0.2)  # Postgres is restarting: give it a moment before the first new connection
        return retrying(again, within_s=self.lease_seconds, backoff=Backoff(0.4, 2.0),
                        sleep=self.sleep, clock=self.clock)

    def _final(self, job: jobs.Job, status: str) -> None:
        """The job ended for good (failed, cancelled): let the product drop its work files
        (``on_final``, e.g. a partial download) so they do not fill the disk."""
        if self.hooks.on_final is None:
            return
        try:
            self.hooks.on_final(Subject.of(job), status)
        except Exception:  # noqa: BLE001 - cleanup must not turn a recorded outcome into an error
            log.exception("job %s: cleanup after %s failed", job.lease.job_id, status)

    def _record_dropped(self, conn: psycopg.Connection, lease: jobs.Lease, step: str, duration: float,
                        *, completed: bool = True) -> None:
        """Best effort: the wasted_work view counts these; losing one loses only a count."""
        try:
            jobs.record_dropped_result(conn, lease, step=step, duration_s=duration, completed=completed)
        except psycopg.Error as exc:
            log.warning("job %s: could not record the dropped result: %s", lease.job_id, exc)
