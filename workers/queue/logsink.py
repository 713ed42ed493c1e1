"""Logging that never blocks the thread that logs.

A worker logs while it holds leases; if its log sink stops taking lines (a stderr pipe nobody
reads, a full disk, a stalled terminal), a plain ``StreamHandler`` blocks that thread inside
``write`` until its lease expires and another worker redoes the step. So records go into a
bounded in-memory queue (``Buffered``, ``LINES`` records) and one thread writes them out. When
the queue is full, a record is dropped and counted (``Buffered.dropped``), never waited for;
once the sink takes lines again the writer says how many were lost, in one line.
"""
from __future__ import annotations

import logging
import logging.handlers
import queue
import threading

LINES = 10_000  # records held while the sink is slow; beyond, records are dropped and counted
_writers: list["Writer"] = []


class Buffered(logging.handlers.QueueHandler):
    """The handler the loggers see: puts records on a bounded queue, without waiting."""

    def __init__(self, lines: int = LINES):
        super().__init__(queue.Queue(maxsize=lines))
        self.dropped = 0
        self._count = threading.Lock()

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            with self._count:
                self.dropped += 1


class Writer(logging.handlers.QueueListener):
    """The one thread that writes the queued records to the real handlers, and reports the
    records dropped since it last wrote."""

    def __init__(self, buffered: Buffered, *handlers: logging.Handler):
        super().__init__(buffered.queue, *handlers, respect_handler_level=True)
        self.buffered = buffered
        self.reported = 0

    def handle(self, record: logging.LogRecord) -> None:
        dropped = self.buffered.dropped
        if dropped > self.reported:
            note = logging.LogRecord("workers.queue.logsink", logging.WARNING, __file__, 0,
                                     "%s log records dropped: the log sink was not taking them", (dropped - self.reported,),
                                     None)
            self.reported = dropped
            super().handle(note)
        super().handle(record)

    def stop(self, timeout: float = 2.0) -> None:
        """Write what is queued (for at most ``timeout`` s: a sink that is stuck for good
        must not hold the process at exit)."""
        if self._thread is None:
            return
        try:
            self.queue.put_nowait(self._sentinel)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._thread = None


def install(root: logging.Logger, handlers: list[logging.Handler], lines: int = LINES) -> Writer:
    """Route ``root``'s records to ``handlers`` through a ``Buffered`` queue; returns the
    started ``Writer`` (stop it at exit to flush)."""
    buffered = Buffered(lines)
    writer = Writer(buffered, *handlers)
    writer._thread = threading.Thread(target=writer._monitor, name="log-writer", daemon=True)
    writer._thread.start()
    root.addHandler(buffered)
    _writers.append(writer)
    return writer


def stop_all() -> None:
    """Write what is queued, for every installed writer (a process leaving with ``os._exit``)."""
    for writer in _writers:
        writer.stop()
