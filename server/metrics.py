"""``GET /metrics``: Prometheus text format.

Two sources, so the figures are right however many processes there are:

* the fleet's state, read from the database at scrape time (any API process answers the
  same): jobs by status and step, the oldest queued job's age per step, jobs waiting out a
  retry backoff, running and expired leases;
* what processes did (step runs, durations, retries, rescues, dropped results, LLM tokens
  and cost, download bytes): counters of this process, or, with ``PROMETHEUS_MULTIPROC_DIR``
  set, of every process on this machine that writes there (gunicorn's workers and worker
  processes started with the same variable).
"""
from __future__ import annotations

import os

from flask import Blueprint, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from workers.queue import jobs as queue

from .state import state

blueprint = Blueprint("metrics", __name__)


class QueueCollector:
    """Gauges read from the database when scraped (``queue_overview``: one statement)."""

    def __init__(self, pool):
        self.pool = pool

    def collect(self):
        with self.pool.connection() as conn:
            rows = queue.queue_overview(conn)
        jobs = GaugeMetricFamily("clipqueue_jobs", "Jobs in the live queue table by status and step "
                                 "(finished jobs leave it for the archive after CLIPQUEUE_RETENTION_DAYS)",
                                 labels=["status", "step"])
        oldest = GaugeMetricFamily("clipqueue_oldest_queued_seconds", "Age of the oldest queued job, by step",
                                   labels=["step"])
        backoff = GaugeMetricFamily("clipqueue_jobs_waiting_backoff", "Queued jobs waiting out a retry delay",
                                    labels=["step"])
        leases = GaugeMetricFamily("clipqueue_leases", "Running jobs' leases: live, or expired (awaiting rescue)",
                                   labels=["state"])
        running = expired = 0
        for row in rows:
            jobs.add_metric([row["status"], row["step"]], row["jobs"])
            if row["status"] == "queued":
                oldest.add_metric([row["step"]], float(row["oldest_queued_s"] or 0.0))
                backoff.add_metric([row["step"]], row["waiting_backoff"] or 0)
            if row["status"] == "running":
                expired += row["expired_leases"] or 0
                running += row["jobs"] - (row["expired_leases"] or 0)
        leases.add_metric(["live"], running)
        leases.add_metric(["expired"], expired)
        return [jobs, oldest, backoff, leases]


@blueprint.get("/metrics")
def metrics():
    process_registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        process_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
    fleet = CollectorRegistry(auto_describe=False)
    fleet.register(QueueCollector(state().pool))
    body = generate_latest(fleet) + generate_latest(process_registry)
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Cache-Control": "no-store"})
