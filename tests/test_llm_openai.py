"""The openai backend through the real SDK against an OpenAI-compatible server on 127.0.0.1."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from workers.queue import jobs as queue
from workers.queue.errors import PermanentError, TransientError
from workers.pipeline.llm.openai_compat import ATTEMPTS, OpenAILLM
from workers.queue.retry import RetryPolicy
from workers.queue.worker import Worker
from workers.pipeline.table import STEPS, default_step_table
from workers.pipeline.storage import LocalStorage

from doubles.fake_openai import FakeOpenAI

SEGMENTS = [{"id": i, "start": i * 5.0, "end": i * 5.0 + 4.5, "text": f"Sentence number {i} about class struggle.",
             "words": [{"word": "w", "start": i * 5.0, "end": i * 5.0 + 4.5}]} for i in range(20)]


@pytest.fixture
def fake():
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def llm(fake):
    sleeps = []
    model = OpenAILLM(api_key="sk-test", base_url=fake.base_url, model="gpt-4o", timeout=2, sleep=sleeps.append)
    model.sleeps = sleeps
    return model


def test_structured_replies_come_back_parsed_with_raw_and_usage(fake, llm):
    kind = llm.content_type(SEGMENTS)
    assert kind["result"] == {"content_type": "lecture", "confidence": 0.8, "language": "en"}
    clips = llm.find_clips(SEGMENTS, content_type="lecture", min_s=15, max_s=30, count=3)
    assert clips["result"]["clips"][0]["start_segment"] == 0 and clips["result"]["clips"][0]["end_segment"] == 3
    assert json.loads(clips["raw"][0])["clips"][0]["title"] == "Moment 1"  # the raw reply, kept verbatim
    assert clips["usage"] == {"prompt_tokens": 1000, "completion_tokens": 100, "cost_usd": 0.0035}
    request = fake.requests[1]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "gpt-4o"
    fmt = request["body"]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert "[7] (4.5 s) Sentence number 7" in request["body"]["messages"][-1]["content"]


def test_a_429_is_retried_after_its_retry_after(fake, llm):
    fake.script = [("status", 429, {"Retry-After": "2"})]
    assert llm.content_type(SEGMENTS)["result"]["content_type"] == "lecture"
    assert len(fake.requests) == 2 and llm.sleeps == [2.0]


def test_5xx_and_garbled_output_are_retried_in_call(fake, llm):
    fake.script = [("status", 500), ("text", '{"content_type": "lec'), ("text", "Sure! Here is the JSON:")]
    assert llm.content_type(SEGMENTS)["result"]["content_type"] == "lecture"
    assert len(fake.requests) == 4 and llm.sleeps == sorted(llm.sleeps)


def test_output_that_stays_garbled_fails_clearly(fake, llm):
    fake.script = [("text", "{{{ not json")] * ATTEMPTS
    with pytest.raises(PermanentError) as err:
        llm.content_type(SEGMENTS)
    assert err.value.cause == "llm_bad_output" and "not valid" in err.value.message
    assert len(fake.requests) == ATTEMPTS and err.value.details["raw"][-1] == "{{{ not json"


def test_citations_of_segments_that_do_not_exist_are_not_accepted(fake, llm):
    fake.script = [("json", {"clips": [{"start_segment": 500, "end_segment": 501, "title": "x", "hook": "x",
                                        "reason": "x", "score": 1}]})]
    clips = llm.find_clips(SEGMENTS, content_type="lecture", min_s=15, max_s=30, count=3)
    assert len(fake.requests) == 2 and clips["result"]["clips"][0]["start_segment"] == 0


def test_a_long_outage_raises_a_transient_error_for_the_job(fake, llm):
    fake.script = [("status", 503)] * ATTEMPTS
    with pytest.raises(TransientError) as err:
        llm.content_type(SEGMENTS)
    assert err.value.cause == "llm_unavailable" and len(fake.requests) == ATTEMPTS


def test_an_outage_longer_than_in_call_retries_reschedules_the_job_without_redoing_earlier_steps(
        database_url, db, settings, fake, llm, media, tmp_path):
    source = media / "jfk.flac"
    token = queue.enqueue(db, source_url=source.as_uri(), normalized_url=source.as_uri(), max_retries=5,
                          options={"local_file": str(source), "clip_min_seconds": 5, "clip_max_seconds": 12}).token
    fake.script = [("status", 500)] * (2 * ATTEMPTS)  # two job attempts of content_type fail
    services = {"storage": LocalStorage(tmp_path / "storage"), "llm": llm}
    worker = Worker(database_url, default_step_table(), steps=STEPS, burst=True, services=services,
                    settings=settings.replace(data_dir=tmp_path), policy=RetryPolicy(base=0.05, cap=0.2))
    worker.run()
    job = queue.job_by_token(db, token)
    assert job["status"] == "done", job
    events = db.execute("SELECT kind::text AS kind, step::text AS step, error FROM queue_events ORDER BY id").fetchall()
    retries = [e for e in events if e["kind"] == "retry_scheduled"]
    assert [(e["step"], e["error"]) for e in retries] == [("content_type", "llm_unavailable")] * 2
    succeeded = [e["step"] for e in events if e["kind"] == "succeeded"]
    assert succeeded == list(STEPS)  # each step finished once: download and transcript not redone
    outputs = queue.checkpoints_for_video(db, job["video_id"])
    assert outputs["content_type"]["output"]["backend"] == "openai"
    assert outputs["clip_lookup"]["output"]["usage"]["prompt_tokens"] == 1000


def test_quoted_first_and_last_words_place_the_clip_even_when_the_ids_are_off(fake, llm):
    from workers.pipeline.clips.choosing import Band, resolve
    from workers.pipeline.clips.sentences import split

    manifesto = json.loads((Path(__file__).parent / "data" / "content_types.json").read_text())["manifesto.mp4"]
    units = split(manifesto["segments"])
    texts = [u["text"] for u in units]
    start = texts.index("A specter is haunting Europe.")
    end = next(n for n, t in enumerate(texts) if t.startswith("Pope and Tsar"))
    # The model is one sentence off on both ids (a common slip) but copies the words right,
    # with its own capitals and punctuation.
    fake.script = [("json", {"clips": [{
        "start_segment": units[start + 1]["id"], "end_segment": units[end - 1]["id"],
        "first_words": "a specter is haunting europe", "last_words": "French radicals and German police spies",
        "title": "A specter haunts Europe", "hook": "A specter is haunting Europe.",
        "reason": "the famous opening", "score": 0.9}]})]
    reply = llm.find_clips(units, content_type="audiobook", min_s=5, max_s=30, count=1)
    request = fake.requests[-1]["body"]
    schema = request["response_format"]["json_schema"]["schema"]["properties"]["clips"]["items"]
    assert {"first_words", "last_words"} <= set(schema["required"])
    assert "exactly as they appear" in request["messages"][0]["content"]
    [clip] = resolve(reply["result"]["clips"], units, Band(5, 30), 88.0, 1)
    assert clip["text"].startswith("A specter is haunting Europe.") and clip["text"].endswith("German police spies.")
    assert clip["anchors"] == {"start": "quote", "end": "quote"}
    assert clip["start"] <= units[start]["words"][0]["start"] and clip["title"] == "A specter haunts Europe"


def test_a_reply_without_quotes_falls_back_to_the_cited_ids(fake, llm):
    from workers.pipeline.clips.choosing import Band, resolve

    fake.script = [("json", {"clips": [{"start_segment": 2, "end_segment": 5, "title": "t", "hook": "h",
                                        "reason": "r", "score": 0.5}]})]
    reply = llm.find_clips(SEGMENTS, content_type="lecture", min_s=15, max_s=30, count=1)
    [clip] = resolve(reply["result"]["clips"], SEGMENTS, Band(15, 30), 100.0, 1)
    assert clip["start_segment"] == 2 and clip["end_segment"] == 5 and clip["anchors"] == {"start": "id", "end": "id"}


def test_an_open_model_behind_openai_base_url_is_configured_by_the_environment_alone(fake):
    from workers.pipeline.services import build_llm
    from workers.settings import Settings

    settings = Settings.from_env({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "unused",
                                  "CLIPQUEUE_LLM_MODEL": "Qwen/Qwen2.5-7B-Instruct",
                                  "CLIPQUEUE_LLM_PRICE_INPUT": "0", "CLIPQUEUE_LLM_PRICE_OUTPUT": "0"})
    llm = build_llm(settings)
    assert llm.name == "openai" and "model(s)" in llm.ping()
    answer = llm.find_clips(SEGMENTS, content_type="lecture", min_s=15, max_s=30, count=2)
    assert fake.requests[-1]["body"]["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert answer["usage"]["cost_usd"] == 0 and answer["usage"]["prompt_tokens"] > 0
    assert all(c["first_words"] and c["last_words"] for c in answer["result"]["clips"])
