"""The engine's data surface: one function per statement of ``queries.sql``, and the types
they return (``Job``, ``Lease``, ``Enqueued``, ``Advanced``).

Functions take an autocommit connection and return plain values. The ones a worker calls
about a row it claimed take a ``Lease`` and return False (or None) when the fenced
statement touched zero rows: the lease was lost and the caller must drop its result.
No function names a step: the order is the ``pipeline_step`` enum's.
"""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

import psycopg
from psycopg.types.json import Jsonb

# The records these functions return, importable from here too.
from workers.queue.records import Advanced, Enqueued, Job, Lease, new_token  # noqa: F401
from workers.queue.retry import finite_delay
from workers.queue.sql import sql

NOTIFY_CHANNEL = "clipqueue_jobs"
CANCEL_CHANNEL = "clipqueue_cancel"  # payload: the id of a running job whose cancel was requested


def ping(conn: psycopg.Connection) -> bool:
    return conn.execute(sql("ping")).fetchone()["ok"] == 1


def step_order(conn: psycopg.Connection) -> list[str]:
    return conn.execute(sql("step_order")).fetchone()["steps"]


def enqueue(
    conn: psycopg.Connection,
    *,
    source_url: str,
    normalized_url: str,
    priority: int = 0,
    max_retries: int = 5,
    options: dict | None = None,
) -> Enqueued:
    params = {
        "source_url": source_url,
        "normalized_url": normalized_url,
        "token": new_token(),
        "priority": priority,
        "max_retries": max_retries,
        "options": Jsonb(options or {}),
    }
    # Zero rows happens only when a concurrent submission of the same URL committed
    # while this statement ran (its row is invisible to our snapshot): run it again.
    for _ in range(5):
        row = conn.execute(sql("enqueue"), params).fetchone()
        if row is not None:
            return Enqueued(row["token"], row["created"], row["options"] or {})
    raise RuntimeError("enqueue kept racing with concurrent submissions of the same URL")


def claim(
    conn: psycopg.Connection,
    *,
    worker_id: str,
    steps: Sequence[str],
    lease_seconds: float,
    lock_limits: bool = True,
) -> Job | None:
    """Claim one due row of ``steps`` and commit at once; None when nothing is due.

    ``lock_limits`` takes the step-limits lock first, which a step with a fleet-wide limit
    needs for the limit to hold under concurrent claims. A caller that knows none of its
    steps is limited may skip it: the claim is then one autocommit statement.
    """
    params = {"steps": list(steps), "worker_id": worker_id, "lease_seconds": lease_seconds}
    if lock_limits:
        # Pipeline mode: BEGIN, both statements and COMMIT go out without waiting in between.
        with conn.pipeline(), conn.transaction():
            conn.execute(sql("lock_step_limits"), params)
            cursor = conn.execute(sql("claim"), params)
    else:
        cursor = conn.execute(sql("claim"), params)
    row = cursor.fetchone()
    if row is None:
        return None
    return Job(
        lease=Lease(row["job_id"], worker_id, row["attempt"]),
        video_id=row["video_id"],
        token=row["token"],
        step=row["step"],
        retry=row["retry"],
        max_retries=row["max_retries"],
        options=row["options"] or {},
        source_url=row["source_url"],
        normalized_url=row["normalized_url"],
        step_started_at=row["step_started_at"],
        lease_expires_at=row["lease_expires_at"],
        rescued=row["rescued"],
        checkpoints=row["checkpoints"],
    )


def checkpoints_for_video(conn: psycopg.Connection, video_id: int) -> dict[str, dict]:
    rows = conn.execute(sql("checkpoints_for_video"), {"video_id": video_id}).fetchall()
    return {row["step"]: row for row in rows}


def heartbeat(conn: psycopg.Connection, lease: Lease, *, lease_seconds: float) -> bool | None:
    """Extend the lease. Returns None when the lease is lost, else whether cancellation
    was requested."""
    row = conn.execute(sql("heartbeat"), lease.params(lease_seconds=lease_seconds)).fetchone()
    return None if row is None else row["cancel_requested"]


def set_progress(conn: psycopg.Connection, lease: Lease, progress: float) -> bool:
    progress = min(1.0, max(0.0, float(progress)))
    return conn.execute(sql("set_progress"), lease.params(progress=progress)).fetchone() is not None


def complete_step(
    conn: psycopg.Connection,
    lease: Lease,
    *,
    step: str,
    output: dict,
    started_at: datetime,
    duration_s: float,
    continue_steps: Sequence[str] = (),
    lease_seconds: float = 30.0,
) -> Advanced | None:
    """Write the checkpoint and advance, in one transaction; None when the lease was lost
    (nothing written). With the next step in ``continue_steps`` (and no limit on it, no
    cancellation pending), the job stays claimed by this worker under a new lease."""
    storage_keys = [str(k) for k in output.get("storage_keys", [])] if isinstance(output, dict) else []
    row = conn.execute(
        sql("complete_step"),
        lease.params(
            step=step,
            output=Jsonb(output),
            storage_keys=storage_keys,
            started_at=started_at,
            duration_s=duration_s,
            continue_steps=list(continue_steps),
            lease_seconds=lease_seconds,
        ),
    ).fetchone()
    if row is None:
        return None
    return Advanced(row["status"], row["step"], row["attempt"], row["step_started_at"], row["lease_expires_at"])


def end_attempt(conn: psycopg.Connection, lease: Lease, *, outcome: str, delay_seconds: float = 0.0,
                cause: str | None = None, details: dict | None = None) -> bool:
    """Give up the lease: ``outcome`` is ``retry`` (the step runs again after the delay),
    ``fail`` (the job ends) or ``release`` (handed back untouched, due at once). False when
    the lease was already lost (nothing written)."""
    if outcome not in ("retry", "fail", "release"):
        raise ValueError(f"unknown outcome {outcome!r}")
    # Clamped here too: an overflowing interval would raise inside the worker's outcome write.
    params = lease.params(outcome=outcome, delay_seconds=finite_delay(delay_seconds), cause=cause,
                          details=None if details is None else Jsonb(details))
    return conn.execute(sql("end_attempt"), params).fetchone() is not None


def schedule_retry(conn: psycopg.Connection, lease: Lease, *, delay_seconds: float, cause: str,
                   details: dict) -> bool:
    return end_attempt(conn, lease, outcome="retry", delay_seconds=delay_seconds, cause=cause, details=details)


def fail_job(conn: psycopg.Connection, lease: Lease, *, cause: str, details: dict) -> bool:
    return end_attempt(conn, lease, outcome="fail", cause=cause, details=details)


def release_job(conn: psycopg.Connection, lease: Lease) -> bool:
    return end_attempt(conn, lease, outcome="release")


def reap_expired_leases(conn: psycopg.Connection, *, worker_id: str) -> int:
    return len(conn.execute(sql("reap_expired_leases"), {"worker_id": worker_id}).fetchall())


def pending_work(conn: psycopg.Connection, steps: Sequence[str]) -> int:
    """Active rows that can still reach one of ``steps``."""
    return conn.execute(sql("pending_work"), {"steps": list(steps)}).fetchone()["pending"]


def job_by_token(conn: psycopg.Connection, token: str) -> dict | None:
    return conn.execute(sql("job_by_token"), {"token": token}).fetchone()


def job_status(conn: psycopg.Connection, token: str) -> dict | None:
    """The public status read (live or archived job) in one round trip; ``checkpoints``
    maps each finished step to its times, LLM usage and, for the last step, its result."""
    return conn.execute(sql("job_status"), {"token": token}).fetchone()


def record_dropped_result(conn: psycopg.Connection, lease: Lease, *, step: str, duration_s: float,
                          completed: bool = True) -> bool:
    """Logs a step whose lease was lost while it ran: it ran to its end and its result was
    refused (``completed``), or it was stopped early once the loss was noticed."""
    params = {"job_id": lease.job_id, "worker_id": lease.worker_id, "attempt": lease.attempt,
              "step": step, "duration_s": float(duration_s), "completed": completed}
    return conn.execute(sql("record_dropped_result"), params).fetchone() is not None


def outcome_written(conn: psycopg.Connection, lease: Lease, *, step: str) -> bool:
    params = {"job_id": lease.job_id, "attempt": lease.attempt, "worker_id": lease.worker_id, "step": step}
    return conn.execute(sql("outcome_written"), params).fetchone()["written"]


def archive_finished(conn: psycopg.Connection, *, retention_seconds: float, batch: int = 1000) -> int:
    """Moves up to ``batch`` jobs finished more than ``retention_seconds`` ago to the archive."""
    params = {"retention_seconds": float(retention_seconds), "batch": batch}
    return len(conn.execute(sql("archive_finished"), params).fetchall())


def prune_events(conn: psycopg.Connection, *, retention_seconds: float, batch: int = 5000) -> int:
    """Deletes up to ``batch`` events older than ``retention_seconds``."""
    params = {"retention_seconds": float(retention_seconds), "batch": batch}
    return len(conn.execute(sql("prune_events"), params).fetchall())


def request_cancel(conn: psycopg.Connection, token: str, *, actor: str = "operator") -> str | None:
    """Returns the status after the request ('cancelled' or 'running'), None when the job
    is unknown or already finished."""
    row = conn.execute(sql("request_cancel"), {"token": token, "actor": actor}).fetchone()
    return None if row is None else row["status"]


def requeue_job(conn: psycopg.Connection, token: str, *, actor: str = "operator") -> str | None:
    """Returns the step the job will resume at, None unless it was failed or cancelled."""
    row = conn.execute(sql("requeue_job"), {"token": token, "actor": actor}).fetchone()
    return None if row is None else row["step"]


def rerun_from(conn: psycopg.Connection, token: str, step: str, options: dict, *, actor: str = "operator") -> str | None:
    """Queue a done job again from ``step`` with ``options``, retiring the checkpoints of that
    step and the later ones (the earlier are reused). Returns the step, None unless the job
    was done with other options."""
    row = conn.execute(sql("rerun_from"), {"token": token, "step": step, "options": Jsonb(options),
                                           "actor": actor}).fetchone()
    return None if row is None else row["step"]


def set_step_limit(conn: psycopg.Connection, step: str, max_running: int) -> dict:
    return conn.execute(sql("set_step_limit"), {"step": step, "max_running": max_running}).fetchone()


def clear_step_limit(conn: psycopg.Connection, step: str) -> bool:
    return conn.execute(sql("clear_step_limit"), {"step": step}).fetchone() is not None


def step_limits(conn: psycopg.Connection) -> list[dict]:
    return conn.execute(sql("step_limits")).fetchall()


def queue_overview(conn: psycopg.Connection) -> list[dict]:
    return conn.execute(sql("queue_overview")).fetchall()


def recent_failures(conn: psycopg.Connection, limit: int = 20) -> list[dict]:
    return conn.execute(sql("recent_failures"), {"limit": limit}).fetchall()
