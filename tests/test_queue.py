"""Queue semantics, statement by statement, on a real Postgres."""
from __future__ import annotations

import threading

import psycopg
import pytest

from workers.queue import jobs as queue
from workers.queue.db import connect

STEPS = ["download", "transcript", "content_type", "clip_lookup", "clip_generation"]


def submit(db, url="http://example.com/v.mp4", **kw):
    return queue.enqueue(db, source_url=url, normalized_url=url, **kw)


def claim(db, worker="w1", steps=STEPS, lease=30.0):
    return queue.claim(db, worker_id=worker, steps=steps, lease_seconds=lease)


def complete(db, job, output=None, **kw):
    """The job's status after completing its step, None if the lease was lost."""
    advanced = queue.complete_step(db, job.lease, step=job.step, output=output or {"ok": True},
                                   started_at=job.step_started_at, duration_s=0.1, **kw)
    return advanced and advanced.status


def expire(db, job):
    db.execute("UPDATE video_processing_queue SET lease_expires_at = now() - interval '1 second' "
               "WHERE id = %s", (job.lease.job_id,))


def events(db, job_id=None):
    rows = db.execute("SELECT kind::text, worker_id FROM queue_events ORDER BY id").fetchall()
    return [r["kind"] for r in rows]


def row(db, token):
    return queue.job_by_token(db, token)


def test_enqueue_returns_an_unguessable_token(db):
    result = submit(db)
    assert result.created and len(result.token) == 32
    assert result.token != submit(db, "http://example.com/other").token


def test_enqueue_is_idempotent_while_queued_running_or_done(db):
    first = submit(db)
    assert submit(db) == queue.Enqueued(first.token, created=False)
    job = claim(db)
    assert submit(db).token == first.token  # running
    for _ in STEPS:
        complete(db, job)
        job = claim(db)
    assert row(db, first.token)["status"] == "done"
    assert submit(db) == queue.Enqueued(first.token, created=False)
    assert db.execute("SELECT count(*) AS n FROM video_processing_queue").fetchone()["n"] == 1


def test_failed_video_resubmitted_resumes_after_its_checkpoints(db):
    first = submit(db)
    complete(db, claim(db))            # download checkpointed
    job = claim(db)                    # transcript
    assert queue.fail_job(db, job.lease, cause="boom", details={"message": "x"})
    again = submit(db)
    assert again.created and again.token != first.token
    assert row(db, again.token)["step"] == "transcript"  # download is not redone


def test_concurrent_submissions_of_one_url_create_one_job(database_url, db):
    tokens, barrier = [], threading.Barrier(8)

    def go():
        with connect(database_url) as conn:
            barrier.wait()
            tokens.append(submit(conn).token)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tokens) == 8 and len(set(tokens)) == 1


def test_claim_takes_only_the_workers_steps(db):
    submit(db)
    assert claim(db, steps=["transcript"]) is None
    assert claim(db, steps=["download"]).step == "download"


def test_claim_orders_by_priority_then_age(db):
    low = submit(db, "http://a/1")
    high = submit(db, "http://a/2", priority=5)
    older = submit(db, "http://a/3")
    assert [claim(db).token for _ in range(3)] == [high.token, low.token, older.token]


def test_claim_honours_run_after(db):
    submit(db)
    db.execute("UPDATE video_processing_queue SET run_after = now() + interval '1 hour'")
    assert claim(db) is None


def test_claims_never_overlap_under_concurrency(database_url, db):
    for i in range(40):
        submit(db, f"http://a/{i}")
    claimed, barrier = [], threading.Barrier(8)

    def go(n):
        with connect(database_url) as conn:
            barrier.wait()
            while (job := claim(conn, worker=f"w{n}")) is not None:
                claimed.append(job.lease.job_id)

    threads = [threading.Thread(target=go, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == list(range(1, 41))


def test_complete_writes_checkpoint_advances_and_logs_in_one_step(db):
    token = submit(db).token
    job = claim(db)
    assert complete(db, job, {"bytes": 10, "storage_keys": ["a/b"]}) == "queued"
    current = row(db, token)
    assert (current["step"], current["status"], current["retry"]) == ("transcript", "queued", 0)
    cp = queue.checkpoints_for_video(db, job.video_id)["download"]
    assert cp["output"]["bytes"] == 10 and cp["storage_keys"] == ["a/b"] and cp["worker_id"] == "w1"
    assert events(db) == ["enqueued", "claimed", "succeeded"]


def test_last_step_marks_the_job_done(db):
    token = submit(db).token
    for _ in STEPS:
        assert complete(db, claim(db)) in ("queued", "done")
    assert row(db, token)["status"] == "done"
    assert claim(db) is None


def test_checkpoints_are_write_once(db):
    submit(db)
    job = claim(db)
    complete(db, job)
    with pytest.raises(psycopg.errors.RaiseException):
        db.execute("UPDATE step_checkpoints SET output = '{}'")


def test_events_are_append_only(db):
    submit(db)
    with pytest.raises(psycopg.errors.RaiseException):
        db.execute("UPDATE queue_events SET error = 'x'")


def test_expired_lease_is_requeued_through_the_claim(db):
    token = submit(db).token
    first = claim(db, worker="dead")
    assert claim(db, worker="w2") is None  # lease still live
    expire(db, first)
    rescued = claim(db, worker="w2")
    assert rescued.lease.job_id == first.lease.job_id and rescued.rescued
    assert rescued.retry == 1 and rescued.lease.attempt == 2
    assert events(db)[-1] == "rescued"
    assert row(db, token)["status"] == "running"


def test_a_lost_lease_cannot_write_anything(db):
    token = submit(db).token
    job = claim(db, worker="slow")
    expire(db, job)
    before = db.execute("SELECT * FROM video_processing_queue").fetchone()
    assert queue.heartbeat(db, job.lease, lease_seconds=30) is None
    assert queue.set_progress(db, job.lease, 0.5) is False
    assert complete(db, job) is None
    assert queue.schedule_retry(db, job.lease, delay_seconds=1, cause="x", details={}) is False
    assert queue.fail_job(db, job.lease, cause="x", details={}) is False
    assert queue.release_job(db, job.lease) is False
    assert db.execute("SELECT * FROM video_processing_queue").fetchone() == before
    assert db.execute("SELECT count(*) AS n FROM step_checkpoints").fetchone()["n"] == 0
    assert events(db) == ["enqueued", "claimed"]
    # ...and after another worker took it over, the old lease still writes nothing.
    new = claim(db, worker="w2")
    assert complete(db, job) is None and queue.heartbeat(db, job.lease, lease_seconds=30) is None
    assert complete(db, new) == "queued"
    assert row(db, token)["step"] == "transcript"


def test_a_stale_attempt_of_the_same_worker_is_fenced(db):
    submit(db)
    job = claim(db, worker="same")
    expire(db, job)
    newer = claim(db, worker="same")
    assert newer.lease.attempt == job.lease.attempt + 1
    assert complete(db, job) is None
    assert complete(db, newer) == "queued"


def test_heartbeat_extends_the_lease(db):
    submit(db)
    job = claim(db, lease=1)
    assert queue.heartbeat(db, job.lease, lease_seconds=60) is False
    left = db.execute("SELECT lease_expires_at - now() AS left FROM video_processing_queue").fetchone()["left"]
    assert left.total_seconds() > 50


def test_schedule_retry_delays_the_same_step_and_counts(db):
    token = submit(db).token
    job = claim(db)
    assert queue.schedule_retry(db, job.lease, delay_seconds=3600, cause="net", details={"message": "m"})
    current = row(db, token)
    assert (current["status"], current["step"], current["retry"], current["failure_cause"]) == \
        ("queued", "download", 1, "net")
    assert claim(db) is None  # not due for an hour
    assert events(db)[-1] == "retry_scheduled"


def test_release_gives_the_step_back_without_counting_a_retry(db):
    token = submit(db).token
    job = claim(db)
    assert queue.release_job(db, job.lease)
    assert row(db, token)["retry"] == 0
    assert claim(db).lease.attempt == 2


def test_a_cancelled_queued_video_is_never_claimed(db):
    token = submit(db).token
    assert queue.request_cancel(db, token) == "cancelled"
    assert claim(db) is None
    assert row(db, token)["status"] == "cancelled"
    assert submit(db).created  # a cancelled video may be resubmitted


def test_cancel_of_a_running_video_is_seen_at_heartbeat_and_applied_at_the_end(db):
    token = submit(db).token
    job = claim(db)
    assert queue.request_cancel(db, token) == "running"
    assert queue.heartbeat(db, job.lease, lease_seconds=30) is True
    assert complete(db, job) == "cancelled"
    assert row(db, token)["status"] == "cancelled"
    assert claim(db) is None


def test_reaper_ends_jobs_whose_worker_keeps_dying(db):
    token = submit(db, max_retries=1).token
    expire(db, claim(db, worker="a"))
    expire(db, claim(db, worker="b"))     # second death: retry 1 == max_retries
    assert claim(db, worker="c") is None  # not claimable again
    assert queue.reap_expired_leases(db, worker_id="reaper") == 1
    current = row(db, token)
    assert current["status"] == "failed" and current["failure_cause"] == "lease_expired"
    assert "download" in current["failure_details"]["message"]


def test_reaper_cancels_an_expired_job_whose_cancel_was_requested(db):
    token = submit(db).token
    job = claim(db)
    queue.request_cancel(db, token)
    expire(db, job)
    assert queue.reap_expired_leases(db, worker_id="reaper") == 1
    assert row(db, token)["status"] == "cancelled"


def test_step_limit_blocks_claims_beyond_it(db):
    for i in range(3):
        submit(db, f"http://a/{i}")
    queue.set_step_limit(db, "download", 2)
    assert claim(db, worker="a") and claim(db, worker="b")
    assert claim(db, worker="c") is None
    queue.set_step_limit(db, "download", 3)
    assert claim(db, worker="c") is not None


def test_step_limit_zero_pauses_a_step(db):
    submit(db)
    queue.set_step_limit(db, "download", 0)
    assert claim(db) is None
    assert queue.clear_step_limit(db, "download")
    assert claim(db) is not None
