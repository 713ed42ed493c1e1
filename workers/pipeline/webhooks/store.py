"""The webhook outbox's statements (``queries.sql``), one function each."""
from __future__ import annotations

from pathlib import Path

import psycopg

from workers.queue.retry import finite_delay
from workers.queue.sql import load

QUERIES = Path(__file__).with_name("queries.sql")


def _sql(name: str) -> str:
    return load(QUERIES)[name]


def subscribe(conn: psycopg.Connection, token: str, callback_url: str) -> bool:
    """Subscribe ``callback_url`` to the job; returns whether it is a new subscription. A job
    already done or failed gets its delivery at once."""
    row = conn.execute(_sql("subscribe"), {"token": token, "callback_url": callback_url}).fetchone()
    return bool(row["subscribed"])


def claim(conn: psycopg.Connection, *, worker_id: str, limit: int, lease_seconds: float) -> list[dict]:
    params = {"worker_id": worker_id, "limit": limit, "lease_seconds": lease_seconds}
    return conn.execute(_sql("claim_deliveries"), params).fetchall()


def finish(conn: psycopg.Connection, delivery: dict, *, worker_id: str, outcome: str, delay_seconds: float = 0.0,
           last_status: int | None = None, last_error: str | None = None) -> bool:
    params = {"id": delivery["id"], "worker_id": worker_id, "attempt": delivery["attempts"], "outcome": outcome,
              "delay_seconds": finite_delay(delay_seconds), "last_status": last_status,
              "last_error": None if last_error is None else last_error[:500]}
    return conn.execute(_sql("finish_delivery"), params).fetchone() is not None


def for_token(conn: psycopg.Connection, token: str) -> list[dict]:
    return conn.execute(_sql("deliveries_for_token"), {"token": token}).fetchall()
