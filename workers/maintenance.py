"""Queue hygiene: finished jobs move to the archive after the retention, old events go.

Run by every worker's first slot every ``CLIPQUEUE_PRUNE_INTERVAL`` seconds (and by
``python -m workers prune``). Work is done in bounded batches, each its own short
statement, so it never holds locks long or competes with claims for more than a moment;
several workers pruning at once skip each other's rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import psycopg

from . import queue

DAY = 86400.0


@dataclass(frozen=True)
class Pruned:
    archived: int
    events_deleted: int


def prune(conn: psycopg.Connection, *, retention_days: float, event_retention_days: float,
          batch: int = 1000, max_batches: int = 50) -> Pruned:
    """Archive finished jobs older than ``retention_days`` and delete events older than
    ``event_retention_days``; at most ``max_batches`` batches of each per call (the next
    call goes on where this one stopped)."""
    archived = _drain(lambda: queue.archive_finished(conn, retention_seconds=retention_days * DAY,
                                                     batch=batch), batch, max_batches)
    deleted = _drain(lambda: queue.prune_events(conn, retention_seconds=event_retention_days * DAY,
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
