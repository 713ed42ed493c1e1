"""The executor: runs the step of one claimed job, with no database connection held.

It builds the step's ``Subject`` and ``StepContext``, puts the lease under the heartbeat,
calls the step function, and returns what happened (``Ran``: the output or the error). It
writes nothing: the completer (``workers.queue.completer``) records the outcome, fenced by
the lease. Shared by the worker processes and the API's internal route.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Mapping, Sequence

import psycopg

from workers.queue import jobs, metrics
from workers.queue.completer import Completer, Outcome, Ran
from workers.queue.context import StepContext, Subject
from workers.queue.heartbeat import Heartbeat
from workers.queue.hooks import Hooks, check_services
from workers.queue.retry import RetryPolicy

log = logging.getLogger(__name__)

StepFn = Callable[[Subject, StepContext], dict]
StepTable = Mapping[str, StepFn]  # step name -> function, in pipeline order


class Executor:
    def __init__(
        self,
        step_table: StepTable,
        *,
        heartbeat: Heartbeat,
        policy: RetryPolicy,
        settings: Any,
        services: Mapping[str, Any] | None = None,
        hooks: Hooks | None = None,
        clock=time.monotonic,
        step_clock=time.time,
        sleep=time.sleep,
    ):
        self.step_table = step_table
        self.heartbeat = heartbeat
        self.settings = settings
        check_services(services)
        self.services = services or {}
        self.hooks = hooks or Hooks()
        self.clock = clock            # durations
        self.step_clock = step_clock  # what steps see as ctx.clock
        self.completer = Completer(heartbeat.database_url, lease_seconds=heartbeat.lease_seconds, policy=policy,
                                   hooks=self.hooks, clock=clock, sleep=sleep)

    def execute(self, conn: psycopg.Connection, job: jobs.Job, *, continue_steps: Sequence[str] = ()) -> Outcome:
        """Run ``job``'s step, then have the completer record its outcome. When the next step
        is in ``continue_steps`` the outcome may carry ``next_job``: the same subject, leased
        to the same worker for that step (the caller must run or release it)."""
        return self.completer.record(conn, self.run(job), continue_steps=continue_steps)

    def execute_pooled(self, pool, job: jobs.Job) -> Outcome:
        """``execute`` holding a pooled connection only for the outcome write, not the step."""
        ran = self.run(job)
        with pool.connection() as conn:
            return self.completer.record(conn, ran)

    def run(self, job: jobs.Job) -> Ran:
        """Run the step (no database connection needed or held): its output or its error."""
        lease = job.lease
        ctx = StepContext(step=job.step, checkpoints=job.checkpoints, options=job.options, settings=self.settings,
                          services=self.services, clock=self.step_clock, attempt=lease.attempt, retry=job.retry,
                          worker_id=lease.worker_id)
        outer = getattr(self.settings, "step_timeout_s", 0)
        if outer:  # every step has a deadline; steps tighten it to what their input needs
            ctx.set_deadline(outer, f"over CLIPQUEUE_STEP_TIMEOUT_S={outer:.0f} s", outer=True)
        log.info("job %s: claimed %s (attempt %s, retry %s/%s%s)", lease.job_id, job.step,
                 lease.attempt, job.retry, job.max_retries, ", rescued" if job.rescued else "")
        metrics.claimed(job.step, job.rescued)
        started = self.clock()
        self.heartbeat.track(lease, ctx)
        output, result, error = None, "succeeded", None
        try:
            if job.step in job.checkpoints:
                # A resubmitted subject whose step finished before: never run it again.
                output, result = job.checkpoints[job.step]["output"], "skipped"
            else:
                output = self.step_table[job.step](Subject.of(job), ctx)
                _check_output(job.step, output)
        except Exception as exc:  # noqa: BLE001 - the policy decides what any error means
            error = exc
        finally:
            self.heartbeat.untrack(lease)
        if error is not None and ctx.aborted.is_set():
            # The abort broke the step's read or subprocess: report why, not how it broke.
            error = ctx.stop_reason() or error
        return Ran(job, output, result, error, self.clock() - started)


def _check_output(step: str, output: Any) -> None:
    if not isinstance(output, dict):
        raise TypeError(f"step {step} returned {type(output).__name__}, not a dict")
    json.dumps(output)  # raises TypeError on values that cannot be checkpointed
