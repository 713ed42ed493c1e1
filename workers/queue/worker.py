"""The worker process: N slots claiming and running steps, with one heartbeat, one
listener and one maintenance thread (``heartbeat``, ``listener``, ``maintenance``).

Before it claims anything, the worker checks that its step table's order (the pipeline's,
given as data) is the database's ``pipeline_step`` enum order.

Claim, commit, then work: a slot claims a row (one short transaction), the executor runs
its step with no transaction open, and the completer writes the outcome in one fenced
statement. The maintenance thread does its work only while this process leads the fleet's
maintenance (``workers.queue.maintenance``). Idle slots sleep until
a NOTIFY on ``clipqueue_jobs`` names one of their steps, or until the poll interval (the
fallback and the truth) runs out.

Shutdown (SIGTERM/SIGINT): stop claiming; let steps in flight finish for up to
``shutdown_grace`` seconds; then stop whatever is still running (its ffmpeg killed, its
sockets shut), release it (it is due again at once, no retry counted) and exit. A second
signal does that at once.

An unexpected error inside a slot (a bug, a value the database refuses) is contained: the
job in hand gets a retry, or fails with cause ``internal_error`` when its retries are spent,
and the slot carries on. A slot that keeps failing (``MAX_SLOT_ERRORS`` in a row) stops the
worker with exit status 1, so that a supervisor restarts it instead of it idling as "ok".
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from typing import Any, Mapping, Sequence

import psycopg

from workers.queue import jobs as queue
from workers.queue.completer import Outcome
from workers.queue.db import Backoff, connect
from workers.queue.embedded import EmbeddedSupervisor
from workers.queue.errors import LeaseLost
from workers.queue.executor import Executor, StepTable
from workers.queue.heartbeat import Heartbeat
from workers.queue.hooks import Hooks
from workers.queue.listener import Listener
from workers.queue.maintenance import Maintenance
from workers.queue.retry import RetryPolicy

log = logging.getLogger(__name__)

LIMITS_TTL = 2.0  # seconds between re-reads of step_concurrency_limits
MAX_SLOT_ERRORS = 5  # unexpected errors in a row before a slot gives up (and the worker exits 1)
RELEASED_JOIN_S = 5.0  # after releasing at shutdown: how long aborted steps get to return (then os._exit)


def make_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        database_url: str,
        step_table: StepTable,
        *,
        steps: Sequence[str],
        settings: Any,
        concurrency: int = 1,
        burst: bool = False,
        lease_seconds: float | None = None,
        poll_interval: float | None = None,
        shutdown_grace: float = 30.0,
        policy: RetryPolicy | None = None,
        services: Mapping[str, Any] | None = None,
        hooks: Hooks | None = None,
        name: str | None = None,
    ):
        self.database_url = database_url
        self.order = tuple(step_table)  # the pipeline's order, given as data
        self.steps = tuple(steps)
        unknown = [s for s in self.steps if s not in self.order]
        if unknown or not self.steps:
            raise ValueError(f"steps {', '.join(unknown) or '(none)'} are not in the step table "
                             f"({', '.join(self.order)})")
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.burst = burst
        self.lease_seconds = lease_seconds or settings.lease_seconds
        self.poll_interval = poll_interval or settings.poll_interval
        self.shutdown_grace = shutdown_grace
        self.name = name or make_worker_name()
        self.heartbeat = Heartbeat(database_url, self.lease_seconds)
        self.executor = Executor(
            step_table,
            heartbeat=self.heartbeat,
            policy=policy or RetryPolicy(base=settings.retry_base_seconds, cap=settings.retry_max_seconds),
            settings=settings,
            services=services,
            hooks=hooks,
        )
        self.completer = self.executor.completer
        self.outcomes = 0  # steps whose outcome this process wrote (a count: a list grew for ever)
        self.last_outcome: Outcome | None = None
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._wake_generation = 0
        self._slots: list[threading.Thread] = []
        self._has_limits = True
        self._limits_checked_at = float("-inf")
        self._stop_requested_at: float | None = None
        self._released = threading.Event()  # the leases in flight were handed back at shutdown
        self.supervisor = EmbeddedSupervisor(settings, database_url)  # brings the embedded Postgres back
        self.broken_slots: list[str] = []  # slots that gave up: the worker exits 1

    # ------------------------------------------------------------------ lifecycle
    def run(self) -> int:
        """Run until stopped (or, with burst, until no work can reach these steps)."""
        log.info("worker %s: steps=%s concurrency=%s lease=%.1fs%s", self.name, ",".join(self.steps),
                 self.concurrency, self.lease_seconds, " burst" if self.burst else "")
        self._check_order()
        self.heartbeat.start()
        Listener(self.database_url, steps=self.steps, wake=self._notify_all, cancel=self.heartbeat.cancel,
                 stopping=self._stopping).start()
        maintenance = Maintenance(self.database_url, self.settings, name=self.name, stopping=self._stopping,
                                  tasks=self.executor.hooks.maintenance_tasks).start()
        self._slots = [threading.Thread(target=self._slot, args=(i,), name=f"slot-{i}", daemon=True)
                       for i in range(self.concurrency)]
        for thread in self._slots:
            thread.start()
        while any(t.is_alive() for t in self._slots):
            # Re-read every turn: a second signal shortens the grace after the first set it.
            if self._stop_requested_at is not None and \
                    time.monotonic() >= self._stop_requested_at + self.shutdown_grace:
                self._release_in_flight()
                break
            for thread in self._slots:
                thread.join(timeout=0.1)
        # Released steps were aborted (ffmpeg killed, sockets shut, Whisper stopped between
        # segments): wait for them to return. A native thread still decoding while the
        # interpreter finalizes aborts the process (exit 134 instead of 0).
        deadline = time.monotonic() + RELEASED_JOIN_S
        for thread in self._slots:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._stopping.set()  # ends the listener and maintenance threads too
        self.heartbeat.stop()
        maintenance.join(timeout=5)  # its connection closed: another process may lead at once
        if self.broken_slots:
            log.error("worker %s: slots %s could not carry on; exiting with status 1", self.name,
                      ", ".join(self.broken_slots))
            return 1
        log.info("worker %s: stopped after %s steps", self.name, self.outcomes)
        return 0

    def steps_still_running(self) -> bool:
        """Whether a slot is still inside its step after ``run`` returned (a native call that
        ignored the abort): then the process must end without finalizing the interpreter."""
        return any(t.is_alive() for t in self._slots)

    def stop(self, *, immediately: bool = False) -> None:
        if immediately:
            self.shutdown_grace = 0.0
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self._stopping.set()
        self._notify_all()

    def install_signal_handlers(self) -> None:
        def handle(signum, _frame):
            again = self._stop_requested_at is not None
            log.info("worker %s: %s, %s", self.name, signal.Signals(signum).name,
                     "releasing in-flight steps now" if again else
                     f"finishing in-flight steps (up to {self.shutdown_grace:.0f} s)")
            self.stop(immediately=again)

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def _release_in_flight(self) -> None:
        # Stop the steps first -- ffmpeg is killed and sockets shut before this returns -- so
        # that no render finishes after its lease is handed back (it would be done twice: here
        # and by the worker that takes the job over); then hand the leases back.
        self._released.set()
        leases = self.heartbeat.abort_all()
        if not leases:
            return
        with connect(self.database_url, application_name="clipqueue-shutdown") as conn:
            for lease in leases:
                released = queue.release_job(conn, lease)
                log.info("job %s: %s at shutdown", lease.job_id, "released" if released else "lease already lost")

    # ------------------------------------------------------------------ slots
    def _slot(self, index: int) -> None:
        try:
            self._slot_loop(index)
        except BaseException:  # noqa: BLE001 - a slot must never vanish silently
            log.exception("slot %s/%s died", self.name, index)
            self.broken_slots.append(f"{self.name}/{index}")
            self.stop()

    def _slot_loop(self, index: int) -> None:
        worker_id = f"{self.name}/{index}"
        conn: psycopg.Connection | None = None
        job: queue.Job | None = None  # a chained step still leased to this slot
        running: queue.Job | None = None  # the job whose step this slot is executing
        reconnect, failures, unexpected = Backoff(0.4, 10.0), 0, 0
        while not self._stopping.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(self.database_url, application_name=f"clipqueue-worker/{index}")
                if job is None:
                    generation = self._wake_generation
                    job = queue.claim(conn, worker_id=worker_id, steps=self.steps,
                                      lease_seconds=self.lease_seconds, lock_limits=self._limited(conn))
                if job is None:
                    if self.burst and queue.pending_work(conn, self.steps) == 0:
                        break
                    self._wait(generation)
                    continue
                chain = () if self._stopping.is_set() else self.steps
                running = job
                ran = self.executor.run(job)  # no transaction, no connection in use
                if self._released.is_set() and isinstance(ran.error, LeaseLost):
                    job = running = None  # aborted, its lease handed back at shutdown: write nothing
                    break
                outcome = self.completer.record(conn, ran, continue_steps=chain)
                running = None
                self.outcomes += 1
                self.last_outcome = outcome
                job = outcome.next_job
                failures = unexpected = 0
                reconnect.reset()
            except psycopg.OperationalError as exc:
                # Postgres restarting or unreachable: reconnect with backoff. A step whose
                # outcome could not be written is rescued once its lease expires.
                failures += 1
                log.warning("slot %s: database error (%s); reconnecting", worker_id, exc)
                if failures >= 2:
                    self.supervisor.poke()
                if conn is not None:
                    conn.close()
                conn, job, running = None, None, None
                self._stopping.wait(reconnect.next())
            except Exception as exc:  # noqa: BLE001 - contained: the slot carries on
                unexpected += 1
                log.exception("slot %s: unexpected error (%s in a row)", worker_id, unexpected)
                if running is not None and self.completer.contain(running, exc):
                    unexpected = 0  # the job was dealt with: the slot is healthy
                job = running = None
                if unexpected >= MAX_SLOT_ERRORS:
                    self.broken_slots.append(worker_id)
                    self.stop()
                    break
                self._stopping.wait(min(10.0, 0.2 * 2 ** unexpected))
        if job is not None and conn is not None:
            # Stopping between two chained steps: hand the next one back at once.
            queue.release_job(conn, job.lease)
        if conn is not None:
            conn.close()
        self._notify_all()  # a burst slot leaving may let the others re-check

    def _check_order(self) -> None:
        """The step table's order must be the database's (the ``pipeline_step`` enum): the
        statements advance a job in enum order."""
        with connect(self.database_url, application_name="clipqueue-worker") as conn:
            stored = queue.step_order(conn)
        if tuple(stored) != self.order:
            raise ValueError(f"the step table's order ({', '.join(self.order)}) is not the database's "
                             f"({', '.join(stored)}); a migration and the pipeline disagree")

    def _limited(self, conn: psycopg.Connection) -> bool:
        """Whether one of this worker's steps has a fleet-wide limit (re-read every
        LIMITS_TTL seconds): only then does the claim need the limits lock. A limit set
        while workers run is strictly enforced from at most LIMITS_TTL seconds later."""
        now = time.monotonic()
        if now >= self._limits_checked_at + LIMITS_TTL:
            limited = {row["step"] for row in queue.step_limits(conn)}
            self._has_limits = bool(limited & set(self.steps))
            self._limits_checked_at = now
        return self._has_limits

    def _wait(self, generation: int) -> None:
        with self._wake:
            if self._wake_generation == generation and not self._stopping.is_set():
                self._wake.wait(timeout=self.poll_interval)

    def _notify_all(self) -> None:
        with self._wake:
            self._wake_generation += 1
            self._wake.notify_all()
