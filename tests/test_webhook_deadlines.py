"""Adversarial webhook receivers, on loopback (issue 19, sections 1, 3 and 5): a receiver that
trickles its answer a byte at a time is cut at the attempt's total deadline (a per-read
time-out never fires for it), the delivery's lease outlives that deadline, and one such
receiver never holds more than one dispatcher thread, fleet-wide, while the other receivers
are served beside it; a receiver whose DNS fails or does not answer at delivery time is
retried (the lookup bounded); a dispatcher whose lease passed cannot record its outcome."""
from __future__ import annotations

import socket
import threading
from collections import Counter

import pytest

from doubles.dns import Unanswered, public_localhost
from doubles.receiver import Receiver
from workers.pipeline.webhooks import dispatcher as dispatching, store

from .conftest import wait_for
from .test_webhooks import api, dispatcher, hooks, own, process, receiver, submit  # noqa: F401 - fixtures


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


class NoSuchNameOnce:
    """The receiver's name does not resolve at the first delivery (NXDOMAIN, a DNS outage),
    then resolves again."""

    def __init__(self):
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        if self.calls == 1:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return public_localhost(host, port)


@pytest.mark.parametrize("dns", ["black hole", "no such name once"])
def test_a_receiver_whose_dns_fails_at_delivery_is_retried(api, receiver, database_url, settings, hooks, tmp_path,
                                                           db, dns):
    accepted = submit(api, receiver)
    process(database_url, settings)
    resolver = Unanswered() if dns == "black hole" else NoSuchNameOnce()
    # The worker's lookups are bounded like the API's: a black hole costs an attempt 0.3 s.
    sender = dispatcher(database_url, hooks.replace(dns_timeout_s=0.3), tmp_path, resolver=resolver).start()
    try:
        first = wait_for(lambda: db.execute("SELECT * FROM webhook_deliveries WHERE last_error IS NOT NULL")
                         .fetchone(), timeout=10, message="the first attempt's outcome")
        if dns == "black hole":
            resolver.answer()
        wait_for(lambda: own(api, accepted)[0]["state"] == "delivered", timeout=10, message="a later attempt")
    finally:
        sender.stop()
        if dns == "black hole":
            resolver.answer()
    cause = "dns_timeout" if dns == "black hole" else "unresolvable_host"
    assert first["state"] == "pending" and first["last_error"].startswith(cause), first
    assert own(api, accepted)[0]["attempts"] >= 2 and len(receiver.requests) == 1


def test_a_dispatcher_whose_lease_passed_cannot_record_its_outcome(api, receiver, database_url, settings, hooks,
                                                                   tmp_path, db):
    accepted = submit(api, receiver)
    process(database_url, settings)
    late = dispatcher(database_url, hooks, tmp_path, name="late")
    [delivery] = store.claim(db, worker_id=late.name, limit=1, lease_seconds=0.2)
    wait_for(lambda: db.execute("SELECT lease_expires_at < now() AS passed FROM webhook_deliveries").fetchone()["passed"],
             timeout=5, message="the lease to pass")
    assert late.deliver(db, delivery) == "delivered" and len(receiver.requests) == 1  # it POSTed, too late
    row = db.execute("SELECT * FROM webhook_deliveries").fetchone()
    assert (row["state"], row["last_status"], row["delivered_at"], row["locked_by"]) == ("pending", None, None, late.name)
    assert late.delivered == 0
    # The delivery is due again and claimed again (by the same dispatcher, as it happens):
    # the first attempt's outcome still cannot be written, nor another dispatcher's.
    [again] = store.claim(db, worker_id=late.name, limit=1, lease_seconds=30)
    assert again["id"] == delivery["id"] and again["attempts"] == 2
    assert not store.finish(db, delivery, worker_id=late.name, outcome="failed", last_error="the stale attempt")
    assert not store.finish(db, again, worker_id="other/webhooks", outcome="failed", last_error="not its lease")
    assert late.deliver(db, again) == "delivered"
    [seen] = own(api, accepted)
    assert seen["state"] == "delivered" and seen["attempts"] == 2 and len(receiver.requests) == 2
