"""Questions about a video (POST /public/video/ask): passages retrieved from the index,
answered extractively by the local backend, or by a scripted OpenAI-compatible server whose
citations are checked against the passages; bounded by a per-token rate and the model's
time."""
from __future__ import annotations

import re

from server import create_app

from doubles.fake_openai import FakeOpenAI

from .test_api import assert_error
from .test_search import client, search_app, storage, transcribed  # noqa: F401 - fixtures


def test_the_local_backend_answers_by_quoting_the_passages_with_their_times(db, storage, client):
    token = transcribed(db, storage, "interview_radio.opus")
    reply = client.post("/public/video/ask", json={"token": token, "question": "Where are the radios made?"})
    body = reply.get_json()
    assert reply.status_code == 200 and body["mode"] == "extractive" and body["backend"] == "local"
    assert any("shoe factory in Leeds" in c["text"] for c in body["citations"]), body
    assert all(c["start"] < c["end"] for c in body["citations"]) and re.search(r"\(0:5\d\)", body["answer"])


def test_an_llm_answer_keeps_only_citations_that_are_in_the_passages(db, storage, database_url, settings):
    from workers.pipeline.services import build_ask_llm

    token = transcribed(db, storage, "interview_radio.opus")
    fake = FakeOpenAI().start()
    try:
        llm = build_ask_llm(settings.replace(openai_api_key="sk-test", openai_base_url=fake.base_url))
        app = create_app({"settings": settings, "database_url": database_url, "storage": storage,
                          "services": {"ask_llm": llm}})
        client = app.test_client()
        question = {"token": token, "question": "Where are the radios made?"}
        fake.script = [("json", {"answer": "In Leeds.", "citations": [
            {"passage": "P1", "quote": "made in an old shoe factory in Leeds"}, {"passage": "P9", "quote": "made up"}]})]
        body = client.post("/public/video/ask", json=question).get_json()
        prompt = fake.requests[-1]["body"]["messages"][-1]["content"]
        assert body["mode"] == "generative" and body["answer"] == "In Leeds." and len(body["citations"]) == 1
        assert "shoe factory in Leeds" in body["citations"][0]["text"] and "[P1]" in prompt
        # a quote that is not in its passage is no citation: the passages are quoted instead
        fake.script = [("json", {"answer": "In Taiwan.", "citations": [{"passage": "P1", "quote": "made in Taiwan by robots"}]})]
        body = client.post("/public/video/ask", json=question).get_json()
        assert body["mode"] == "extractive" and "cited nothing" in body["note"] and "Taiwan." not in body["answer"]
        # the default scripted model cites its first passage with a true quote
        assert client.post("/public/video/ask", json=question).get_json()["mode"] == "generative"
        # an outage is a clear 503 with Retry-After, not a hang
        fake.script = [("status", 503), ("status", 503)]
        response = client.post("/public/video/ask", json=question)
        assert_error(response, 503, "llm_unavailable")
        assert int(response.headers["Retry-After"]) > 0
        # output that stays invalid is a 502 that says so
        fake.script = [("text", "Sure! The answer is Japan."), ("text", "{}")]
        assert_error(client.post("/public/video/ask", json=question), 502, "llm_bad_output")
        app.extensions["clipqueue"].pool.close()
    finally:
        fake.stop()


def test_questions_are_rate_limited_per_token(db, storage, database_url, settings):
    from datetime import datetime, timedelta, timezone

    now = [datetime(2026, 11, 22, 12, 0, 15, tzinfo=timezone.utc)]
    app = create_app({"settings": settings.replace(ask_per_minute=3), "database_url": database_url,
                      "storage": storage, "clock": lambda: now[0]})
    client = app.test_client()
    token, other = transcribed(db, storage, "jfk.flac"), transcribed(db, storage, "manifesto.mp4")
    ask = {"token": token, "question": "what can I do?"}
    try:
        for _ in range(3):
            assert client.post("/public/video/ask", json=ask).status_code == 200
        response = client.post("/public/video/ask", json=ask)
        assert_error(response, 429, "too_many_questions")
        assert response.headers["Retry-After"] == "45"  # the 45 s left in that minute
        # another video's token has its own count; the next minute starts afresh
        assert client.post("/public/video/ask", json={"token": other, "question": "who?"}).status_code == 200
        now[0] += timedelta(seconds=45)
        assert client.post("/public/video/ask", json=ask).status_code == 200
    finally:
        app.extensions["clipqueue"].pool.close()
