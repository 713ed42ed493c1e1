"""Logging never blocks a thread that logs (a worker holding a lease): with the sink stuck,
records beyond the buffer are dropped and counted, and the count is said once the sink
takes lines again."""
from __future__ import annotations

import logging
import threading

from workers.queue import logsink


class Stuck(logging.Handler):
    """A sink that takes nothing until released (a stderr pipe nobody reads)."""

    def __init__(self):
        super().__init__()
        self.unblock, self.entered = threading.Event(), threading.Event()
        self.lines: list[str] = []

    def emit(self, record):
        self.entered.set()
        self.unblock.wait(60)
        self.lines.append(record.getMessage())


def test_a_stuck_sink_drops_and_counts_instead_of_blocking_the_logger():
    logger = logging.getLogger("test.logsink")
    logger.propagate, logger.level = False, logging.INFO
    sink = Stuck()
    writer = logsink.install(logger, [sink], lines=100)
    try:
        logger.info("first")  # the writer takes it and blocks in the sink
        assert sink.entered.wait(10)
        done = threading.Event()

        def flood():
            for n in range(1000):
                logger.info("line %s", n)
            done.set()
        threading.Thread(target=flood, daemon=True).start()
        assert done.wait(30), "a logging call blocked on the stuck sink"
        buffered = next(h for h in logger.handlers if isinstance(h, logsink.Buffered))
        assert buffered.dropped == 1000 - 100  # the buffer holds 100; the rest dropped, counted
        sink.unblock.set()
        from .conftest import wait_for

        wait_for(lambda: buffered.queue.empty() and len(sink.lines) == 102, message="the writer to catch up")
        logger.info("after")
        writer.stop(timeout=10)
        notes = [line for line in sink.lines if "dropped" in line]
        assert notes == ["900 log records dropped: the log sink was not taking them"]
        assert [line for line in sink.lines if "dropped" not in line] == \
            ["first"] + [f"line {n}" for n in range(100)] + ["after"]
    finally:
        sink.unblock.set()
        writer.stop()
        logger.handlers.clear()
