-- ClipQueue queue hygiene: finished jobs leave the hot table for an archive after a
-- retention period, old events are pruned, and each table has autovacuum settings suited
-- to how it is written. A 'result_dropped' event records work that finished but whose
-- result was refused because its lease had been lost (wasted work, visible to operators).
-- Never edit this file once merged: add a new migration instead.

-- ---------------------------------------------------------------- events: wasted work
ALTER TYPE queue_event_kind ADD VALUE IF NOT EXISTS 'result_dropped';
COMMENT ON TYPE queue_event_kind IS
    'enqueued: a new submission created the job; claimed: a worker took a queued job; '
    'rescued: a worker took a job whose previous lease had expired; '
    'succeeded: a step finished and its checkpoint was written; '
    'retry_scheduled: transient error, the same step runs again later; '
    'released: a worker shut down and gave the step back; '
    'failed: permanent error or retries exhausted; cancelled: cancellation took effect; '
    'result_dropped: a step ran to its end but its lease was lost, so its result was refused';

-- ---------------------------------------------------------------- archive
-- Same columns, same order as video_processing_queue (archive_finished relies on it; a
-- migration that adds a column to the queue adds it here too), plus archived_at.
CREATE TABLE video_processing_archive (
    LIKE video_processing_queue INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    archived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX video_processing_archive_token_key ON video_processing_archive (token);
CREATE INDEX video_processing_archive_video ON video_processing_archive (video_id);
COMMENT ON TABLE video_processing_archive IS
    'Finished (done/failed/cancelled) jobs moved out of video_processing_queue after '
    'CLIPQUEUE_RETENTION_DAYS; their tokens keep answering. Written by archive_finished.';
ALTER TABLE video_processing_archive ENABLE ROW LEVEL SECURITY;

-- Checkpoints and events outlive the queue row they came from (the checkpoints are the
-- product; events are pruned on their own schedule), so they no longer cascade from it.
ALTER TABLE step_checkpoints DROP CONSTRAINT step_checkpoints_job_id_fkey;
ALTER TABLE queue_events DROP CONSTRAINT queue_events_job_id_fkey;

-- Finds what to archive without touching the active rows.
CREATE INDEX video_processing_queue_finished
    ON video_processing_queue (finished_at)
    WHERE status IN ('done', 'failed', 'cancelled');
-- Events are appended in time order: a BRIN index on "at" costs almost nothing to keep.
CREATE INDEX queue_events_at_brin ON queue_events USING brin (at);

-- ---------------------------------------------------------------- autovacuum
-- The queue table is small and updated constantly (claims, heartbeats, advances): leave
-- room on each page for HOT updates and vacuum after a small fraction of dead rows.
ALTER TABLE video_processing_queue SET (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 200,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 1
);
-- Append-only tables: vacuum on inserts (visibility map, index-only scans), analyze often
-- enough that the planner knows their size; pruning makes dead rows in batches.
ALTER TABLE queue_events SET (
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.05
);
ALTER TABLE step_checkpoints SET (
    autovacuum_vacuum_insert_scale_factor = 0.1,
    autovacuum_analyze_scale_factor = 0.05
);
ALTER TABLE video_processing_archive SET (
    autovacuum_vacuum_insert_scale_factor = 0.1,
    autovacuum_analyze_scale_factor = 0.05
);

-- ---------------------------------------------------------------- views
-- Failures stay visible for their archived jobs too.
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
JOIN (SELECT id, token FROM video_processing_queue
      UNION ALL
      SELECT id, token FROM video_processing_archive) q ON q.id = e.job_id
JOIN videos v ON v.id = e.video_id
WHERE e.kind IN ('failed', 'retry_scheduled')
  AND e.at > now() - interval '7 days'
ORDER BY e.at DESC;

CREATE VIEW wasted_work WITH (security_invoker = true) AS
SELECT
    e.step,
    count(*) FILTER (WHERE e.kind::text = 'result_dropped')         AS results_dropped,
    count(*) FILTER (WHERE e.kind::text = 'rescued')                AS leases_rescued,
    coalesce(sum((e.details ->> 'duration_s')::float8)
             FILTER (WHERE e.kind::text = 'result_dropped'), 0)     AS dropped_seconds
FROM queue_events e
WHERE e.at > now() - interval '24 hours'
  -- compared as text: an enum value added in this same transaction cannot be used yet
  AND e.kind::text IN ('result_dropped', 'rescued')
GROUP BY e.step;
COMMENT ON VIEW wasted_work IS
    'Last 24 hours, per step: finished results refused after a lost lease (and their run '
    'time), and expired leases that another worker had to take over.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON video_processing_archive, wasted_work FROM anon, authenticated;
    END IF;
END $$;
