"""One thread per process that keeps the leases of the steps in flight alive.

It owns its own connection, so a long step never holds a transaction or a connection
that the step's own outcome write needs. Every ``lease/3`` seconds (5 s at most) it extends
each lease; about once a second it writes reported progress. A heartbeat that touches zero
rows marks the step's lease as lost; one that reads ``cancel_requested`` flags the step's
context (the listener's NOTIFY usually flags it sooner: ``cancel``). Every tick (0.25 s) it
aborts the steps that must stop -- lease lost, cancelled, or past their deadline -- so their
ffmpeg or socket is broken off at once.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import psycopg

from workers.queue import jobs as queue
from workers.queue.context import StepContext
from workers.queue.db import connect

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 1.0
MAX_BEAT_INTERVAL = 5.0  # a lost lease or a cancel is noticed within this, whatever the lease


@dataclass
class _Tracked:
    lease: queue.Lease
    ctx: StepContext
    last_beat: float
    last_progress: float = 0.0


class Heartbeat:
    def __init__(self, database_url: str, lease_seconds: float, *, clock=time.monotonic):
        self.database_url = database_url
        self.lease_seconds = lease_seconds
        self.interval = min(lease_seconds / 3, MAX_BEAT_INTERVAL)
        self.clock = clock
        self._tracked: dict[int, _Tracked] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "Heartbeat":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def track(self, lease: queue.Lease, ctx: StepContext) -> None:
        with self._lock:
            self._tracked[lease.job_id] = _Tracked(lease, ctx, last_beat=self.clock())

    def untrack(self, lease: queue.Lease) -> None:
        with self._lock:
            self._tracked.pop(lease.job_id, None)

    def cancel(self, job_id: int) -> bool:
        """Cancellation of ``job_id`` was announced (NOTIFY): flag and abort its step now."""
        with self._lock:
            item = self._tracked.get(job_id)
        if item is None:
            return False
        item.ctx.cancel_requested.set()
        item.ctx.abort()
        return True

    def abort_all(self) -> list[queue.Lease]:
        """Shutdown past its grace: stop every step in flight now (ffmpeg killed, sockets
        shut) so that none finishes after its lease is handed back; returns their leases."""
        with self._lock:
            tracked = list(self._tracked.values())
        for item in tracked:
            item.ctx.lease_lost.set()  # the lease is being given up: nothing may be written
            item.ctx.abort()
        return [t.lease for t in tracked]

    def in_flight(self) -> list[queue.Lease]:
        with self._lock:
            return [t.lease for t in self._tracked.values()]

    def _run(self) -> None:
        tick = min(0.25, self.interval / 2)
        while not self._stop.wait(tick):
            with self._lock:
                tracked = list(self._tracked.values())
            if not tracked:
                continue
            for item in tracked:
                if item.ctx.must_stop() and not item.ctx.aborted.is_set():
                    log.info("job %s: stopping its %s step (%s)", item.lease.job_id, item.ctx.step,
                             item.ctx.stop_reason())
                    item.ctx.abort()
            try:
                self._beat(tracked)
            except psycopg.Error as exc:
                # Database unreachable: try again next tick with a new connection. If the
                # lease expires meanwhile, the step's fenced outcome write will say so.
                log.warning("heartbeat failed: %s", exc)
                self._close()

    def _beat(self, tracked: list[_Tracked]) -> None:
        now = self.clock()
        for item in tracked:
            if item.ctx.lease_lost.is_set():
                continue
            if now - item.last_beat >= self.interval:
                cancel = queue.heartbeat(self._connection(), item.lease, lease_seconds=self.lease_seconds)
                item.last_beat = now
                if cancel is None:
                    log.warning("job %s: lease lost (attempt %s); its result will be dropped",
                                item.lease.job_id, item.lease.attempt)
                    item.ctx.lease_lost.set()
                    continue
                if cancel and not item.ctx.cancel_requested.is_set():
                    log.info("job %s: cancellation requested", item.lease.job_id)
                    item.ctx.cancel_requested.set()
            if now - item.last_progress >= PROGRESS_INTERVAL:
                progress = item.ctx.take_progress()
                if progress is not None:
                    queue.set_progress(self._connection(), item.lease, progress)
                    item.last_progress = now

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.database_url, application_name="clipqueue-heartbeat")
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
