"""Maintenance: the queue's upkeep, run by one process of the fleet at a time.

* reap: end the running rows that no claim will ever take again (their lease expired and
  their cancellation was requested, or their step died ``max_retries`` times) -- every
  ``REAP_INTERVAL`` seconds. (Rescue itself needs no one: a claim takes any row whose lease
  expired, counting a failed try.)
* archive and prune: finished jobs move to the archive after the retention, old events go
  (and the product's own ``tasks`` run, e.g. dropping expired uploads)
  -- every ``CLIPQUEUE_PRUNE_INTERVAL`` seconds, in bounded batches, each its own short
  statement, so it never holds locks long or competes with claims for more than a moment.

Every worker process runs a ``Maintenance`` thread; the one whose session holds the
advisory lock ``LOCK_KEY`` is the leader and does the work, the others ask again every
``ELECTION_INTERVAL`` seconds. A leader that stops or dies closes its connection, which
frees the lock. ``upkeep`` (prune, then the product's tasks) is what the leader runs on its
schedule and what ``python -m workers prune`` runs: one task list for both.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import psycopg

from workers.queue import jobs
from workers.queue.db import connect
from workers.queue.sql import sql

log = logging.getLogger(__name__)

DAY = 86400.0
LOCK_KEY = 0x436C69705175654D  # "ClipQueM": the advisory lock of the maintenance leader
REAP_INTERVAL = 5.0             # seconds between reaps, by the leader
ELECTION_INTERVAL = 5.0         # seconds between a follower's attempts to become leader


@dataclass(frozen=True)
class Pruned:
    archived: int
    events_deleted: int


def prune(conn: psycopg.Connection, *, retention_days: float, event_retention_days: float,
          batch: int = 1000, max_batches: int = 50) -> Pruned:
    """Archive finished jobs older than ``retention_days`` and delete events older than
    ``event_retention_days``; at most ``max_batches`` batches of each per call (the next
    call goes on where this one stopped)."""
    archived = _drain(lambda: jobs.archive_finished(conn, retention_seconds=retention_days * DAY,
                                                    batch=batch), batch, max_batches)
    deleted = _drain(lambda: jobs.prune_events(conn, retention_seconds=event_retention_days * DAY,
                                               batch=batch * 5), batch * 5, max_batches)
    return Pruned(archived, deleted)


def _drain(step, batch: int, max_batches: int) -> int:
    total = 0
    for _ in range(max_batches):
        done = step()
        total += done
        if done < batch:
            break
    return total


def upkeep(conn: psycopg.Connection, tasks: Mapping[str, Callable[[psycopg.Connection], int]], *,
           retention_days: float, event_retention_days: float, max_batches: int = 50) -> dict[str, int | None]:
    """The prune, then every product task (``Hooks.maintenance_tasks``); counts by name
    (None for a task that failed: logged, the others still run)."""
    done = prune(conn, retention_days=retention_days, event_retention_days=event_retention_days,
                 max_batches=max_batches)
    counts: dict[str, int | None] = {"archived": done.archived, "events_deleted": done.events_deleted}
    for name, task in tasks.items():
        try:
            counts[name] = task(conn)
        except psycopg.OperationalError:
            raise
        except Exception:  # noqa: BLE001 - one task's bug must not stop the reaper
            log.exception("maintenance task %s failed", name)
            counts[name] = None
    return counts


def try_lead(conn: psycopg.Connection) -> bool:
    """Take the maintenance lock for this session if no other session holds it."""
    return conn.execute(sql("try_maintenance_lock"), {"key": LOCK_KEY}).fetchone()["acquired"]


class Maintenance:
    """The maintenance thread of one worker process; see the module docstring."""

    def __init__(self, database_url: str, settings, *, name: str, stopping: threading.Event,
                 reap_interval: float = REAP_INTERVAL, election_interval: float = ELECTION_INTERVAL,
                 tasks: Mapping[str, Callable[[psycopg.Connection], int]] | None = None, clock=time.monotonic):
        self.database_url = database_url
        self.settings = settings
        self.name = name
        self.stopping = stopping
        self.reap_interval, self.election_interval = reap_interval, election_interval
        self.tasks = dict(tasks or {})  # the product's own upkeep, run with the prune (e.g. expired uploads)
        self.clock = clock
        self.leading = threading.Event()  # set while this process is the leader
        self.reaped = 0
        self._thread: threading.Thread | None = None

    def start(self) -> "Maintenance":
        self._thread = threading.Thread(target=self.run, name="maintenance", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with connect(self.database_url, application_name="clipqueue-maintenance") as conn:
                    while not self.stopping.is_set():
                        if try_lead(conn):
                            self._lead(conn)  # returns only when stopping (closing the connection frees the lock)
                        else:
                            self.stopping.wait(self.election_interval)
            except psycopg.OperationalError as exc:
                log.warning("maintenance: %s; reconnecting", str(exc).strip())
            finally:
                self.leading.clear()
            self.stopping.wait(self.election_interval)

    def _lead(self, conn: psycopg.Connection) -> None:
        log.info("maintenance: %s leads (reap every %.0f s, prune every %.0f s)", self.name, self.reap_interval,
                 self.settings.prune_interval_s)
        self.leading.set()
        # Not at once: a fleet restarting together should claim first and prune later.
        last_prune = self.clock()
        while not self.stopping.is_set():
            self.reaped += jobs.reap_expired_leases(conn, worker_id=f"{self.name}/maintenance")
            interval = self.settings.prune_interval_s
            if interval > 0 and self.clock() >= last_prune + interval:
                done = upkeep(conn, self.tasks, retention_days=self.settings.retention_days,
                              event_retention_days=self.settings.event_retention_days)
                if any(done.values()):
                    log.info("hygiene: %s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
                last_prune = self.clock()
            self.stopping.wait(min(self.reap_interval, interval) if interval > 0 else self.reap_interval)
