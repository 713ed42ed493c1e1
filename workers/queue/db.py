"""Connections: the configured Postgres, or the embedded one (``embedded``) when none is set;
and the one way the engine retries a database that does not answer (``Backoff``,
``retrying``).

``resolve_database_url`` is the only place that decides which server ClipQueue talks to.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

import psycopg
from psycopg.rows import dict_row

from workers.settings import Settings

T = TypeVar("T")


def resolve_database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from workers.queue.embedded import embedded_database_url

    return embedded_database_url(settings.data_dir)


def connect(url: str, *, application_name: str = "clipqueue") -> psycopg.Connection:
    """An autocommit connection with dict rows: every statement is its own transaction
    unless the caller opens ``conn.transaction()`` (claim, commit, then work)."""
    return psycopg.connect(
        url,
        autocommit=True,
        row_factory=dict_row,
        application_name=application_name,
        connect_timeout=10,
    )


class Backoff:
    """Exponential waits between reconnection attempts: ``first``, doubling, at most ``cap``."""

    def __init__(self, first: float = 0.2, cap: float = 10.0):
        self.first, self.cap = first, cap
        self.current = first

    def next(self) -> float:
        """The wait before the next attempt; the one after it doubles."""
        delay = self.current
        self.current = min(self.current * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.current = self.first


def retrying(operation: Callable[[], T], *, within_s: float, backoff: Backoff | None = None,
             on_retry: Callable[[Exception, float], None] | None = None,
             sleep=time.sleep, clock=time.monotonic) -> T:
    """Run ``operation``; while it raises ``psycopg.OperationalError`` (Postgres restarting,
    unreachable), run it again after a backoff, until ``within_s`` seconds have passed; then
    the last error is raised. ``on_retry(error, delay)`` runs before each wait. The
    operation opens its own connection: a broken one is never reused."""
    backoff = backoff or Backoff()
    deadline = clock() + within_s
    while True:
        try:
            return operation()
        except psycopg.OperationalError as exc:
            delay = backoff.next()
            if clock() + delay > deadline:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            sleep(delay)
