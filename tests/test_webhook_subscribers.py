"""Webhook subscriptions: at most CLIPQUEUE_WEBHOOK_MAX_PER_VIDEO per video, even when
subscribers race, and each caller sees its own subscription's deliveries only (by the id
its submission returned), never another subscriber's host (issue 19, section 3)."""
from __future__ import annotations

import json
import threading

from doubles.dns import pretend_public, public_localhost
from server import create_app
from workers.pipeline.storage import LocalStorage

from .conftest import wait_for
from .test_api import assert_error
from .test_webhooks import api, delivered, hooks, own, process, receiver, submit  # noqa: F401 - fixtures


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
