"""Per-app state: settings, the connection pool, and the lazily built step executor."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from flask import current_app
from psycopg_pool import ConnectionPool


@dataclass
class AppState:
    settings: Any
    database_url: str
    pool: ConnectionPool
    resolver: Callable
    address_policy: Callable
    step_table: Mapping | None
    services: Mapping[str, Any]
    storage: Any = None
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # injected by tests
    _executor: Any = None
    _ask_llm: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _internal_slots: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self) -> None:
        self._internal_slots = threading.BoundedSemaphore(self.settings.internal_concurrency)

    def internal_slot(self) -> bool:
        """Take one of the CLIPQUEUE_INTERNAL_CONCURRENCY slots of the internal route, without
        waiting; False when all are busy (the caller answers 429). Release with
        ``release_internal_slot``. Public requests never need one, so they are never starved."""
        return self._internal_slots.acquire(blocking=False)

    def release_internal_slot(self) -> None:
        self._internal_slots.release()

    def executor(self):
        """The executor for the internal route, with its heartbeat thread, built on first
        use so that an API without INTERNAL_API_TOKEN starts no threads."""
        with self._lock:
            if self._executor is None:
                from workers.queue.executor import Executor
                from workers.queue.heartbeat import Heartbeat
                from workers.queue.retry import RetryPolicy
                from workers.pipeline.services import build_services
                from workers.pipeline.table import default_step_table

                s = self.settings
                self._executor = Executor(
                    self.step_table or default_step_table(),
                    heartbeat=Heartbeat(self.database_url, s.lease_seconds).start(),
                    policy=RetryPolicy(base=s.retry_base_seconds, cap=s.retry_max_seconds),
                    settings=s,
                    services=self.services or build_services(s),
                )
            return self._executor


    def ask_llm(self):
        """The LLM that answers questions (bounded by CLIPQUEUE_ASK_TIMEOUT_S), built on first use."""
        with self._lock:
            if self._ask_llm is None:
                from workers.pipeline.services import build_ask_llm

                self._ask_llm = self.services.get("ask_llm") or build_ask_llm(self.settings)
            return self._ask_llm


def state() -> AppState:
    return current_app.extensions["clipqueue"]
