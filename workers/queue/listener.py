"""The listener: one LISTEN connection per worker process.

``NOTIFY clipqueue_jobs, '<step>'`` (a row became due for a step) wakes the idle slots when
the step is one of theirs; ``NOTIFY clipqueue_cancel, '<job id>'`` stops that job's step at
once if this process runs it. The poll interval stays the fallback and the truth: a lost
notification costs at most one poll. After a reconnect the slots are woken once, for
anything enqueued while nobody listened.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Collection

import psycopg

from workers.queue.db import connect
from workers.queue.jobs import CANCEL_CHANNEL, NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class Listener:
    def __init__(self, database_url: str, *, steps: Collection[str], wake: Callable[[], None],
                 cancel: Callable[[int], bool], stopping: threading.Event, retry_s: float = 1.0):
        self.database_url = database_url
        self.steps = frozenset(steps)
        self.wake, self.cancel = wake, cancel
        self.stopping = stopping
        self.retry_s = retry_s
        self._thread: threading.Thread | None = None

    def start(self) -> "Listener":
        self._thread = threading.Thread(target=self.run, name="listener", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with connect(self.database_url, application_name="clipqueue-listener") as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    conn.execute(f"LISTEN {CANCEL_CHANNEL}")
                    self.wake()  # anything enqueued while we were not listening
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._handle(note.channel, note.payload)
            except psycopg.OperationalError as exc:
                log.warning("listener: %s; reconnecting", exc)
                self.stopping.wait(self.retry_s)

    def _handle(self, channel: str, payload: str) -> None:
        if channel == CANCEL_CHANNEL:
            if payload.isdigit() and self.cancel(int(payload)):
                log.info("job %s: cancellation announced; stopping its step", payload)
        elif payload in self.steps:
            self.wake()
