"""Shared by the benchmark's task functions: note the time a task started (for latency)."""
import os
import time


def mark() -> None:
    path = os.environ.get("BENCH_MARK_FILE")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{time.time():.6f}\n".encode())
        finally:
            os.close(fd)
