"""The webhook dispatcher: a thread that delivers due events from the outbox.

It claims a batch of due deliveries (``FOR UPDATE SKIP LOCKED``, under a lease, so several
worker processes share the work and a dead one's claims come back), builds each event from
the job's status (the same shape as the status response), signs it, POSTs it through the
SSRF guard and records the outcome, fenced by its lease:

* 2xx: delivered;
* 410 Gone, or an address the guard refuses: failed, at once;
* anything else (another status, a refused or dropped connection, a time-out): tried again
  after an exponential, jittered backoff, until CLIPQUEUE_WEBHOOK_MAX_ATTEMPTS are spent.

It runs beside the pipeline, never in it: a slow receiver costs the dispatcher only.
"""
from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from datetime import date, datetime

import psycopg

from workers.pipeline.fetcher.guard import Guard, UrlRejected, is_public_address, system_resolver
from workers.pipeline.status import describe
from workers.pipeline.webhooks import sender, signing, store
from workers.queue import jobs
from workers.queue.db import Backoff, connect
from workers.queue.retry import RetryPolicy

log = logging.getLogger(__name__)

BATCH = 20


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Dispatcher:
    def __init__(self, database_url: str, settings, services: dict, *, name: str, poll_interval: float = 1.0,
                 clock=time.time):
        self.database_url = database_url
        self.settings = settings
        self.storage = services["storage"]
        self.guard = Guard(allow_private=settings.allow_private_urls,
                           resolver=services.get("resolver") or system_resolver,
                           allowed=services.get("address_policy") or is_public_address)
        self.name = f"{name}/webhooks"
        self.poll_interval = poll_interval
        self.clock = clock
        self.policy = RetryPolicy(base=settings.webhook_retry_base_s, cap=3600.0)
        self.stopping = threading.Event()
        self.delivered = 0
        self._thread: threading.Thread | None = None

    def start(self) -> "Dispatcher":
        self._thread = threading.Thread(target=self.run, name="webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        reconnect = Backoff(0.5, 10.0)
        while not self.stopping.is_set():
            try:
                with connect(self.database_url, application_name="clipqueue-webhooks") as conn:
                    while not self.stopping.is_set():
                        batch = store.claim(conn, worker_id=self.name, limit=BATCH,
                                            lease_seconds=self.settings.webhook_timeout_s * 3 + 30)
                        for delivery in batch:
                            self.deliver(conn, delivery)
                        reconnect.reset()
                        if len(batch) < BATCH:
                            self.stopping.wait(self.poll_interval)
            except psycopg.OperationalError as exc:
                log.warning("webhooks: %s; reconnecting", str(exc).strip())
                self.stopping.wait(reconnect.next())

    def deliver(self, conn: psycopg.Connection, delivery: dict) -> str:
        """One attempt; returns its outcome (delivered, retry, failed)."""
        job = jobs.job_status(conn, delivery["token"])
        base = (self.settings.public_url or "").rstrip("/")
        event = {"type": delivery["event_type"], "timestamp": datetime.fromtimestamp(self.clock()).astimezone(),
                 "data": describe(job, self.storage, lambda token, name: f"{base}/public/video/{token}/files/{name}",
                                  settings=self.settings)}
        body = json.dumps(event, default=_json_default).encode()
        headers = signing.headers(self.settings.webhook_secret, delivery["message_id"], int(self.clock()), body)
        status, error = None, None
        try:
            status = sender.post(delivery["callback_url"], body, headers, guard=self.guard,
                                 timeout=self.settings.webhook_timeout_s)
        except UrlRejected as exc:
            return self._finish(conn, delivery, "failed", error=f"{exc.code}: {exc.message}")
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if status is not None and 200 <= status < 300:
            self.delivered += 1
            return self._finish(conn, delivery, "delivered", status=status)
        if status == 410:
            return self._finish(conn, delivery, "failed", status=status, error="the receiver answered 410 Gone")
        if delivery["attempts"] >= self.settings.webhook_max_attempts:
            return self._finish(conn, delivery, "failed", status=status,
                                error=error or f"HTTP {status}; {delivery['attempts']} attempts spent")
        delay = self.policy.backoff(delivery["attempts"] - 1)
        return self._finish(conn, delivery, "retry", status=status, error=error or f"HTTP {status}", delay=delay)

    def _finish(self, conn, delivery: dict, outcome: str, *, status: int | None = None, error: str | None = None,
                delay: float = 0.0) -> str:
        log.log(logging.INFO if outcome == "delivered" else logging.WARNING, "webhook %s (%s, attempt %s): %s%s",
                delivery["message_id"], delivery["event_type"], delivery["attempts"], outcome,
                f" ({error})" if error else "")
        if not store.finish(conn, delivery, worker_id=self.name, outcome=outcome, delay_seconds=delay,
                            last_status=status, last_error=error):
            log.warning("webhook %s: lease lost; another dispatcher has it", delivery["message_id"])
        return outcome
