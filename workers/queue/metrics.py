"""The engine's Prometheus metrics: what the runtime of this process did.

Counters and a histogram per process, labelled with step names (data, as everywhere in the
engine). With ``PROMETHEUS_MULTIPROC_DIR`` set before the process starts, prometheus_client
keeps them in files in that folder, and whoever serves ``/metrics`` on the machine (the API)
adds up every process that writes there: gunicorn's workers and ``python -m workers run``
processes alike. Fleet-wide state (jobs by status, leases, queue age) is read from the
database at scrape time instead (``server/metrics.py``).
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

STEP_RUNS = Counter("clipqueue_steps", "Step runs by step and result (succeeded, skipped, retry_scheduled, "
                    "failed, cancelled, lease_lost)", ["step", "result"])
STEP_SECONDS = Histogram("clipqueue_step_duration_seconds", "How long step runs took, whatever their result",
                         ["step"], buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400))
RETRIES = Counter("clipqueue_retries", "Retries scheduled, by step and failure cause", ["step", "cause"])
RESCUES = Counter("clipqueue_rescues", "Claims of a row whose lease had expired (its worker died or stalled)",
                  ["step"])
DROPPED = Counter("clipqueue_results_dropped", "Step results dropped because the lease was lost", ["step"])


def claimed(step: str, rescued: bool) -> None:
    if rescued:
        RESCUES.labels(step).inc()


def finished(outcome) -> None:
    """Count a ``completer.Outcome``."""
    STEP_RUNS.labels(outcome.step, outcome.result).inc()
    STEP_SECONDS.labels(outcome.step).observe(max(0.0, outcome.duration_s))
    if outcome.result == "retry_scheduled":
        RETRIES.labels(outcome.step, outcome.cause or "unknown").inc()
    elif outcome.result == "lease_lost":
        DROPPED.labels(outcome.step).inc()
