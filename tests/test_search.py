"""Search across transcripts and questions about a video: indexing when the transcript
checkpoint is written, re-indexing, hybrid ranking on the shared media, who may see what,
the ask route (local backend and a scripted OpenAI-compatible server) and bad input.

The vector half needs pgvector: the embedded Postgres has it (the CI's second pass); on a
server without it the search is full text alone, and those tests say why they skip."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from server import create_app
from workers.pipeline.llm.local import LocalLLM
from workers.pipeline.search import index, store
from workers.pipeline.services import build_hooks
from workers.pipeline.storage import LocalStorage, video_key
from workers.pipeline.table import STEPS, default_step_table
from workers.queue import jobs as queue
from workers.queue.retry import RetryPolicy
from workers.queue.worker import Worker

from .test_api import INTERNAL_TOKEN, assert_error, auth

FIXTURE = json.loads((Path(__file__).parent / "data" / "content_types.json").read_text())
REFERENCE_WORDS = "manifesto.words.json"  # the shared media's own word timings (not ours)


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def search_app(database_url, db, settings, storage):
    app = create_app({"settings": settings.replace(internal_api_token=INTERNAL_TOKEN, ask_per_minute=3),
                      "database_url": database_url, "storage": storage,
                      "services": {"ask_llm": LocalLLM()}})
    yield app
    app.extensions["clipqueue"].pool.close()


@pytest.fixture
def client(search_app):
    return search_app.test_client()


def transcribed(db, storage, name: str, *, content_type: str | None = None, url: str | None = None) -> str:
    """A video whose transcript checkpoint holds the fixture's Whisper transcript of ``name``,
    indexed as the worker's hook does it; its token."""
    url = url or f"http://127.0.0.1/{name}"
    job = queue.enqueue(db, source_url=url, normalized_url=url)
    row = db.execute("SELECT id, video_id FROM video_processing_queue WHERE token = %s", (job.token,)).fetchone()
    video_id = row["video_id"]
    transcript = {"language": "en", "duration": 0, "segments": FIXTURE[name]["segments"]}
    key = video_key(video_id, "transcript", "transcript.json")
    storage.put_bytes(key, json.dumps(transcript).encode())
    checkpoints = {"transcript": {"key": key}}
    if content_type:
        checkpoints["content_type"] = {"content_type": content_type}
    for step, output in checkpoints.items():
        db.execute("INSERT INTO step_checkpoints (video_id, step, job_id, output, attempt, worker_id, started_at) "
                   "VALUES (%s, %s, %s, %s, 1, 'test', now())", (video_id, step, row["id"], json.dumps(output)))

    class Video:
        id = video_id
    index.on_checkpoint(storage)(db, Video, "transcript", {"key": key})
    return job.token


def needs_vectors(db):
    if not store.has_vectors(db):
        pytest.skip("this Postgres has no pgvector: the meaning half of search runs on the embedded server")


# ---------------------------------------------------------------- indexing
def test_the_worker_indexes_a_transcript_when_its_checkpoint_is_written(database_url, db, settings, media, tmp_path):
    storage = LocalStorage(tmp_path / "storage")
    tokens = {}
    for name in ("autoeditor_example.mp4", "manifesto.mp4"):
        source = media / name
        tokens[name] = queue.enqueue(db, source_url=source.as_uri(), normalized_url=source.as_uri(),
                                     options={"local_file": str(source)}).token
    # Only download and transcript run: the index is written by the transcript's checkpoint.
    Worker(database_url, default_step_table(), steps=STEPS[:2], burst=True, settings=settings.replace(data_dir=tmp_path),
           services={"storage": storage, "llm": LocalLLM()}, hooks=build_hooks(settings, storage),
           policy=RetryPolicy(base=0.05)).run()
    counts = {r["video_id"]: r["count"] for r in db.execute(
        "SELECT video_id, count(*) FROM transcript_segments GROUP BY video_id").fetchall()}
    assert len(counts) == 2 and all(n >= 2 for n in counts.values())
    app = create_app({"settings": settings, "database_url": database_url, "storage": storage})
    try:
        client = app.test_client()
        # "When the time reaches forty seconds, I will say banana." -- "[~40.0 s] Banana." (autoeditor_example.txt)
        moments = client.get(f"/public/video/search?token={tokens['autoeditor_example.mp4']}&q=banana").get_json()["moments"]
        assert any(abs(m["start"] - 40.0) <= 1.5 for m in moments), moments
        # "holy alliance", at the time the shared media's own word timings give it
        reference = json.loads((media / REFERENCE_WORDS).read_text())
        words = [w for line in reference for w in line["words"]]
        said = next(w["start"] for w in words if w["word"].lower() == "alliance")  # 27.4 s
        found = client.get(f"/public/video/search?token={tokens['manifesto.mp4']}&q=holy+alliance").get_json()
        best = found["moments"][0]
        assert best["start"] - 1.5 <= said <= best["end"] + 1.5, (said, best)
        marked = [best["text"][a:b].lower() for a, b in best["highlights"]]
        assert "holy" in marked and "alliance" in marked
        assert best["play"]["kind"] == "source" and best["play"]["url"].endswith(f"#t={best['start']:g}")
    finally:
        app.extensions["clipqueue"].pool.close()


def test_reindex_rebuilds_the_index_and_maintenance_catches_up_what_was_missed(db, storage):
    token = transcribed(db, storage, "manifesto.mp4")
    other = transcribed(db, storage, "jfk.flac")
    before = db.execute("SELECT video_id, seq, text FROM transcript_segments ORDER BY 1, 2").fetchall()
    db.execute("DELETE FROM transcript_segments WHERE video_id = (SELECT video_id FROM video_processing_queue "
               "WHERE token = %s)", (other,))
    db.execute("UPDATE transcript_segments SET text = 'stale' WHERE seq = 0")
    assert index.catch_up(db, storage) == 1  # only the video with nothing indexed
    assert db.execute("SELECT count(*) AS n FROM transcript_segments WHERE text = 'stale'").fetchone()["n"] == 1
    videos, sentences = index.reindex(db, storage)
    assert (videos, sentences) == (2, len(before))
    assert db.execute("SELECT video_id, seq, text FROM transcript_segments ORDER BY 1, 2").fetchall() == before
    # deleting a video takes its index with it
    db.execute("DELETE FROM videos WHERE id = (SELECT video_id FROM video_processing_queue WHERE token = %s)", (token,))
    assert db.execute("SELECT count(DISTINCT video_id) AS n FROM transcript_segments").fetchone()["n"] == 1
    assert db.execute("SELECT indexed_videos FROM search_coverage").fetchone()["indexed_videos"] == 1


def test_the_reindex_command_rebuilds_from_the_cli(db, storage, database_url, tmp_path):
    import os
    import subprocess
    import sys

    transcribed(db, storage, "jfk.flac")
    db.execute("TRUNCATE transcript_segments")
    env = {**os.environ, "DATABASE_URL": database_url, "CLIPQUEUE_DATA_DIR": str(storage.root.parent)}
    done = subprocess.run([sys.executable, "-m", "workers", "reindex"], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"videos": 1, "sentences": 1}


# ---------------------------------------------------------------- ranking
def test_a_phrase_and_a_paraphrase_find_the_same_moment(db, storage, client):
    token = transcribed(db, storage, "manifesto.mp4")
    words = client.get(f"/public/video/search?token={token}&q=%22specter+is+haunting%22").get_json()["moments"]
    assert words[0]["text"] == "A specter is haunting Europe." and words[0]["matched_by"][0] == "text"
    needs_vectors(db)
    # "phantom" is nowhere in the transcript, so the words alone find nothing; the meaning does
    assert client.get(f"/public/video/search?token={token}&q=phantom").get_json()["moments"] == []
    ghost = client.get(f"/public/video/search?token={token}&q=phantom+haunting+Europe").get_json()["moments"]
    assert ghost and ghost[0]["matched_by"] == ["meaning"] and ghost[0]["text"] == "A specter is haunting Europe."


def test_fusion_rewards_a_sentence_found_both_ways():
    from workers.pipeline.search.query import fuse

    ranked = fuse({"text": ["a", "b", "c"], "meaning": ["c", "d"]})
    assert ranked[0][0] == "c" and ranked[0][2] == ["text", "meaning"]
    assert [key for key, _, _ in ranked] == ["c", "a", "b", "d"]


def test_a_moment_inside_a_finished_clip_plays_from_that_clip(db, storage, client):
    token = transcribed(db, storage, "manifesto.mp4")
    video_id = db.execute("SELECT video_id, id FROM video_processing_queue WHERE token = %s", (token,)).fetchone()
    clip_key = video_key(video_id["video_id"], "clip_generation", "clip-01-21000-41000.mp4")
    output = {"result": {"clips": [{"rank": 1, "start": 21.0, "end": 41.0, "files": {"media": clip_key}}]}}
    db.execute("INSERT INTO step_checkpoints (video_id, step, job_id, output, storage_keys, attempt, worker_id, "
               "started_at) VALUES (%s, 'clip_generation', %s, %s, %s, 1, 'test', now())",
               (video_id["video_id"], video_id["id"], json.dumps(output), [clip_key]))
    [moment] = client.get(f"/public/video/search?token={token}&q=%22specter+is+haunting%22&limit=1").get_json()["moments"]
    assert moment["play"]["kind"] == "clip" and moment["play"]["rank"] == 1
    assert moment["play"]["at"] == pytest.approx(moment["start"] - 21.0, abs=0.01)
    assert moment["play"]["url"].startswith(f"/public/video/{token}/files/clip-01-21000-41000.mp4#t=")


# ---------------------------------------------------------------- who sees what
def test_a_token_sees_only_its_own_video(db, storage, client):
    manifesto = transcribed(db, storage, "manifesto.mp4")
    jfk = transcribed(db, storage, "jfk.flac")
    assert client.get(f"/public/video/search?token={jfk}&q=communism").get_json()["moments"] == []
    assert client.get(f"/public/video/search?token={manifesto}&q=communism").get_json()["moments"]


def test_an_archived_job_still_searches_and_asks_by_its_token(db, storage, client):
    token = transcribed(db, storage, "manifesto.mp4")
    db.execute("UPDATE video_processing_queue SET status = 'done', pipeline_step = 'clip_generation', "
               "finished_at = now() - interval '30 days' WHERE token = %s", (token,))
    assert queue.archive_finished(db, retention_seconds=7 * 86400) == 1
    assert db.execute("SELECT count(*) AS n FROM video_processing_queue").fetchone()["n"] == 0
    assert client.get(f"/public/video/search?token={token}&q=communism").get_json()["moments"]
    assert client.post("/public/video/ask", json={"token": token, "question": "who wrote it?"}).status_code == 200


def test_the_library_route_needs_the_bearer_and_filters_and_pages(db, storage, client):
    transcribed(db, storage, "manifesto.mp4", content_type="audiobook")
    transcribed(db, storage, "interview_radio.opus", content_type="interview")
    assert_error(client.get("/internal/search?q=radio"), 401, "unauthorized")
    assert_error(client.get("/internal/search?q=radio", headers=auth("wrong")), 401, "unauthorized")
    found = client.get("/internal/search?q=radio&limit=2", headers=auth()).get_json()
    assert len(found["moments"]) == 2 and found["next_offset"] == 2
    assert {m["content_type"] for m in found["moments"]} == {"interview"} and all(m["token"] for m in found["moments"])
    second = client.get("/internal/search?q=radio&limit=2&offset=2", headers=auth()).get_json()
    seen = {(m["video_id"], m["start"]) for m in found["moments"]}
    assert second["moments"] and not seen & {(m["video_id"], m["start"]) for m in second["moments"]}
    assert client.get("/internal/search?q=radio&content_type=audiobook", headers=auth()).get_json()["moments"] == []
    tomorrow = datetime.now(timezone.utc).date().replace(day=1).isoformat()
    assert client.get(f"/internal/search?q=radio&until={tomorrow}", headers=auth()).get_json()["moments"] == []
    assert_error(client.get("/internal/search?q=radio&content_type=cats", headers=auth()), 400, "invalid_content_type")
    assert_error(client.get("/internal/search?q=radio&since=yesterday", headers=auth()), 400, "invalid_since")


def test_without_an_internal_token_the_library_route_does_not_exist(database_url, db, settings, storage):
    app = create_app({"settings": settings, "database_url": database_url, "storage": storage})
    try:
        assert_error(app.test_client().get("/internal/search?q=x"), 404, "not_found")
    finally:
        app.extensions["clipqueue"].pool.close()


# ---------------------------------------------------------------- bad input
def test_bad_search_and_ask_requests_get_a_json_4xx(db, storage, client):
    token = transcribed(db, storage, "jfk.flac")
    assert_error(client.get(f"/public/video/search?token={token}&q="), 400, "missing_q")
    assert_error(client.get(f"/public/video/search?token={token}&q=%20%20"), 400, "missing_q")
    assert_error(client.get(f"/public/video/search?token={token}&q={'x' * 10240}"), 400, "q_too_long")
    assert_error(client.get(f"/public/video/search?token={'A' * 32}&q=country"), 404, "not_found")
    assert_error(client.get("/public/video/search?q=country"), 400, "missing_token")
    assert_error(client.get(f"/public/video/search?token={token}&q=country&limit=500"), 400, "invalid_limit")
    assert_error(client.post("/public/video/ask", json={"token": token}), 400, "missing_question")
    assert_error(client.post("/public/video/ask", json={"token": token, "question": "?" * 501}), 400,
                 "question_too_long")
    assert_error(client.post("/public/video/ask", json={"token": token, "question": "x", "model": "gpt"}), 400,
                 "unknown_field")
    assert_error(client.post("/public/video/ask", json={"token": "A" * 32, "question": "x"}), 404, "not_found")
    assert_error(client.post("/public/video/ask", data="not json", content_type="application/json"), 400,
                 "invalid_json")
    # a query of operators only is not an error: nothing matches
    assert client.get(f"/public/video/search?token={token}&q=%22%22+-+or").get_json()["moments"] == []


def test_real_search_and_ask_responses_keep_the_contract(db, storage, client):
    from .support.contract import assert_conforms

    token = transcribed(db, storage, "manifesto.mp4", content_type="audiobook")
    cases = [
        ("/public/video/search", "get", client.get(f"/public/video/search?token={token}&q=communism")),
        ("/public/video/search", "get", client.get(f"/public/video/search?token={token}&q=")),
        ("/public/video/ask", "post", client.post("/public/video/ask", json={"token": token, "question": "Who wrote it?"})),
        ("/public/video/ask", "post", client.post("/public/video/ask", json={"token": token})),
        ("/internal/search", "get", client.get("/internal/search?q=communism", headers=auth())),
        ("/internal/search", "get", client.get("/internal/search?q=communism")),
    ]
    for path, method, response in cases:
        assert_conforms(path, method, response)
    assert [r.status_code for _, _, r in cases] == [200, 400, 200, 400, 200, 401]
    assert cases[0][2].get_json()["moments"] and cases[4][2].get_json()["moments"]
