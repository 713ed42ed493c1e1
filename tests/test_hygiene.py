"""A long-running queue stays fast: finished jobs move to the archive after the retention
(their tokens keep answering), old events are pruned, the claim keeps its index with 100k
finished rows, and every table carries its autovacuum settings."""
from __future__ import annotations

import json
import threading

from workers.queue import maintenance
from workers.queue import jobs as queue
from workers.queue import sql as queries
from workers.queue.worker import Worker
from workers.pipeline.table import STEPS

from .conftest import wait_for
from .support.steps import TABLE

CLAIM_PARAMS = {"steps": list(STEPS), "worker_id": "w", "lease_seconds": 30.0}


def submit(db, url):
    return queue.enqueue(db, source_url=url, normalized_url=url).token


def finish(db, token, *, fail=False):
    """Drive a job through every step (or fail it at the first), as a worker would."""
    while True:
        job = queue.claim(db, worker_id="w", steps=STEPS, lease_seconds=30)
        assert job is not None and job.token == token
        if fail:
            assert queue.fail_job(db, job.lease, cause="boom", details={"message": "it broke"})
            return
        advanced = queue.complete_step(db, job.lease, step=job.step, output={"step": job.step},
                                       started_at=job.step_started_at, duration_s=0.1)
        if advanced.status == "done":
            return


def age(db, token, days):
    db.execute("UPDATE video_processing_queue SET finished_at = now() - make_interval(days => %s) "
               "WHERE token = %s", (days, token))


def count(db, table):
    return db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def plan_nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def explain(db, name, params):
    row = db.execute("EXPLAIN (FORMAT JSON) " + queries.sql(name), params).fetchone()
    return list(plan_nodes(row["QUERY PLAN"][0]["Plan"]))


def test_claim_uses_its_index_with_100k_finished_rows(db):
    db.execute("""
        WITH v AS (INSERT INTO videos (source_url, normalized_url)
                   SELECT 'u' || g, 'u' || g FROM generate_series(1, 100050) g RETURNING id)
        INSERT INTO video_processing_queue (video_id, token, status, pipeline_step, finished_at)
        SELECT id, md5(id::text),
               CASE WHEN id > 100000 THEN 'queued' ELSE 'done' END::job_status,
               CASE WHEN id > 100000 THEN 'download' ELSE 'clip_generation' END::pipeline_step,
               CASE WHEN id > 100000 THEN NULL ELSE now() END
          FROM v""")
    db.execute("ANALYZE video_processing_queue")
    nodes = explain(db, "claim", CLAIM_PARAMS)
    on_queue = [n for n in nodes if n.get("Relation Name") == "video_processing_queue"]
    assert on_queue and all(n["Node Type"] != "Seq Scan" for n in on_queue), json.dumps(on_queue, indent=1)
    assert any(n.get("Index Name") == "video_processing_queue_claim" for n in on_queue)
    # and the claim takes the oldest queued row, not one of the 100k finished ones
    job = queue.claim(db, worker_id="w", steps=STEPS, lease_seconds=30)
    assert job.video_id == 100001
    # the status read goes by token: an index, never a scan of the table
    status_nodes = explain(db, "job_status", {"token": "0" * 32})
    assert all(n["Node Type"] != "Seq Scan" for n in status_nodes
               if n.get("Relation Name") in ("video_processing_queue", "video_processing_archive"))


def test_finished_jobs_older_than_the_retention_move_to_the_archive(db):
    old_done, old_failed, recent, old_queued = (submit(db, f"http://example.com/{n}")
                                                for n in ("a", "b", "c", "d"))
    finish(db, old_done)
    finish(db, old_failed, fail=True)
    finish(db, recent)
    for token in (old_done, old_failed):
        age(db, token, 8)
    db.execute("UPDATE video_processing_queue SET created_at = now() - interval '30 days' WHERE token = %s",
               (old_queued,))

    pruned = maintenance.prune(db, retention_days=7, event_retention_days=90)

    assert pruned.archived == 2
    live = {r["token"] for r in db.execute("SELECT token FROM video_processing_queue")}
    assert live == {recent, old_queued}  # queued work is never archived, however old
    archived = db.execute("SELECT token, status::text, archived_at FROM video_processing_archive").fetchall()
    assert {(r["token"], r["status"]) for r in archived} == {(old_done, "done"), (old_failed, "failed")}
    # tokens keep answering, with their results; the checkpoints were not touched
    status = queue.job_status(db, old_done)
    assert status["status"] == "done" and set(status["checkpoints"]) == set(STEPS)
    assert queue.job_by_token(db, old_failed)["failure_cause"] == "boom"
    assert count(db, "step_checkpoints") == 2 * len(STEPS)
    # resubmitting an archived, finished video returns its token: nothing runs again
    assert queue.enqueue(db, source_url="http://example.com/a", normalized_url="http://example.com/a") \
        == queue.Enqueued(old_done, created=False)
    # a failed one gets a new job, which starts where the old one stopped
    again = queue.enqueue(db, source_url="http://example.com/b", normalized_url="http://example.com/b")
    assert again.created and again.token != old_failed
    # the failure of an archived job is still in the operators' view
    failures = db.execute("SELECT token FROM recent_failures WHERE kind = 'failed'").fetchall()
    assert [r["token"] for r in failures] == [old_failed]
    # a second run finds nothing more to do
    assert maintenance.prune(db, retention_days=7, event_retention_days=90) == maintenance.Pruned(0, 0)


def test_archive_works_in_batches_until_done(db):
    tokens = [submit(db, f"http://example.com/{n}") for n in range(7)]
    for token in tokens:
        finish(db, token, fail=True)
        age(db, token, 2)
    pruned = maintenance.prune(db, retention_days=1, event_retention_days=90, batch=3)
    assert pruned.archived == 7 and count(db, "video_processing_queue") == 0
    capped = [submit(db, f"http://example.com/x{n}") for n in range(5)]
    for token in capped:
        finish(db, token, fail=True)
        age(db, token, 2)
    # max_batches bounds one call's work; the next call goes on
    assert maintenance.prune(db, retention_days=1, event_retention_days=90, batch=2, max_batches=1).archived == 2
    assert maintenance.prune(db, retention_days=1, event_retention_days=90, batch=2).archived == 3


def test_events_older_than_their_retention_are_deleted(db):
    token = submit(db, "http://example.com/e")
    job = queue.job_by_token(db, token)
    db.execute("""INSERT INTO queue_events (job_id, video_id, kind, at)
                  SELECT %s, %s, 'claimed', now() - make_interval(days => g) + interval '1 hour'
                    FROM generate_series(1, 40) g""", (job["job_id"], job["video_id"]))
    before = count(db, "queue_events")
    pruned = maintenance.prune(db, retention_days=7, event_retention_days=30, batch=4)
    assert pruned.events_deleted == 10  # 31..40 days old
    assert count(db, "queue_events") == before - 10
    oldest = db.execute("SELECT max(now() - at) AS a FROM queue_events").fetchone()["a"]
    assert oldest.days < 31


def test_a_worker_archives_on_its_schedule(database_url, db, settings, exec_log):
    token = queue.enqueue(db, source_url="http://example.com/w", normalized_url="http://example.com/w",
                          options={"script": {}}).token
    worker = Worker(database_url, TABLE, steps=STEPS, name="hygiene",
                    settings=settings.replace(retention_days=0.0, prune_interval_s=0.3))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        # wait_for fails the test itself if the job is never archived
        wait_for(lambda: count(db, "video_processing_archive") == 1, timeout=20,
                 message="the worker never archived the finished job")
    finally:
        worker.stop(immediately=True)
        thread.join(timeout=10)
    assert queue.job_status(db, token)["status"] == "done"
    assert count(db, "video_processing_queue") == 0


def test_every_table_has_autovacuum_settings(db):
    rows = db.execute("""SELECT relname, reloptions FROM pg_class
                          WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'""").fetchall()
    options = {r["relname"]: dict(o.split("=", 1) for o in (r["reloptions"] or [])) for r in rows}
    assert float(options["video_processing_queue"]["autovacuum_vacuum_scale_factor"]) <= 0.02
    assert int(options["video_processing_queue"]["fillfactor"]) < 100  # room for HOT updates
    for table in ("queue_events", "step_checkpoints", "video_processing_archive"):
        assert "autovacuum_vacuum_insert_scale_factor" in options[table], table
