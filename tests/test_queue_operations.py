"""Queue operations on a real Postgres: notifications, operator actions and views, chaining,
the claim's locking, tokens. (Statement semantics: test_queue.py.)"""
from __future__ import annotations

from workers.queue import jobs as queue
from workers.queue.db import connect

from .test_queue import STEPS, claim, complete, events, expire, row, submit


def test_enqueue_and_advance_notify_listeners(database_url, db):
    with connect(database_url) as listener:
        listener.execute(f"LISTEN {queue.NOTIFY_CHANNEL}")
        submit(db)
        complete(db, claim(db))
        payloads = [n.payload for n in listener.notifies(timeout=2, stop_after=2)]
    assert payloads == ["download", "transcript"]


def test_pending_work_counts_what_can_still_reach_a_step(db):
    submit(db)
    assert queue.pending_work(db, ["transcript"]) == 1  # download comes first
    assert queue.pending_work(db, ["download"]) == 1
    complete(db, claim(db))
    assert queue.pending_work(db, ["download"]) == 0
    assert queue.pending_work(db, ["clip_generation"]) == 1


def test_requeue_runs_a_failed_job_again_from_its_step(db):
    token = submit(db).token
    complete(db, claim(db))
    job = claim(db)
    queue.fail_job(db, job.lease, cause="x", details={})
    assert queue.requeue_job(db, token) == "transcript"
    assert row(db, token)["status"] == "queued"
    assert queue.requeue_job(db, token) is None


def test_operator_views_report_the_queue(db):
    submit(db, "http://a/1")
    job = claim(db)
    expire(db, job)
    submit(db, "http://a/2")
    overview = {(r["status"], r["step"]): r for r in queue.queue_overview(db)}
    assert overview[("running", "download")]["expired_leases"] == 1
    assert overview[("queued", "download")]["jobs"] == 1
    queue.fail_job(db, claim(db, worker="x").lease, cause="bad", details={"message": "why"})
    assert queue.recent_failures(db)[0]["message"] == "why"


def test_completing_a_step_the_worker_also_takes_next_keeps_the_video(db):
    token = submit(db)
    job = claim(db)
    advanced = queue.complete_step(db, job.lease, step="download", output={"ok": 1}, started_at=job.step_started_at,
                                   duration_s=0.1, continue_steps=STEPS, lease_seconds=30)
    assert (advanced.status, advanced.step, advanced.attempt) == ("running", "transcript", job.lease.attempt + 1)
    current = row(db, token.token)
    assert (current["status"], current["step"]) == ("running", "transcript")
    assert events(db) == ["enqueued", "claimed", "succeeded", "claimed"]
    assert claim(db, worker="other") is None  # still leased to the first worker
    # the old attempt is fenced off; the new one can complete
    assert complete(db, job) is None
    chained = queue.Lease(job.lease.job_id, job.lease.worker_id, advanced.attempt)
    assert queue.complete_step(db, chained, step="transcript", output={}, started_at=advanced.step_started_at,
                               duration_s=0.1).status == "queued"


def test_no_chaining_into_a_limited_step_or_a_cancelled_video(db):
    queue.set_step_limit(db, "transcript", 5)
    submit(db, "http://a/1")
    job = claim(db)
    assert complete(db, job, continue_steps=STEPS) == "queued"
    queue.clear_step_limit(db, "transcript")
    token = submit(db, "http://a/2").token
    job = claim(db, steps=["download"])
    queue.request_cancel(db, token)
    assert complete(db, job, continue_steps=STEPS) == "cancelled"


def test_claim_without_the_limits_lock_is_one_statement_with_the_same_result(db):
    submit(db)
    job = queue.claim(db, worker_id="w", steps=STEPS, lease_seconds=30, lock_limits=False)
    assert job.step == "download" and job.checkpoints == {}


def test_a_claim_skips_a_row_another_transaction_has_locked_instead_of_waiting(database_url, db):
    first = queue.enqueue(db, source_url="http://e.com/1", normalized_url="http://e.com/1", options={})
    queue.enqueue(db, source_url="http://e.com/2", normalized_url="http://e.com/2", options={})
    with connect(database_url) as holder, connect(database_url) as claimer:
        holder.autocommit = False
        holder.execute("SELECT id FROM video_processing_queue WHERE token = %s FOR UPDATE", (first.token,))
        # Without SKIP LOCKED the claim would queue behind the holder: the lock timeout makes
        # that an error here instead of a hang.
        claimer.execute("SET lock_timeout = '5s'")
        job = queue.claim(claimer, worker_id="w", steps=STEPS, lease_seconds=30)
        holder.rollback()
    assert job is not None and job.token != first.token


def test_an_old_token_keeps_showing_its_own_job_after_the_url_is_resubmitted(db):
    url = "http://e.com/again"
    old = queue.enqueue(db, source_url=url, normalized_url=url, options={}).token
    job = queue.claim(db, worker_id="w", steps=STEPS, lease_seconds=30)
    assert queue.fail_job(db, job.lease, cause="http_500", details={"message": "the host failed"})
    new = queue.enqueue(db, source_url=url, normalized_url=url, options={})
    assert new.created and new.token != old
    then, now = queue.job_status(db, old), queue.job_status(db, new.token)
    assert (then["status"], then["failure_cause"]) == ("failed", "http_500")
    assert (now["status"], now["failure_cause"]) == ("queued", None)


def test_tokens_never_start_with_a_dash_so_command_lines_take_them_as_arguments():
    # 1 token in 64 used to: "python -m workers status -Xy..." then failed as an unknown option.
    tokens = [queue.new_token() for _ in range(5000)]
    assert not [t for t in tokens if t.startswith("-")]
    assert all(len(t) == 32 for t in tokens) and len(set(tokens)) == 5000
