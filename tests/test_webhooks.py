"""Webhooks: a signed POST (Standard Webhooks, checked with the ``standardwebhooks`` package)
shaped like the status response when a video is done or has failed for good; delivered from
an outbox written with the final move, retried with backoff, through the SSRF guard, and
never in the pipeline's way."""
from __future__ import annotations

import base64
import json
import socket
import threading

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from doubles.dns import Flipping, Unanswered, pretend_public, public_localhost
from doubles.receiver import Receiver
from server import create_app
from workers.pipeline.storage import LocalStorage
from workers.pipeline.table import STEPS
from workers.pipeline.webhooks import store
from workers.pipeline.webhooks.dispatcher import Dispatcher
from workers.queue.worker import Worker
from workers.settings import Settings, SettingsError

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


def test_a_video_takes_at_most_five_subscriptions(api, database_url, hooks, db):
    # At the cap and one past it; an existing subscription's callback is no new one.
    hook = "http://localhost/hook{}"
    accepted = [api.post("/public/video", json={"url": "http://localhost/popular.mp4", "callback_url": hook.format(n)})
                for n in range(5)]
    assert [r.status_code for r in accepted] == [202] * 5
    ids = [r.get_json()["webhook"] for r in accepted]
    assert len(set(ids)) == 5 and len({r.get_json()["token"] for r in accepted}) == 1
    sixth = api.post("/public/video", json={"url": "http://localhost/popular.mp4", "callback_url": hook.format(5)})
    assert_error(sixth, 409, "too_many_webhooks")
    again = api.post("/public/video", json={"url": "http://localhost/popular.mp4", "callback_url": hook.format(2)})
    assert again.status_code == 202 and again.get_json()["webhook"] == ids[2]
    assert db.execute("SELECT count(*) AS n FROM webhook_subscriptions").fetchone()["n"] == 5


def test_the_cap_holds_when_subscribers_race(database_url, db, hooks, tmp_path):
    app = create_app({"settings": hooks.replace(webhook_max_per_video=3), "database_url": database_url,
                      "resolver": public_localhost, "address_policy": pretend_public,
                      "storage": LocalStorage(tmp_path / "storage")})
    token = app.test_client().post("/public/video", json={"url": "http://localhost/race.mp4"}).get_json()["token"]
    codes, start = [], threading.Barrier(8)

    def subscribe(n):
        client = app.test_client()
        start.wait()
        codes.append(client.post("/public/video", json={"url": "http://localhost/race.mp4",
                                                        "callback_url": f"http://localhost/racer{n}"}).status_code)

    threads = [threading.Thread(target=subscribe, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        app.extensions["clipqueue"].pool.close()
    assert sorted(codes) == [202] * 3 + [409] * 5
    assert db.execute("SELECT count(*) AS n FROM webhook_subscriptions s JOIN video_jobs j ON j.id = s.job_id "
                      "WHERE j.token = %s", (token,)).fetchone()["n"] == 3


def test_a_caller_sees_only_its_own_webhook_never_another_subscribers_host(api, receiver, database_url, settings,
                                                                          hooks, tmp_path, db):
    mine = submit(api, receiver, url="http://localhost/shared.mp4")
    theirs = api.post("/public/video", json={"url": "http://localhost/shared.mp4",
                                             "callback_url": f"http://public.test:{receiver.port}/theirs"}).get_json()
    other_video = submit(api, receiver, url="http://localhost/other.mp4")
    assert mine["token"] == theirs["token"] and mine["webhook"] != theirs["webhook"]
    assert f"webhook={mine['webhook']}" in mine["status_url"]
    assert own(api, mine) == []  # subscribed; no event yet
    process(database_url, settings)
    delivered(database_url, hooks, tmp_path, receiver, count=3)
    wait_for(lambda: all(own(api, sub) and own(api, sub)[0]["state"] == "delivered" for sub in (mine, theirs)),
             timeout=10, message="the deliveries to be recorded")
    [seen] = own(api, mine)
    assert seen["host"] == "localhost" and "public.test" not in json.dumps(api.get(mine["status_url"]).get_json())
    [seen] = own(api, theirs)
    assert seen["host"] == "public.test"
    # The token alone shows no one's webhooks.
    assert "webhooks" not in api.get(f"/public/video/status?token={mine['token']}").get_json()
    # Another video's webhook id, or a made-up one, is no subscription of this video; a malformed one is a 400.
    wrong = api.get(f"/public/video/status?token={mine['token']}&webhook={other_video['webhook']}")
    assert_error(wrong, 404, "unknown_webhook")
    assert_error(api.get(f"/public/video/status?token={mine['token']}&webhook=wh_{'0' * 32}"), 404, "unknown_webhook")
    assert_error(api.get(f"/public/video/status?token={mine['token']}&webhook=nope"), 400, "invalid_webhook")


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


KEY_24 = base64.b64encode(bytes(range(24))).decode()   # 32 characters, no padding
KEY_25 = base64.b64encode(bytes(range(25))).decode()   # 36 characters, "==" at the end


@pytest.mark.parametrize("secret", [SECRET, f"whsec_{KEY_24}", f"whsec_{KEY_25}"])
def test_a_webhook_secret_in_standard_form_is_accepted(secret):
    assert Settings.from_env({"CLIPQUEUE_WEBHOOK_SECRET": secret}).webhook_secret == secret


@pytest.mark.parametrize("secret", [
    SECRET + "!!", SECRET + "~", SECRET[:-4] + "!" + SECRET[-3:],  # junk after it, or inside it
    SECRET + "==", f"whsec_{KEY_25}=",  # padding that is not base64's
    f"whsec_{KEY_25.rstrip('=')}",  # its padding left off
    f"whsec_{KEY_25[:-3]}B==",  # bits past the last byte: no encoder writes that
    f"whsec_{KEY_24} {KEY_24}", f"whsec_{KEY_24}\n{KEY_24}",
    "whsec_" + base64.b64encode(bytes(23)).decode(),  # 23 bytes: one short
    base64.b64encode(bytes(32)).decode(), "whsec_", "WHSEC_" + KEY_24,
])
@pytest.mark.parametrize("name", ["CLIPQUEUE_WEBHOOK_SECRET", "CLIPQUEUE_WEBHOOK_SECRET_PREVIOUS"])
def test_a_webhook_secret_is_parsed_strictly(secret, name):
    env = {"CLIPQUEUE_WEBHOOK_SECRET": SECRET, name: secret}
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


def test_during_a_rotation_both_secrets_sign_every_delivery(api, receiver, database_url, settings, hooks,
                                                            tmp_path, db):
    new = "whsec_" + base64.b64encode(b"the-new-clipqueue-webhook-secret").decode()
    submit(api, receiver)
    process(database_url, settings)
    rotating = hooks.replace(webhook_secret=new, webhook_secret_previous=SECRET)
    [request] = delivered(database_url, rotating, tmp_path, receiver)
    signatures = request["headers"]["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    # A receiver that knows either secret verifies it (the standardwebhooks package, as receivers use it).
    assert Webhook(new).verify(request["body"], request["headers"])["type"] == "video.done"
    assert Webhook(SECRET).verify(request["body"], request["headers"])["type"] == "video.done"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"a-third-secret-nobody-configured").decode()).verify(
            request["body"], request["headers"])


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
