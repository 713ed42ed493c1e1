"""The worker runtime in-process: retries, failures, cancellation, progress, resubmission."""
from __future__ import annotations

import threading
from datetime import datetime

from workers.queue import jobs as queue
from workers.queue.retry import RetryPolicy
from workers.queue.worker import Worker
from workers.pipeline.table import STEPS

from .conftest import wait_for
from .support.steps import TABLE, read_executions


def submit(db, url="http://example.com/v.mp4", script=None, max_retries=3):
    return queue.enqueue(db, source_url=url, normalized_url=url, max_retries=max_retries,
                         options={"script": script or {}}).token


def run_burst(database_url, settings, *, timeout=60.0, table=TABLE, **kw):
    """Run a burst worker in a thread; fail the test (after stopping it) if it has not
    drained the queue within ``timeout`` seconds, instead of hanging the suite."""
    worker = Worker(database_url, table, steps=STEPS, settings=settings, burst=True, **kw)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", worker.run()), daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        worker.stop(immediately=True)
        thread.join(10)
        raise AssertionError(f"the burst worker did not finish within {timeout} s")
    assert result.get("rc") == 0, f"the burst worker exited with {result.get('rc')}"
    return worker


def retry_events(db):
    return db.execute("SELECT details FROM queue_events WHERE kind = 'retry_scheduled' ORDER BY id").fetchall()


def test_a_video_goes_through_every_step_in_order(database_url, db, settings, exec_log):
    token = submit(db)
    run_burst(database_url, settings)
    job = queue.job_by_token(db, token)
    assert job["status"] == "done"
    checkpoints = queue.checkpoints_for_video(db, job["video_id"])
    assert list(checkpoints) == list(STEPS)
    # each step saw the checkpoints of every step before it
    for i, step in enumerate(STEPS):
        assert checkpoints[step]["output"]["previous"] == sorted(STEPS[:i])
    assert [e["step"] for e in read_executions(exec_log) if e["event"] == "end"] == list(STEPS)


def test_transient_errors_retry_with_growing_delays_then_fail_with_the_cause(database_url, db, settings, exec_log):
    token = submit(db, script={"transcript": {"fail": "transient"}}, max_retries=4)
    run_burst(database_url, settings, policy=RetryPolicy(base=0.05, factor=2, cap=5))
    job = queue.job_by_token(db, token)
    assert (job["status"], job["step"], job["failure_cause"]) == ("failed", "transcript", "test_transient")
    message = job["failure_details"]["message"]
    assert "this is final" in message and "5 times" in message and "retrying" not in message
    delays = [e["details"]["delay_s"] for e in retry_events(db)]
    assert len(delays) == 4
    assert all(b >= a for a, b in zip(delays, delays[1:])) and delays[-1] > delays[0]
    runs = [e for e in read_executions(exec_log) if e["step"] == "transcript" and e["event"] == "start"]
    assert len(runs) == 5
    # the delays were honoured: each claim of the step came at or after the run_after that
    # the retry before it set (both instants are the database's own clock: no load slack)
    timeline = db.execute("SELECT kind::text AS kind, at, details ->> 'run_after' AS run_after FROM queue_events "
                          "WHERE step = 'transcript' AND kind IN ('claimed', 'retry_scheduled') ORDER BY id").fetchall()
    pairs = [(a, b) for a, b in zip(timeline, timeline[1:]) if a["kind"] == "retry_scheduled"]
    assert len(pairs) == 4 and all(b["kind"] == "claimed" for _, b in pairs)
    for retry, claim in pairs:
        assert claim["at"] >= datetime.fromisoformat(retry["run_after"])
    # download finished before and was never run again
    assert sum(e["step"] == "download" and e["event"] == "start" for e in read_executions(exec_log)) == 1


def test_transient_errors_then_success_finish_the_video(database_url, db, settings, exec_log):
    token = submit(db, script={"download": {"fail": "transient", "fail_times": 2}})
    run_burst(database_url, settings)
    job = queue.job_by_token(db, token)
    assert job["status"] == "done" and job["failure_cause"] is None and job["retry"] == 0


def test_a_permanent_error_fails_at_once(database_url, db, settings, exec_log):
    token = submit(db, script={"content_type": {"fail": "permanent"}})
    run_burst(database_url, settings)
    job = queue.job_by_token(db, token)
    assert (job["status"], job["step"], job["failure_cause"]) == ("failed", "content_type", "test_permanent")
    assert job["failure_details"]["message"] == "scripted permanent failure of content_type"
    assert retry_events(db) == []


def test_an_unexpected_exception_is_retried_then_fails_as_internal_error(database_url, db, settings, exec_log):
    token = submit(db, script={"download": {"fail": "crash"}}, max_retries=1)
    run_burst(database_url, settings)
    job = queue.job_by_token(db, token)
    assert job["failure_cause"] == "internal_error"
    assert "/secret/path.py" not in job["failure_details"]["message"]
    assert "Traceback" in job["failure_details"]["traceback"]  # for operators


def test_a_running_step_sees_cancellation_at_its_next_heartbeat(database_url, db, settings, exec_log, tmp_path):
    marker = tmp_path / "started"
    token = submit(db, script={"download": {"marker": str(marker), "wait_for_file": str(tmp_path / "never"),
                                            "cancellable": True}})
    worker = Worker(database_url, TABLE, steps=STEPS, settings=settings, burst=True)
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(marker.exists, message="the step to start")
    assert queue.request_cancel(db, token) == "running"
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert queue.job_by_token(db, token)["status"] == "cancelled"
    assert (worker.outcomes, worker.last_outcome.result) == (1, "cancelled")


def test_step_progress_reaches_the_database(database_url, db, settings, exec_log, tmp_path):
    # The step reports 40 % and then blocks until the test has seen it in the database: no
    # race between a sleep and the heartbeat's progress writes, and a lease long enough that
    # a slow machine cannot lose it meanwhile.
    go = tmp_path / "go"
    token = submit(db, script={"download": {"progress": 0.4, "wait_for_file": str(go)}})
    worker = Worker(database_url, TABLE, steps=STEPS, settings=settings.replace(lease_seconds=30), burst=True)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: queue.job_by_token(db, token)["step_progress"] == 0.4, timeout=20,
                 message="progress to be written")
    finally:
        go.touch()
        thread.join(timeout=30)
    assert not thread.is_alive() and queue.job_by_token(db, token)["status"] == "done"


def test_a_resubmitted_video_never_reruns_a_checkpointed_step(database_url, db, settings, exec_log):
    url = "http://example.com/again.mp4"
    first = submit(db, url, script={"clip_lookup": {"fail": "permanent"}})
    run_burst(database_url, settings)
    assert queue.job_by_token(db, first)["status"] == "failed"
    second = queue.enqueue(db, source_url=url, normalized_url=url, options={}).token
    run_burst(database_url, settings)
    assert queue.job_by_token(db, second)["status"] == "done"
    starts = [e["step"] for e in read_executions(exec_log) if e["event"] == "start"]
    assert starts == ["download", "transcript", "content_type", "clip_lookup", "clip_lookup", "clip_generation"]


def test_a_step_cannot_override_the_public_failure_message(database_url, db, settings, exec_log):
    from workers.queue.errors import PermanentError

    def sneaky(job, ctx):
        raise PermanentError("bad_media", "the file is not a video", details={"message": "/srv/secret leaked"})

    token = submit(db)
    run_burst(database_url, settings, table={**TABLE, "download": sneaky})
    job = queue.job_by_token(db, token)
    assert job["failure_details"]["message"] == "the file is not a video"


def test_steps_see_the_injected_clock(database_url, db, settings, exec_log):
    from workers.queue.executor import Executor
    from workers.queue.heartbeat import Heartbeat
    from workers.queue.retry import RetryPolicy

    seen = []
    table = {**TABLE, "download": lambda job, ctx: seen.append(ctx.clock()) or {"ok": True}}
    submit(db)
    executor = Executor(table, heartbeat=Heartbeat(database_url, 30), policy=RetryPolicy(), settings=settings,
                        step_clock=lambda: 1234.5)
    job = queue.claim(db, worker_id="w", steps=STEPS, lease_seconds=30)
    assert executor.execute(db, job).result == "succeeded" and seen == [1234.5]


def test_an_outcome_write_cut_by_a_dropped_connection_is_retried_on_a_new_one(database_url, db, settings):
    from workers.queue.db import connect
    from workers.queue.executor import Executor
    from workers.queue.heartbeat import Heartbeat

    token = submit(db)
    job = queue.claim(db, worker_id="w", steps=STEPS, lease_seconds=30)
    executor = Executor(TABLE, heartbeat=Heartbeat(database_url, 30), policy=RetryPolicy(), settings=settings,
                        sleep=lambda s: None)
    dropped = connect(database_url)
    dropped.close()  # Postgres restarted under the slot's connection while the step ran
    outcome = executor.execute(dropped, job)
    assert (outcome.result, outcome.status) == ("succeeded", "queued")
    row = queue.job_by_token(db, token)
    assert row["step"] == "transcript" and "download" in queue.checkpoints_for_video(db, row["video_id"])


def test_an_outcome_that_committed_before_the_connection_dropped_is_not_written_twice(database_url, db, settings):
    from workers.queue.db import connect
    from workers.queue.completer import _ALREADY_WRITTEN
    from workers.queue.executor import Executor
    from workers.queue.heartbeat import Heartbeat

    submit(db)
    job = queue.claim(db, worker_id="w", steps=STEPS, lease_seconds=30)
    executor = Executor(TABLE, heartbeat=Heartbeat(database_url, 30), policy=RetryPolicy(), settings=settings,
                        sleep=lambda s: None)

    def write(conn):
        return queue.complete_step(conn, job.lease, step="download", output={"ok": True},
                                   started_at=job.step_started_at, duration_s=0.1)

    assert write(db) is not None  # it committed; then the answer was lost with the connection
    dropped = connect(database_url)
    dropped.close()
    assert executor.completer._persist(dropped, job.lease, "download", write) is _ALREADY_WRITTEN
    kinds = [r["kind"] for r in db.execute("SELECT kind::text FROM queue_events WHERE kind = 'succeeded'")]
    assert kinds == ["succeeded"]


def test_a_worker_whose_slots_cannot_carry_on_exits_non_zero(database_url, db, settings, monkeypatch):
    # A slot that cannot even claim (a bug, a schema the code does not match) must not leave
    # a process that looks healthy: the worker stops with status 1 for its supervisor.
    def broken_claim(*args, **kwargs):
        raise RuntimeError("the claim statement does not match the schema")

    monkeypatch.setattr(queue, "claim", broken_claim)
    monkeypatch.setattr("workers.queue.worker.MAX_SLOT_ERRORS", 2)
    worker = Worker(database_url, TABLE, steps=STEPS, settings=settings, burst=False)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", worker.run()), daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():
        worker.stop(immediately=True)
        thread.join(10)
    assert result == {"rc": 1} and worker.broken_slots
