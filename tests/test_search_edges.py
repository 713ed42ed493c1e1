"""The search index's edges (issue 19): the index observer checks its input, ``python -m
workers prune`` runs the maintenance leader's list (the index catch-up with it), a token sees
only its own video's moments even beside a video of similar length, and a transcribed video
whose index is not written yet is ``not_ready``."""
from __future__ import annotations

import json

import pytest

from workers.pipeline.search import index

from .test_api import assert_error
from .test_search import FIXTURE, client, search_app, storage, transcribed  # noqa: F401 - fixtures


def test_a_transcript_checkpoint_without_a_stored_transcript_is_one_line_not_a_traceback(db, storage, caplog):
    import logging

    class Video:
        id = 7
    with caplog.at_level(logging.INFO):
        index.on_checkpoint(storage)(db, Video, "transcript", {"words": 3})  # the benchmarks' step table
    lines = [r for r in caplog.records if "video 7" in r.getMessage()]
    assert len(lines) == 1 and "names no stored transcript" in lines[0].getMessage() and lines[0].exc_info is None


def test_prune_runs_the_maintenance_leaders_task_list(db, storage, database_url, monkeypatch, capsys):
    from workers.__main__ import main
    from workers.pipeline.services import maintenance_tasks

    transcribed(db, storage, "jfk.flac")
    db.execute("TRUNCATE transcript_segments")  # a transcript the index missed
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CLIPQUEUE_DATA_DIR", str(storage.root.parent))
    assert main(["prune"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert set(done) == {"archived", "events_deleted", *maintenance_tasks(storage)}
    assert done["transcripts_indexed"] == 1 and done["ask_usage_pruned"] == 0
    assert db.execute("SELECT count(*) AS n FROM transcript_segments").fetchone()["n"] == 1


NOTLD_89 = "notld_1968/89s_ill_come_back_down_as_soon_as.wav"  # 89 s, beside the Manifesto's 85 s


def indexed_text(db, token) -> str:
    return " ".join(r["text"] for r in db.execute(
        "SELECT s.text FROM transcript_segments s JOIN video_processing_queue q USING (video_id) "
        "WHERE q.token = %s ORDER BY s.seq", (token,)))


@pytest.mark.parametrize("q", ["back", "time"])  # words both videos say
def test_two_videos_of_similar_length_each_token_gets_only_its_own_moments(db, storage, client, q):
    manifesto, notld = transcribed(db, storage, "manifesto.mp4"), transcribed(db, storage, NOTLD_89)
    for token, other in ((manifesto, notld), (notld, manifesto)):
        own, theirs = indexed_text(db, token), indexed_text(db, other)
        moments = client.get(f"/public/video/search?token={token}&q={q}").get_json()["moments"]
        assert moments, (token, q)
        for moment in moments:
            assert q in moment["text"].lower(), moment  # the query's words are in it
            assert moment["text"] in own and moment["text"] not in theirs, moment  # and it is this video's
            assert moment["end"] <= FIXTURE["manifesto.mp4" if token == manifesto else NOTLD_89]["segments"][-1]["end"] + 1


def test_a_transcribed_video_not_indexed_yet_is_not_ready(db, storage, client):
    token = transcribed(db, storage, "manifesto.mp4")
    db.execute("DELETE FROM transcript_segments")  # the checkpoint is written, the index write is not (yet)
    assert_error(client.get(f"/public/video/search?token={token}&q=communism"), 404, "not_ready")
    index.catch_up(db, storage)
    assert client.get(f"/public/video/search?token={token}&q=communism").get_json()["moments"]
