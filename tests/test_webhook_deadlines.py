"""Adversarial webhook receivers, on loopback (issue 19, section 1): a receiver that trickles
its answer a byte at a time is cut at the attempt's total deadline (a per-read time-out never
fires for it), the delivery's lease outlives that deadline, and one such receiver never holds
more than one dispatcher thread, fleet-wide, while the other receivers are served beside it."""
from __future__ import annotations

import threading
from collections import Counter

import pytest

from doubles.receiver import Receiver
from workers.pipeline.webhooks import dispatcher as dispatching

from .conftest import wait_for
from .test_webhooks import api, dispatcher, hooks, process, submit  # noqa: F401 - fixtures


@pytest.fixture
def trickler():
    server = Receiver().start()
    server.trickle = 0.5  # its 38-byte answer would take 19 s; a byte every 0.5 s beats any per-read time-out
    yield server
    server.stop()


@pytest.fixture
def prompt():
    server = Receiver().start()
    yield server
    server.stop()


def test_a_trickling_receiver_is_cut_at_the_attempts_total_deadline(api, trickler, database_url, settings, hooks,
                                                                     tmp_path, db):
    hooks = hooks.replace(webhook_timeout_s=1.5)
    token = submit(api, trickler)["token"]
    process(database_url, settings)
    sender = dispatcher(database_url, hooks, tmp_path).start()
    try:
        lease = wait_for(lambda: db.execute(
            "SELECT extract(epoch FROM lease_expires_at - now()) AS left FROM webhook_deliveries "
            "WHERE locked_by IS NOT NULL").fetchone(), timeout=10, message="the attempt to start")
        [first] = trickler.wait_ended(1, timeout=10)
        row = wait_for(lambda: db.execute("SELECT * FROM webhook_deliveries WHERE last_error IS NOT NULL").fetchone(),
                       timeout=10, message="the attempt's outcome")
    finally:
        sender.stop()
    # The receiver had sent at most a few bytes of its answer when the dispatcher hung up.
    assert first["ended"] - first["t"] < 1.5 + 1.0, first["ended"] - first["t"]
    assert row["state"] == "pending" and row["attempts"] == 1 and "no answer within 1.5 s" in row["last_error"]
    # The lease outlives the deadline (and a DNS lookup's bound): no second dispatcher takes
    # the delivery while the first is still on it.
    assert float(lease["left"]) > hooks.webhook_timeout_s + hooks.dns_timeout_s
    status = api.get(f"/public/video/status?token={token}").get_json()
    assert status["status"] == "done"


def test_one_trickling_receiver_holds_one_dispatcher_thread_and_the_others_are_served(
        api, trickler, prompt, database_url, settings, hooks, tmp_path, db, monkeypatch):
    # Count the attempts in flight per receiver, across both dispatchers of this "fleet".
    in_flight, most, lock = Counter(), Counter(), threading.Lock()
    real_post = dispatching.sender.post

    def counting_post(url, *args, **kwargs):
        with lock:
            in_flight[url] += 1
            most[url] = max(most[url], in_flight[url])
        try:
            return real_post(url, *args, **kwargs)
        finally:
            with lock:
                in_flight[url] -= 1

    monkeypatch.setattr(dispatching.sender, "post", counting_post)
    hooks = hooks.replace(webhook_timeout_s=1.0, webhook_concurrency=3)
    for n in range(3):
        submit(api, trickler, url=f"http://localhost/slow{n}.mp4")
    submit(api, prompt, url="http://localhost/fast.mp4")
    process(database_url, settings)
    fleet = [dispatcher(database_url, hooks, tmp_path, name=f"worker-{n}").start() for n in range(2)]
    try:
        prompt.wait_for(1, timeout=8)  # served while the trickler is being tried
        trickler.wait_ended(5, timeout=30)  # three deliveries and their retries, one after another
    finally:
        for one in fleet:
            one.stop()
    assert most[trickler.url()] == 1, most
    assert all(r["ended"] - r["t"] < 1.0 + 1.0 for r in trickler.requests[:5])
