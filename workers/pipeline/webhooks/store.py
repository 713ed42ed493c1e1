"""The webhook outbox's statements (``queries.sql``), one function each."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from workers.pipeline.fetcher.guard import DEFAULT_PORTS
from workers.pipeline.fetcher.urlnorm import normalize_host
from workers.queue.retry import finite_delay
from workers.queue.sql import load

QUERIES = Path(__file__).with_name("queries.sql")


def _sql(name: str) -> str:
    return load(QUERIES)[name]


CLAIM_LOCK = 0x77686B73  # 'whks': the advisory lock that makes claims one at a time


def receiver(callback_url: str) -> str:
    """The unit the dispatchers take turns on: the callback URL's host (normalized, as the
    guard sees it) and its port when it is not the scheme's default."""
    parts = urlsplit(callback_url)
    try:
        host = normalize_host(parts.hostname or "")
    except ValueError:
        host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    return f"{host}:{port}" if port and port != DEFAULT_PORTS.get(parts.scheme.lower()) else host


def subscribe(conn: psycopg.Connection, token: str, callback_url: str, *, most: int) -> dict:
    """Subscribe ``callback_url`` to the job, at most ``most`` subscriptions per job. Returns
    ``{"public_id", "created"}``: the subscription's handle (the existing one when this URL
    was subscribed already), or ``public_id`` None when the job has ``most`` others. A job
    already done or failed gets its delivery at once."""
    params = {"token": token, "callback_url": callback_url, "receiver": receiver(callback_url), "most": most}
    with conn.transaction():
        if conn.execute(_sql("lock_job"), params).fetchone() is None:
            conn.execute(_sql("lock_archived_job"), params)
        row = conn.execute(_sql("subscribe"), params).fetchone()
    return {"public_id": row["public_id"], "created": bool(row["created"])}


def claim(conn: psycopg.Connection, *, worker_id: str, limit: int, lease_seconds: float) -> list[dict]:
    """Up to ``limit`` due deliveries, at most one per receiver and none to a receiver with an
    attempt in flight anywhere in the fleet (claims are serialized by an advisory lock)."""
    params = {"worker_id": worker_id, "limit": limit, "lease_seconds": lease_seconds}
    with conn.transaction():
        conn.execute(_sql("lock_claims"), {"key": CLAIM_LOCK})
        return conn.execute(_sql("claim_deliveries"), params).fetchall()


def finish(conn: psycopg.Connection, delivery: dict, *, worker_id: str, outcome: str, delay_seconds: float = 0.0,
           last_status: int | None = None, last_error: str | None = None) -> bool:
    params = {"id": delivery["id"], "worker_id": worker_id, "attempt": delivery["attempts"], "outcome": outcome,
              "delay_seconds": finite_delay(delay_seconds), "last_status": last_status,
              "last_error": None if last_error is None else last_error[:500]}
    return conn.execute(_sql("finish_delivery"), params).fetchone() is not None


def for_subscription(conn: psycopg.Connection, token: str, public_id: str) -> list[dict] | None:
    """The deliveries of one subscription of the token's job (none yet: []); None when
    ``public_id`` is no subscription of that job."""
    rows = conn.execute(_sql("deliveries_for_subscription"), {"token": token, "public_id": public_id}).fetchall()
    if not rows:
        return None
    return [row for row in rows if row["event"] is not None]
