"""The API stays responsive when what it waits on does not: a DNS server that never answers
holds no submit for long, and steps run on the internal route never take the threads or the
connections that public reads need."""
from __future__ import annotations

import threading

import pytest

from server import create_app
from workers.queue import jobs as queue

from doubles.dns import fake_resolver
from .support.steps import TABLE
from .test_api import INTERNAL_TOKEN, assert_error, auth


class BlackHole:
    """A resolver that never answers (until the test ends)."""

    def __init__(self):
        self.release, self.calls = threading.Event(), 0

    def __call__(self, host, port):
        self.calls += 1
        self.release.wait(120)
        raise OSError("no answer")


@pytest.fixture
def make_app(database_url, db, settings):
    apps = []

    def make(**config):
        overrides = config.pop("settings", {})
        app = create_app({"settings": settings.replace(allow_private_urls=False, internal_api_token=INTERNAL_TOKEN,
                                                       **overrides),
                          "database_url": database_url, "resolver": fake_resolver, "step_table": TABLE, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["clipqueue"].pool.close()


def test_a_submit_never_waits_on_a_dns_server_that_does_not_answer(make_app):
    hole = BlackHole()
    try:
        client = make_app(resolver=hole, settings={"dns_timeout_s": 0.3}).test_client()
        answers = []
        submit = threading.Thread(target=lambda: answers.append(
            client.post("/public/video", json={"url": "https://slow.example/v.mp4"})), daemon=True)
        submit.start()
        submit.join(30)  # without the bound, this submit would wait as long as the DNS does
        assert answers and answers[0].status_code == 202, "the submit waited on the DNS"
        # the name is checked again, authoritatively, when a worker connects (test_download_guard)
        again = client.post("/public/video", json={"url": "https://slow.example/other.mp4"})
        assert again.status_code == 202 and hole.calls == 1  # the time-out is cached for a while
        # other names while the DNS holds its lookup: one outstanding per process, the rest
        # are accepted at once
        for n in range(4):
            assert client.post("/public/video", json={"url": f"https://n{n}.slow.example/v.mp4"}).status_code == 202
        assert hole.calls == 1
    finally:
        hole.release.set()


def test_names_that_resolve_inward_are_still_refused_at_submit(make_app):
    client = make_app(settings={"dns_timeout_s": 0.3}).test_client()
    assert_error(client.post("/public/video", json={"url": "http://internal.corp/v.mp4"}), 400, "forbidden_host")
    assert_error(client.post("/public/video", json={"url": "http://no-such-name.invalid/v.mp4"}), 400,
                 "unresolvable_host")


def test_the_internal_route_runs_a_bounded_number_of_steps_and_never_starves_reads(make_app, db, tmp_path):
    app = make_app(settings={"internal_concurrency": 1, "db_pool_size": 1})
    client = app.test_client()
    started, go = tmp_path / "started", tmp_path / "go"
    token = queue.enqueue(db, source_url="http://example.com/a.mp4", normalized_url="http://example.com/a.mp4",
                          options={"script": {"download": {"marker": str(started), "wait_for_file": str(go)}}}).token
    other = queue.enqueue(db, source_url="http://example.com/b.mp4", normalized_url="http://example.com/b.mp4",
                          options={}).token
    answers = []
    busy = threading.Thread(target=lambda: answers.append(
        client.post("/internal/perform-video-processing", headers=auth())), daemon=True)
    busy.start()
    try:
        from .conftest import wait_for

        wait_for(started.exists, message="the step to start on the internal route")
        refused = client.post("/internal/perform-video-processing", headers=auth())
        assert_error(refused, 429, "too_many_steps")
        assert refused.headers["Retry-After"] == "5"
        assert queue.job_by_token(db, other)["status"] == "queued"  # nothing was claimed for it
        # public reads are served while the step runs: it holds no pooled connection (a pool of 1)
        for _ in range(5):
            assert client.get(f"/public/video/status?token={token}").status_code == 200
    finally:
        go.touch()
        busy.join(30)
    assert answers and answers[0].status_code == 200 and answers[0].get_json()["step"] == "download"
    after = client.post("/internal/perform-video-processing", headers=auth())
    assert after.status_code == 200  # the slot was given back
