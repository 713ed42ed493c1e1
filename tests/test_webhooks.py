"""Webhooks: a signed POST (Standard Webhooks, checked with the ``standardwebhooks`` package)
shaped like the status response when a video is done or has failed for good; delivered from
an outbox written with the final move, retried with backoff, through the SSRF guard, and
never in the pipeline's way."""
from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook

from doubles.dns import Flipping, pretend_public, public_localhost
from doubles.receiver import Receiver
from server import create_app
from workers.pipeline.storage import LocalStorage
from workers.pipeline.table import STEPS
from workers.pipeline.webhooks.dispatcher import Dispatcher
from workers.queue.worker import Worker

from .conftest import wait_for
from .support.contract import assert_body_conforms
from .support.steps import TABLE
from .test_api import assert_error

SECRET = "whsec_Y2xpcHF1ZXVlLXRlc3Qtd2ViaG9vay1zZWNyZXQtMzJi"


@pytest.fixture
def hooks(settings):
    return settings.replace(allow_private_urls=False, webhook_secret=SECRET, webhook_retry_base_s=0.05,
                            webhook_timeout_s=2.0)


@pytest.fixture
def api(database_url, db, hooks, tmp_path):
    app = create_app({"settings": hooks, "database_url": database_url, "resolver": public_localhost,
                      "address_policy": pretend_public, "storage": LocalStorage(tmp_path / "storage")})
    yield app.test_client()
    app.extensions["clipqueue"].pool.close()


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def dispatcher(database_url, hooks, tmp_path, resolver=public_localhost, name="test"):
    services = {"storage": LocalStorage(tmp_path / "storage"), "resolver": resolver, "address_policy": pretend_public}
    return Dispatcher(database_url, hooks, services, name=name, poll_interval=0.05)


def process(database_url, settings):
    Worker(database_url, TABLE, steps=STEPS, settings=settings, burst=True).run()


def delivered(database_url, hooks, tmp_path, receiver, count: int = 1) -> list[dict]:
    """Run a dispatcher until ``count`` webhook requests arrived; those requests."""
    sender = dispatcher(database_url, hooks, tmp_path).start()
    try:
        return receiver.wait_for(count)
    finally:
        sender.stop()


def submit(api, receiver, url="http://localhost/talk.mp4", **extra) -> dict:
    """The 202's body: the token, the subscription's ``webhook`` id, and a ``status_url`` that names both."""
    response = api.post("/public/video", json={"url": url, "callback_url": receiver.url(), **extra})
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def own(api, accepted: dict) -> list[dict]:
    """The deliveries the subscriber sees of its own webhook (by its status_url)."""
    return api.get(accepted["status_url"]).get_json()["webhooks"]


def test_a_done_video_is_announced_with_a_signed_event_shaped_like_its_status(api, receiver, database_url,
                                                                              settings, hooks, tmp_path, db):
    accepted = submit(api, receiver)
    token = accepted["token"]
    process(database_url, settings)
    [request] = delivered(database_url, hooks, tmp_path, receiver)
    event = Webhook(SECRET).verify(request["body"], request["headers"])  # raises on a bad signature
    assert event["type"] == "video.done" and event["data"]["token"] == token
    assert_body_conforms("/public/video/status", "get", 200, event["data"])
    assert "webhooks" not in event["data"]
    status = api.get(accepted["status_url"]).get_json()
    assert event["data"]["result"] == status["result"] and event["data"]["status"] == "done"
    [delivery] = status["webhooks"]
    assert delivery["event"] == "video.done" and delivery["state"] == "delivered" and delivery["attempts"] == 1
    assert delivery["last_status"] == 200 and delivery["host"] == "localhost" and "hook" not in json.dumps(delivery)
    assert_body_conforms("/public/video/status", "get", 200, status)
    with pytest.raises(Exception):
        Webhook(SECRET.replace("Y2x", "Z2x")).verify(request["body"], request["headers"])


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(api, receiver, database_url, settings,
                                                                     hooks, tmp_path, db):
    receiver.script = [500, 503, 429]
    accepted = submit(api, receiver)
    process(database_url, settings)
    sender = dispatcher(database_url, hooks, tmp_path).start()
    try:
        requests = receiver.wait_for(4)
        wait_for(lambda: own(api, accepted)[0]["state"] == "delivered", timeout=10,
                 message="the delivery to be recorded")
    finally:
        sender.stop()
    assert [r["status"] for r in requests] == [500, 503, 429, 200]
    ids = {r["headers"]["webhook-id"] for r in requests}
    assert len(ids) == 1  # one event, one id: receivers can deduplicate
    gaps = [b["t"] - a["t"] for a, b in zip(requests, requests[1:])]
    # equal-jitter backoff from 0.05 s: each wait is at least half of 0.05 x 2^n
    assert all(gap >= 0.05 * 2 ** n / 2 for n, gap in enumerate(gaps)), gaps
    assert own(api, accepted)[0]["attempts"] == 4


def test_a_receiver_that_never_answers_2xx_fails_after_the_last_attempt(api, receiver, database_url, settings,
                                                                        hooks, tmp_path, db):
    receiver.script = [500] * 10
    accepted = submit(api, receiver)
    process(database_url, settings)
    sender = dispatcher(database_url, hooks.replace(webhook_max_attempts=3), tmp_path).start()
    try:
        wait_for(lambda: own(api, accepted)[0]["state"] == "failed", timeout=15, message="the delivery to fail")
    finally:
        sender.stop()
    [delivery] = own(api, accepted)
    assert delivery["attempts"] == 3 and delivery["last_status"] == 500 and len(receiver.requests) == 3


def test_410_gone_stops_the_deliveries_at_once(api, receiver, database_url, settings, hooks, tmp_path, db):
    receiver.script = [410]
    accepted = submit(api, receiver)
    process(database_url, settings)
    sender = dispatcher(database_url, hooks, tmp_path).start()
    try:
        wait_for(lambda: own(api, accepted)[0]["state"] == "failed", timeout=10, message="the delivery to stop")
    finally:
        sender.stop()
    assert len(receiver.requests) == 1


def test_a_failed_video_is_announced_too(api, receiver, database_url, settings, hooks, tmp_path, db):
    token = submit(api, receiver)["token"]
    db.execute("UPDATE video_processing_queue SET options = options || %s::jsonb WHERE token = %s",
               (json.dumps({"script": {"transcript": {"fail": "permanent"}}}), token))
    process(database_url, settings)
    [request] = delivered(database_url, hooks, tmp_path, receiver)
    event = Webhook(SECRET).verify(request["body"], request["headers"])
    assert event["type"] == "video.failed" and event["data"]["failure"]["cause"] == "test_permanent"


def test_a_subscriber_after_the_end_is_told_at_once(api, receiver, database_url, settings, hooks, tmp_path, db):
    first = api.post("/public/video", json={"url": "http://localhost/late.mp4"}).get_json()["token"]
    process(database_url, settings)
    again = submit(api, receiver, url="http://localhost/late.mp4")  # the same URL: the finished job's token
    assert again["token"] == first
    [request] = delivered(database_url, hooks, tmp_path, receiver)
    assert json.loads(request["body"])["type"] == "video.done"


def test_a_callback_to_a_private_address_is_refused_before_any_connection(api, receiver, database_url, settings,
                                                                          hooks, tmp_path, db):
    # internal.corp resolves to 10.0.0.5 in the test resolver: refused at submit, nothing connects
    refused = api.post("/public/video", json={"url": "http://localhost/a.mp4",
                                              "callback_url": "http://internal.corp/hook"})
    assert_error(refused, 400, "callback_forbidden_host")
    # DNS rebinding: a name that was public at submit time and points at 127.0.0.1 when
    # delivering, where a canary listens: the delivery's one lookup is checked, and refused.
    flipping = FlipOnly()
    canary = Receiver(host="127.0.0.1").start()
    app = create_app({"settings": hooks, "database_url": database_url, "resolver": flipping,
                      "address_policy": pretend_public, "storage": LocalStorage(tmp_path / "storage")})
    try:
        client = app.test_client()
        response = client.post("/public/video", json={"url": "http://localhost/b.mp4",
                                                      "callback_url": f"http://flip.test:{canary.port}/hook"})
        assert response.status_code == 202, response.get_json()
        accepted = response.get_json()
    finally:
        app.extensions["clipqueue"].pool.close()
    process(database_url, settings)
    sender = dispatcher(database_url, hooks, tmp_path, resolver=flipping).start()
    try:
        wait_for(lambda: own(api, accepted)[0]["state"] == "failed", timeout=10, message="the delivery to be refused")
    finally:
        sender.stop()
        canary.stop()
    row = db.execute("SELECT last_error FROM webhook_deliveries").fetchone()
    assert row["last_error"].startswith("forbidden_host") and receiver.requests == [] and canary.requests == []
    assert flipping.flip.calls == 2  # one lookup at submit, one at delivery: the connection used the checked one


class FlipOnly:
    """flip.test answers the public alias once (the submit-time check), then 127.0.0.1 (a
    private address) when the dispatcher connects; other names as ``public_localhost``."""

    def __init__(self):
        self.flip = Flipping()

    def __call__(self, host: str, port: int) -> list[str]:
        return self.flip(host, port) if host == "flip.test" else public_localhost(host, port)


def test_callbacks_need_a_webhook_secret(database_url, db, settings):
    app = create_app({"settings": settings.replace(allow_private_urls=False), "database_url": database_url,
                      "resolver": public_localhost, "address_policy": pretend_public})
    try:
        response = app.test_client().post("/public/video", json={"url": "http://localhost/x.mp4",
                                                                 "callback_url": "http://localhost/hook"})
        assert_error(response, 400, "webhooks_disabled")
    finally:
        app.extensions["clipqueue"].pool.close()


def test_a_slow_receiver_never_holds_up_the_pipeline(api, receiver, database_url, settings, hooks, tmp_path, db):
    receiver.hang = 1.5
    submit(api, receiver)
    process(database_url, settings)
    sender = dispatcher(database_url, hooks, tmp_path).start()
    try:
        wait_for(lambda: db.execute("SELECT count(*) AS n FROM webhook_deliveries WHERE locked_by IS NOT NULL")
                 .fetchone()["n"] == 1, timeout=10, message="the delivery to start")
        others = [api.post("/public/video", json={"url": f"http://localhost/more{i}.mp4"}).get_json()["token"]
                  for i in range(3)]
        process(database_url, settings)  # while the receiver is still thinking
        assert receiver.requests == []
        assert all(api.get(f"/public/video/status?token={t}").get_json()["status"] == "done" for t in others)
        receiver.wait_for(1)
    finally:
        sender.stop()
