-- ClipQueue queue core: videos, the processing queue, write-once step checkpoints,
-- an append-only event log, fleet-wide step concurrency limits and operator views.
-- Never edit this file once merged: add a new migration instead.

-- ---------------------------------------------------------------- enums
CREATE TYPE job_status AS ENUM (
    'queued',     -- waiting for a worker (run_after says from when)
    'running',    -- claimed; a worker holds the lease until lease_expires_at
    'done',       -- every step checkpointed; the result is the last checkpoint
    'failed',     -- permanent error or retries exhausted; failure_cause says why
    'cancelled'   -- an operator cancelled it; never claimed again
);
COMMENT ON TYPE job_status IS
    'queued: waiting for a worker (run_after says from when); '
    'running: claimed, a worker holds the lease until lease_expires_at; '
    'done: every step checkpointed; '
    'failed: permanent error or retries exhausted, failure_cause says why; '
    'cancelled: an operator cancelled it, never claimed again';

CREATE TYPE pipeline_step AS ENUM (
    'download',        -- fetch the media with yt-dlp into storage
    'transcript',      -- Whisper transcript with word timestamps (GPU workers)
    'content_type',    -- LLM: what kind of video this is
    'clip_lookup',     -- LLM: the most insightful moments, snapped to word times
    'clip_generation'  -- ffmpeg: cut the clips, write captions and thumbnails
);
COMMENT ON TYPE pipeline_step IS
    'The steps in pipeline order (enum order is pipeline order). '
    'download: fetch the media with yt-dlp into storage; '
    'transcript: Whisper transcript with word timestamps; '
    'content_type: LLM classification of the video; '
    'clip_lookup: LLM picks the clips, snapped to word times; '
    'clip_generation: ffmpeg cuts the clips, captions and thumbnails';

CREATE TYPE queue_event_kind AS ENUM (
    'enqueued',        -- a new submission created the job
    'claimed',         -- a worker took a queued job
    'rescued',         -- a worker took a job whose previous lease had expired
    'succeeded',       -- a step finished and its checkpoint was written
    'retry_scheduled', -- a transient error; the same step runs again after a delay
    'released',        -- a worker shut down and gave the step back without an error
    'failed',          -- permanent error or retries exhausted
    'cancelled'        -- cancellation took effect
);
COMMENT ON TYPE queue_event_kind IS
    'enqueued: a new submission created the job; claimed: a worker took a queued job; '
    'rescued: a worker took a job whose previous lease had expired; '
    'succeeded: a step finished and its checkpoint was written; '
    'retry_scheduled: transient error, the same step runs again later; '
    'released: a worker shut down and gave the step back; '
    'failed: permanent error or retries exhausted; cancelled: cancellation took effect';

-- ---------------------------------------------------------------- videos
CREATE TABLE videos (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_url      text        NOT NULL,          -- the URL exactly as submitted
    normalized_url  text        NOT NULL UNIQUE,   -- the identity used for idempotent enqueue
    title           text,
    duration_s      double precision,
    created_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE videos IS 'One row per distinct source (normalized URL).';

-- ---------------------------------------------------------------- queue
CREATE TABLE video_processing_queue (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    video_id          bigint        NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    token             text          NOT NULL,        -- public handle, >= 128 random bits
    status            job_status    NOT NULL DEFAULT 'queued',
    pipeline_step     pipeline_step NOT NULL DEFAULT 'download',
    retry             integer       NOT NULL DEFAULT 0 CHECK (retry >= 0),  -- failed tries of the current step
    max_retries       integer       NOT NULL DEFAULT 5 CHECK (max_retries >= 0),
    priority          smallint      NOT NULL DEFAULT 0,  -- higher first
    run_after         timestamptz   NOT NULL DEFAULT now(),
    attempt           integer       NOT NULL DEFAULT 0,  -- claims so far: the lease's fencing number
    locked_by         text,
    lease_expires_at  timestamptz,
    heartbeat_at      timestamptz,
    step_started_at   timestamptz,
    step_progress     real CHECK (step_progress BETWEEN 0 AND 1),  -- within the current step
    failure_cause     text,
    failure_details   jsonb,
    cancel_requested  boolean       NOT NULL DEFAULT false,
    options           jsonb         NOT NULL DEFAULT '{}'::jsonb,  -- per-request options for the steps
    created_at        timestamptz   NOT NULL DEFAULT now(),
    updated_at        timestamptz   NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CONSTRAINT running_has_lease CHECK (
        status <> 'running' OR (locked_by IS NOT NULL AND lease_expires_at IS NOT NULL))
);
COMMENT ON TABLE video_processing_queue IS
    'One row per submission; workers claim rows with FOR UPDATE SKIP LOCKED (workers/queries.sql).';
COMMENT ON COLUMN video_processing_queue.attempt IS
    'Incremented by every claim; every worker write is fenced on (locked_by, attempt, unexpired lease).';

CREATE UNIQUE INDEX video_processing_queue_token_key ON video_processing_queue (token);
-- At most one live (queued/running/done) job per video: enqueue is idempotent through it.
CREATE UNIQUE INDEX video_processing_queue_one_live_job
    ON video_processing_queue (video_id) WHERE status IN ('queued', 'running', 'done');
-- Serves the claim in its order (priority, then age): only active rows, so terminal
-- history never slows it down, and the first due row of the worker's steps ends the scan.
CREATE INDEX video_processing_queue_claim
    ON video_processing_queue (priority DESC, id)
    WHERE status IN ('queued', 'running');

-- ---------------------------------------------------------------- checkpoints (write-once)
CREATE TABLE step_checkpoints (
    video_id      bigint        NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    step          pipeline_step NOT NULL,
    job_id        bigint        NOT NULL REFERENCES video_processing_queue (id) ON DELETE CASCADE,
    output        jsonb         NOT NULL DEFAULT '{}'::jsonb,
    storage_keys  text[]        NOT NULL DEFAULT '{}',
    attempt       integer       NOT NULL,
    worker_id     text          NOT NULL,
    started_at    timestamptz   NOT NULL,
    finished_at   timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, step)
);
COMMENT ON TABLE step_checkpoints IS
    'Write-once output of each (video, step); a step with a checkpoint never runs again.';

CREATE FUNCTION step_checkpoints_write_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'step_checkpoints is write-once (video %, step %)', OLD.video_id, OLD.step;
END $$;
CREATE TRIGGER step_checkpoints_no_update BEFORE UPDATE ON step_checkpoints
    FOR EACH ROW EXECUTE FUNCTION step_checkpoints_write_once();

-- ---------------------------------------------------------------- events (append-only)
CREATE TABLE queue_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      bigint           NOT NULL REFERENCES video_processing_queue (id) ON DELETE CASCADE,
    video_id    bigint           NOT NULL,
    step        pipeline_step,
    kind        queue_event_kind NOT NULL,
    worker_id   text,
    attempt     integer,
    error       text,
    details     jsonb,
    at          timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX queue_events_job ON queue_events (job_id, id);
CREATE INDEX queue_events_failures ON queue_events (at DESC) WHERE kind IN ('failed', 'retry_scheduled');
COMMENT ON TABLE queue_events IS 'Append-only history of every queue transition.';

CREATE FUNCTION queue_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'queue_events is append-only';
END $$;
CREATE TRIGGER queue_events_no_update BEFORE UPDATE ON queue_events
    FOR EACH ROW EXECUTE FUNCTION queue_events_append_only();

-- ---------------------------------------------------------------- fleet-wide limits
CREATE TABLE step_concurrency_limits (
    step         pipeline_step PRIMARY KEY,
    max_running  integer NOT NULL CHECK (max_running >= 0)  -- 0 pauses the step fleet-wide
);
COMMENT ON TABLE step_concurrency_limits IS
    'At most max_running jobs of this step hold a live lease at once, across all workers. '
    'No row: unlimited. Enforced inside the claim.';

-- ---------------------------------------------------------------- row level security
-- The public API reaches this data through the ClipQueue server only, never through
-- Supabase's Data API: RLS on, no policies, so anon/authenticated see nothing.
ALTER TABLE videos                  ENABLE ROW LEVEL SECURITY;
ALTER TABLE video_processing_queue  ENABLE ROW LEVEL SECURITY;
ALTER TABLE step_checkpoints        ENABLE ROW LEVEL SECURITY;
ALTER TABLE queue_events            ENABLE ROW LEVEL SECURITY;
ALTER TABLE step_concurrency_limits ENABLE ROW LEVEL SECURITY;

-- ---------------------------------------------------------------- operator views
-- security_invoker: the views obey the caller's rights and RLS (Supabase exposes views
-- through the Data API otherwise).
CREATE VIEW queue_overview WITH (security_invoker = true) AS
SELECT
    q.status,
    q.pipeline_step,
    count(*)                                                          AS jobs,
    max(now() - q.created_at) FILTER (WHERE q.status = 'queued')      AS oldest_queued_age,
    count(*) FILTER (WHERE q.status = 'running' AND q.lease_expires_at < now()) AS expired_leases,
    count(*) FILTER (WHERE q.status = 'queued' AND q.run_after > now())         AS waiting_backoff
FROM video_processing_queue q
GROUP BY q.status, q.pipeline_step;
COMMENT ON VIEW queue_overview IS 'Jobs by status x step, oldest queued age, expired leases.';

CREATE VIEW recent_failures WITH (security_invoker = true) AS
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
JOIN video_processing_queue q ON q.id = e.job_id
JOIN videos v ON v.id = e.video_id
WHERE e.kind IN ('failed', 'retry_scheduled')
  AND e.at > now() - interval '7 days'
ORDER BY e.at DESC;
COMMENT ON VIEW recent_failures IS 'Failures and scheduled retries of the last 7 days, newest first.';

CREATE VIEW step_durations WITH (security_invoker = true) AS
SELECT
    c.step,
    count(*) AS completed,
    percentile_cont(0.5)  WITHIN GROUP (ORDER BY extract(epoch FROM c.finished_at - c.started_at)) AS p50_s,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM c.finished_at - c.started_at)) AS p95_s
FROM step_checkpoints c
WHERE c.finished_at > now() - interval '24 hours'
GROUP BY c.step;
COMMENT ON VIEW step_durations IS 'Step run time p50/p95 over the last 24 hours, from checkpoints.';

-- Supabase roles exist only on Supabase; keep the migration valid on plain Postgres too.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON videos, video_processing_queue, step_checkpoints, queue_events,
                      step_concurrency_limits, queue_overview, recent_failures, step_durations
            FROM anon, authenticated;
    END IF;
END $$;
