"""The schema: migrations apply on an empty database, are recorded where the Supabase CLI
looks, are idempotent under concurrent starters; every named query EXPLAINs."""
from __future__ import annotations

import re

import threading

import pytest

from workers.queue import sql as queries
from workers.queue.db import connect
from workers.queue.migrate import apply_migrations, discover

EXPECTED_TABLES = {"videos", "video_processing_queue", "step_checkpoints", "queue_events",
                   "step_concurrency_limits"}


def test_migrations_apply_on_an_empty_database_and_are_recorded(fresh_database):
    url = fresh_database()
    with connect(url) as conn:
        applied = apply_migrations(conn)
        assert applied == [m.version for m in discover()]
        recorded = conn.execute(
            "SELECT version, name, statements FROM supabase_migrations.schema_migrations ORDER BY version"
        ).fetchall()
        assert [r["version"] for r in recorded] == applied
        assert all(r["statements"] and r["name"] for r in recorded)
        tables = {r["tablename"] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert EXPECTED_TABLES <= tables
        assert apply_migrations(conn) == []  # idempotent


def test_concurrent_starters_apply_each_migration_once(fresh_database):
    url = fresh_database()
    results, errors = [], []

    def start():
        try:
            with connect(url) as conn:
                results.append(apply_migrations(conn))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(len(r) for r in results) == [0] * 5 + [len(discover())]


def test_row_level_security_is_enabled_on_every_table(db):
    rows = db.execute("SELECT relname, relrowsecurity FROM pg_class "
                      "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'").fetchall()
    assert {r["relname"] for r in rows} >= EXPECTED_TABLES
    assert all(r["relrowsecurity"] for r in rows), rows


def test_every_enum_is_commented_per_value(db):
    rows = db.execute("""
        SELECT t.typname, obj_description(t.oid, 'pg_type') AS comment,
               array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
          FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.oid, t.typname""").fetchall()
    assert {r["typname"] for r in rows} == {"job_status", "pipeline_step", "queue_event_kind", "webhook_delivery_state"}
    for row in rows:
        for label in row["labels"]:
            assert f"{label}:" in row["comment"], (row["typname"], label)


def test_pipeline_step_enum_is_in_pipeline_order(db):
    from workers.pipeline.table import STEPS

    labels = db.execute("SELECT enum_range(NULL::pipeline_step)::text[] AS l").fetchone()["l"]
    assert tuple(labels) == STEPS


VIEWS = {  # the columns operators (and the dashboard's saved queries) rely on
    "queue_overview": ["status", "pipeline_step", "jobs", "oldest_queued_age", "expired_leases", "waiting_backoff"],
    "recent_failures": ["at", "kind", "token", "source_url", "step", "attempt", "worker_id", "error", "message"],
    "step_durations": ["step", "completed", "p50_s", "p95_s"],
    "wasted_work": ["step", "results_dropped", "leases_rescued", "dropped_seconds"],
    "video_jobs": ["id", "video_id", "token", "status", "pipeline_step", "failure_cause", "archived_at"],
    "webhook_backlog": ["state", "event_type", "deliveries", "oldest_pending_age", "attempts"],
}


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_operator_views_answer_with_their_columns_as_the_invoker(db, view):
    columns = [d.name for d in db.execute(f"SELECT * FROM {view} LIMIT 0").description]
    assert [c for c in columns if c in VIEWS[view]] == VIEWS[view]
    options = db.execute("SELECT reloptions FROM pg_class WHERE relname = %s", (view,)).fetchone()["reloptions"]
    assert "security_invoker=true" in (options or [])  # RLS of the tables applies to whoever reads it


# A value for every named parameter used in workers/queue/queries.sql.
PARAMS = {
    "source_url": "http://example.com/v", "normalized_url": "http://example.com/v", "token": "t" * 32,
    "priority": 0, "max_retries": 3, "options": "{}", "steps": ["download"], "worker_id": "w",
    "lease_seconds": 30.0, "job_id": 1, "attempt": 1, "progress": 0.5, "step": "download",
    "output": "{}", "storage_keys": [], "started_at": "2026-01-01T00:00:00Z",
    "duration_s": 1.0, "delay_seconds": 1.0, "cause": "c", "details": "{}",
    "video_id": 1, "actor": "test", "max_running": 1, "limit": 10, "continue_steps": ["transcript"],
    "retention_seconds": 86400.0, "batch": 100, "completed": True, "outcome": "retry", "key": 1,
}


@pytest.mark.parametrize("name", sorted(queries.all_queries()))
def test_every_named_query_plans_against_the_schema(db, name):
    text = queries.sql(name)
    named = set(re.findall(r"%\((\w+)\)s", text))
    assert named <= set(PARAMS), f"PARAMS lacks {named - set(PARAMS)}: the plan below would not cover them"
    db.execute("EXPLAIN " + text, PARAMS)  # raises on a statement the schema does not match


# Every write a worker makes about a row it claimed: each must go through the one fence.
FENCED = ("heartbeat", "set_progress", "complete_step", "end_attempt")


@pytest.mark.parametrize("name", FENCED)
def test_every_worker_write_is_fenced_by_the_lease(name):
    text = " ".join(queries.sql(name).split())
    assert re.search(r"q\.id = %\(job_id\)s AND queue_lease_holds\(q, %\(worker_id\)s, %\(attempt\)s\)", text), name


def test_the_fence_is_written_once_and_holds_only_for_the_live_lease(db):
    statements = queries.all_queries()
    spelled_out = [n for n, text in statements.items() if "lease_expires_at > now()" in text]
    assert spelled_out == []  # the fence lives in queue_lease_holds, nowhere else
    video = db.execute("INSERT INTO videos (source_url, normalized_url) VALUES ('http://x/f', 'http://x/f') "
                       "RETURNING id").fetchone()["id"]
    job = db.execute("""INSERT INTO video_processing_queue (video_id, token, status, locked_by, attempt, lease_expires_at)
                        VALUES (%s, 'fence-token', 'running', 'w1', 3, now() + interval '1 minute')
                        RETURNING id""", (video,)).fetchone()["id"]

    def holds(worker, attempt, expires="now() + interval '1 minute'", status="running"):
        db.execute(f"UPDATE video_processing_queue SET lease_expires_at = {expires}, status = %s WHERE id = %s",
                   (status, job))
        return db.execute("SELECT queue_lease_holds(q, %s, %s) AS ok FROM video_processing_queue q WHERE id = %s",
                          (worker, attempt, job)).fetchone()["ok"]
    assert holds("w1", 3)
    assert not holds("w2", 3) and not holds("w1", 2) and not holds("w1", 4)
    assert not holds("w1", 3, expires="now() - interval '1 second'")
    assert not holds("w1", 3, expires="NULL", status="queued")
    assert holds("w1", 3)
