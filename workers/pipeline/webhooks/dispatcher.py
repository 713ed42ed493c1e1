"""The webhook dispatcher: delivers due events from the outbox, beside the pipeline.

One thread claims due deliveries (``store.claim``: under a lease, ``FOR UPDATE SKIP LOCKED``,
at most one per receiver and none to a receiver with an attempt in flight anywhere in the
fleet), builds each event from the job's status (the same shape as the status response) and
signs it; CLIPQUEUE_WEBHOOK_CONCURRENCY sending threads POST them through the guarded
connection factory (``sender``), each attempt under one total deadline
(CLIPQUEUE_WEBHOOK_TIMEOUT_S), and the claiming thread records each outcome, fenced by its
lease, which outlives the deadline:

* 2xx: delivered;
* 410 Gone, or an address the guard refuses: failed, at once;
* anything else (another status, a refused or dropped connection, the deadline, a name that
  does not resolve or whose DNS does not answer within CLIPQUEUE_DNS_TIMEOUT_S): tried again
  after an exponential, jittered backoff, until CLIPQUEUE_WEBHOOK_MAX_ATTEMPTS are spent.

So a slow or trickling receiver holds one sending thread for at most the deadline per
attempt, and never more than one: the other receivers' deliveries go on beside it. All SQL
runs on the claiming thread; the sending threads only talk HTTP.
"""
from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

import psycopg

from workers.pipeline.fetcher.guard import guard_for
from workers.pipeline.status import describe
from workers.pipeline.webhooks import sender, signing, store
from workers.queue import jobs
from workers.queue.db import Backoff, connect
from workers.queue.retry import RetryPolicy

log = logging.getLogger(__name__)

TRANSIENT_REFUSALS = ("unresolvable_host", "dns_timeout")
LEASE_MARGIN_S = 30.0  # a lease outlives the attempt's deadline by this much (time to record the outcome)


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
        self.guard = guard_for(settings, services)
        self.name = f"{name}/webhooks"
        self.poll_interval = poll_interval
        self.clock = clock
        self.policy = RetryPolicy(base=settings.webhook_retry_base_s, cap=3600.0)
        self.concurrency = settings.webhook_concurrency
        # An attempt ends by its deadline (a DNS lookup then in progress by the DNS bound).
        self.lease_seconds = settings.webhook_timeout_s + settings.dns_timeout_s + LEASE_MARGIN_S
        self.stopping = threading.Event()
        self.delivered = 0
        self._thread: threading.Thread | None = None
        self._senders = ThreadPoolExecutor(self.concurrency, thread_name_prefix="webhook-send")
        self._ended: queue.Queue = queue.Queue()  # (delivery, outcome) from the sending threads
        self._unrecorded: list[tuple[dict, dict]] = []
        self._in_flight = 0

    def start(self) -> "Dispatcher":
        self._thread = threading.Thread(target=self.run, name="webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming; attempts in flight end by their deadline and are recorded."""
        self.stopping.set()
        self._ended.put(None)  # wake the claiming thread
        if self._thread is not None:
            self._thread.join(self.lease_seconds if timeout is None else timeout)
        self._senders.shutdown(wait=False)

    def run(self) -> None:
        reconnect = Backoff(0.5, 10.0)
        while True:
            try:
                with connect(self.database_url, application_name="clipqueue-webhooks") as conn:
                    while not self.stopping.is_set():
                        free = self.concurrency - self._in_flight
                        batch = store.claim(conn, worker_id=self.name, limit=free,
                                            lease_seconds=self.lease_seconds) if free > 0 else []
                        for delivery in batch:
                            self._start(conn, delivery)
                        reconnect.reset()
                        self._record(conn, wait=self.poll_interval)
                    while self._in_flight or self._unrecorded:  # stopping: let the attempts in flight end
                        self._record(conn, wait=self.poll_interval)
                    return
            except psycopg.OperationalError as exc:
                log.warning("webhooks: %s; reconnecting", str(exc).strip())
                if self.stopping.wait(reconnect.next()) and not self._in_flight:
                    return

    def deliver(self, conn: psycopg.Connection, delivery: dict) -> str:
        """One attempt, start to end, on the calling thread; returns its outcome."""
        body, headers = self._event(conn, delivery)
        return self._finish(conn, delivery, **self._attempt(delivery, body, headers))

    def _start(self, conn, delivery: dict) -> None:
        body, headers = self._event(conn, delivery)
        self._in_flight += 1
        self._senders.submit(self._send, delivery, body, headers)

    def _send(self, delivery: dict, body: bytes, headers: dict) -> None:
        try:
            outcome = self._attempt(delivery, body, headers)
        except Exception as exc:  # noqa: BLE001 - a sending thread must always report back
            log.exception("webhook %s: unexpected error", delivery["message_id"])
            outcome = self._retry(delivery, None, f"{type(exc).__name__}: {exc}")
        self._ended.put((delivery, outcome))

    def _record(self, conn, *, wait: float) -> None:
        """Record the attempts that ended (waiting up to ``wait`` for the first)."""
        try:
            item = self._ended.get(timeout=wait)
            while True:
                if item is not None:
                    self._in_flight -= 1
                    self._unrecorded.append(item)
                item = self._ended.get_nowait()
        except queue.Empty:
            pass
        while self._unrecorded:  # kept until written: a lost connection records them after reconnecting
            delivery, outcome = self._unrecorded[0]
            self._finish(conn, delivery, **outcome)
            self._unrecorded.pop(0)

    def _event(self, conn, delivery: dict) -> tuple[bytes, dict]:
        job = jobs.job_status(conn, delivery["token"])
        base = (self.settings.public_url or "").rstrip("/")
        event = {"type": delivery["event_type"], "timestamp": datetime.fromtimestamp(self.clock()).astimezone(),
                 "data": describe(job, self.storage, lambda token, name: f"{base}/public/video/{token}/files/{name}",
                                  settings=self.settings)}
        body = json.dumps(event, default=_json_default).encode()
        return body, signing.headers(signing.secrets_of(self.settings), delivery["message_id"], int(self.clock()),
                                     body)

    def _attempt(self, delivery: dict, body: bytes, headers: dict) -> dict:
        """POST once; the outcome to record (no SQL: this runs on a sending thread)."""
        status, error = None, None
        try:
            status = sender.post(delivery["callback_url"], body, headers, guard=self.guard,
                                 timeout=self.settings.webhook_timeout_s)
        except sender.UrlRejected as exc:
            if exc.code in TRANSIENT_REFUSALS:  # the receiver's DNS is down or slow: it may come back
                return self._retry(delivery, None, f"{exc.code}: {exc.message}")
            return {"outcome": "failed", "error": f"{exc.code}: {exc.message}"}
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if status is not None and 200 <= status < 300:
            return {"outcome": "delivered", "status": status}
        if status == 410:
            return {"outcome": "failed", "status": status, "error": "the receiver answered 410 Gone"}
        return self._retry(delivery, status, error or f"HTTP {status}")

    def _retry(self, delivery: dict, status: int | None, error: str) -> dict:
        if delivery["attempts"] >= self.settings.webhook_max_attempts:
            return {"outcome": "failed", "status": status, "error": f"{error}; {delivery['attempts']} attempts spent"}
        return {"outcome": "retry", "status": status, "error": error,
                "delay": self.policy.backoff(delivery["attempts"] - 1)}

    def _finish(self, conn, delivery: dict, outcome: str, *, status: int | None = None, error: str | None = None,
                delay: float = 0.0) -> str:
        log.log(logging.INFO if outcome == "delivered" else logging.WARNING, "webhook %s (%s, attempt %s): %s%s",
                delivery["message_id"], delivery["event_type"], delivery["attempts"], outcome,
                f" ({error})" if error else "")
        if not store.finish(conn, delivery, worker_id=self.name, outcome=outcome, delay_seconds=delay,
                            last_status=status, last_error=error):
            log.warning("webhook %s: lease lost; the outcome is dropped", delivery["message_id"])
        elif outcome == "delivered":
            self.delivered += 1
        return outcome
