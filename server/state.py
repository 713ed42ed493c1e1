"""Per-app state: settings, the connection pool, the lazily built step executor, and the
slots that bound the questions in flight."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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
    asks: "AskSlots" = field(init=False)

    def __post_init__(self) -> None:
        self._internal_slots = threading.BoundedSemaphore(self.settings.internal_concurrency)
        self.asks = AskSlots(self.settings.ask_concurrency)

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
                from workers.pipeline.services import build_hooks, build_services
                from workers.pipeline.table import default_step_table

                s = self.settings
                services = self.services or build_services(s)
                self._executor = Executor(
                    self.step_table or default_step_table(),
                    heartbeat=Heartbeat(self.database_url, s.lease_seconds).start(),
                    policy=RetryPolicy(base=s.retry_base_seconds, cap=s.retry_max_seconds),
                    settings=s,
                    services=services,
                    hooks=build_hooks(s, services.get("storage") or self.storage),
                )
            return self._executor


    def ask_llm(self):
        """The LLM that answers questions (bounded by CLIPQUEUE_ASK_TIMEOUT_S), built on first use."""
        with self._lock:
            if self._ask_llm is None:
                from workers.pipeline.services import build_ask_llm

                self._ask_llm = self.services.get("ask_llm") or build_ask_llm(self.settings)
            return self._ask_llm


class AsksBusy(Exception):
    """Every question slot of this API process is taken."""


class AskSlots:
    """At most ``size`` questions in flight per API process (CLIPQUEUE_ASK_CONCURRENCY), each
    answered within its deadline, so questions never take every request thread.

    ``with slots.slot() as run:`` takes a slot without waiting (``AsksBusy`` when none is
    free); ``run(work, seconds)`` runs ``work`` on the slots' own threads and returns its
    result, or raises ``TimeoutError`` after ``seconds``: the request thread is free then, and
    the slot comes back when ``work`` itself ends (its model call is bounded too)."""

    def __init__(self, size: int):
        self._free = threading.BoundedSemaphore(size)
        self._threads = ThreadPoolExecutor(size, thread_name_prefix="ask")

    @contextmanager
    def slot(self):
        if not self._free.acquire(blocking=False):
            raise AsksBusy()
        handed_over = []

        def run(work, seconds: float):
            future = self._threads.submit(work)
            handed_over.append(future)
            future.add_done_callback(lambda _: self._free.release())
            return future.result(timeout=max(0.0, seconds))

        try:
            yield run
        finally:
            if not handed_over:
                self._free.release()

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


def state() -> AppState:
    return current_app.extensions["clipqueue"]
