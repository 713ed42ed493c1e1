"""The completer writes each outcome once, fenced by the lease, and drops a result whose lease is gone."""
from __future__ import annotations

from workers.queue import jobs as queue
from workers.queue.completer import Completer, Ran
from workers.queue.errors import PermanentError, TransientError
from workers.queue.hooks import Hooks
from workers.queue.retry import RetryPolicy

STEPS = ["download", "transcript", "content_type", "clip_lookup", "clip_generation"]


def claimed(db, url="http://example.com/c.mp4", **kw):
    token = queue.enqueue(db, source_url=url, normalized_url=url, **kw).token
    return token, queue.claim(db, worker_id="w", steps=STEPS, lease_seconds=30)


def completer(database_url, finals=None):
    return Completer(database_url, lease_seconds=30, policy=RetryPolicy(base=10, cap=60),
                     hooks=Hooks(on_final=(lambda subject, status: finals.append((subject.id, status)))
                                 if finals is not None else None))


def kinds(db):
    return [r["kind"] for r in db.execute("SELECT kind::text FROM queue_events ORDER BY id")]


def test_a_finished_step_is_checkpointed_and_the_job_advances(database_url, db):
    token, job = claimed(db)
    outcome = completer(database_url).record(db, Ran(job, {"ok": 1, "storage_keys": ["k"]}, "succeeded", None, 0.5))
    assert (outcome.result, outcome.status) == ("succeeded", "queued")
    row = queue.job_by_token(db, token)
    assert row["step"] == "transcript"
    checkpoint = db.execute("SELECT output, storage_keys FROM step_checkpoints").fetchone()
    assert checkpoint == {"output": {"ok": 1, "storage_keys": ["k"]}, "storage_keys": ["k"]}


def test_a_transient_error_is_retried_no_sooner_than_the_remote_asked(database_url, db):
    token, job = claimed(db)
    error = TransientError("http_503", "the host is busy", retry_after=120)
    outcome = completer(database_url).record(db, Ran(job, None, "succeeded", error, 0.1))
    assert (outcome.result, outcome.cause) == ("retry_scheduled", "http_503")
    assert outcome.delay_s == 60  # the policy's cap bounds even the remote's wish
    row = queue.job_by_token(db, token)
    assert row["status"] == "queued" and row["retry"] == 1 and row["failure_cause"] == "http_503"


def test_a_permanent_error_ends_the_job_and_lets_the_product_clean_up(database_url, db):
    finals = []
    token, job = claimed(db)
    error = PermanentError("not_media", "the file is not a video", details={"probe": "no streams"})
    outcome = completer(database_url, finals).record(db, Ran(job, None, "succeeded", error, 0.1))
    assert (outcome.result, outcome.status) == ("failed", "failed")
    details = queue.job_by_token(db, token)["failure_details"]
    assert details["message"] == "the file is not a video" and details["probe"] == "no streams"
    assert finals == [(job.video_id, "failed")]


def test_a_result_whose_lease_was_lost_is_dropped_and_counted(database_url, db):
    finals = []
    token, job = claimed(db)
    db.execute("UPDATE video_processing_queue SET lease_expires_at = now() - interval '1 second'")
    thief = queue.claim(db, worker_id="thief", steps=STEPS, lease_seconds=30)  # the rescue
    assert thief.lease.attempt == job.lease.attempt + 1
    outcome = completer(database_url, finals).record(db, Ran(job, {"late": True}, "succeeded", None, 3.0))
    assert (outcome.result, outcome.status) == ("lease_lost", None)
    assert db.execute("SELECT count(*) AS n FROM step_checkpoints").fetchone()["n"] == 0
    assert kinds(db)[-1] == "result_dropped" and finals == []
    assert queue.job_by_token(db, token)["status"] == "running"  # still the thief's


def test_contain_gives_a_job_a_retry_after_an_unexpected_error(database_url, db):
    token, job = claimed(db)
    assert completer(database_url).contain(job, ValueError("a value the database refused"))
    row = queue.job_by_token(db, token)
    assert row["status"] == "queued" and row["failure_cause"] == "internal_error"


def observing(database_url, seen, fail_first=False):
    """A completer whose one checkpoint observer proves its connection live (SELECT 1)."""
    calls = []

    def observer(conn, subject, step, output):
        calls.append(step)
        if fail_first and len(calls) == 1:
            import psycopg

            raise psycopg.OperationalError("server closed the connection unexpectedly")
        seen.append((subject.id, step, conn.execute("SELECT 1 AS one").fetchone()["one"]))
    return Completer(database_url, lease_seconds=30, policy=RetryPolicy(), hooks=Hooks(on_checkpoint=(observer,)),
                     sleep=lambda s: None), calls


def test_after_an_outcome_write_retried_on_a_new_connection_the_observer_gets_a_live_one(database_url, db):
    from workers.queue.db import connect

    token, job = claimed(db)
    seen = []
    done, _ = observing(database_url, seen)
    worker_conn = connect(database_url)
    db.execute("SELECT pg_terminate_backend(%s)", (worker_conn.info.backend_pid,))  # Postgres dropped it
    outcome = done.record(worker_conn, Ran(job, {"ok": 1}, "succeeded", None, 0.1))
    assert outcome.result == "succeeded"  # written on a fresh connection
    assert seen == [(job.video_id, "download", 1)]  # and observed on a live one, not the dead one


def test_an_observer_whose_connection_failed_is_tried_again_at_once(database_url, db):
    token, job = claimed(db)
    seen = []
    done, calls = observing(database_url, seen, fail_first=True)
    done.record(db, Ran(job, {"ok": 1}, "succeeded", None, 0.1))
    assert calls == ["download", "download"] and seen == [(job.video_id, "download", 1)]


def test_hooks_passed_as_services_keys_are_refused_not_ignored(database_url, settings):
    import pytest

    from workers.queue.worker import Worker

    for key in ("on_final", "on_checkpoint", "maintenance_tasks"):
        with pytest.raises(ValueError, match="Hooks"):
            Worker(database_url, {s: None for s in STEPS}, steps=STEPS, settings=settings, services={key: None})
