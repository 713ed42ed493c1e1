-- video_jobs: every job, live (video_processing_queue) or archived (video_processing_archive),
-- as one relation. The status reads, the dropped-result record and recent_failures look
-- jobs up here by token or id, instead of each spelling out the union. Lookups by token
-- or id reach both tables' indexes (the predicate is pushed into each branch).
-- A migration that adds a column to the queue adds it to the archive and here too.
-- Never edit this file once merged: add a new migration instead.

CREATE VIEW video_jobs WITH (security_invoker = true) AS
SELECT id, video_id, token, status, pipeline_step, retry, max_retries, priority, run_after,
       attempt, locked_by, lease_expires_at, heartbeat_at, step_started_at, step_progress,
       failure_cause, failure_details, cancel_requested, options, created_at, updated_at,
       finished_at, NULL::timestamptz AS archived_at
  FROM video_processing_queue
UNION ALL
SELECT id, video_id, token, status, pipeline_step, retry, max_retries, priority, run_after,
       attempt, locked_by, lease_expires_at, heartbeat_at, step_started_at, step_progress,
       failure_cause, failure_details, cancel_requested, options, created_at, updated_at,
       finished_at, archived_at
  FROM video_processing_archive;
COMMENT ON VIEW video_jobs IS
    'Every job, live or archived (archived_at set): the queue table plus its archive.';

CREATE OR REPLACE VIEW recent_failures WITH (security_invoker = true) AS
SELECT
    e.at,
    e.kind,
    q.token,
    v.source_url,
    e.step,
    e.attempt,
    e.worker_id,
    e.error,
    e.details ->> 'message' AS message
FROM queue_events e
JOIN video_jobs q ON q.id = e.job_id
JOIN videos v ON v.id = e.video_id
WHERE e.kind IN ('failed', 'retry_scheduled')
  AND e.at > now() - interval '7 days'
ORDER BY e.at DESC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON video_jobs FROM anon, authenticated;
    END IF;
END $$;
