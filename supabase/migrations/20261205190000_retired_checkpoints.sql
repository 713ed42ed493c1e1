-- Running a finished video again with other options (issue 17 §3: `workers process` on the
-- same file with another clip band, count, aspect or captions).
--
-- A checkpoint is write-once: it is never updated, and a step with one never runs again.
-- To make a finished video's clips again with other options, the checkpoints that depend on
-- the options (clip_lookup and/or clip_generation) are retired: moved, unchanged, into this
-- append-only table in the same statement that queues the job again from that step
-- (workers/queue/queries.sql: rerun_from; only a job that is done, so no worker holds it).
-- The checkpoints that do not depend on the options (download, transcript, content_type)
-- stay where they are and are reused.
-- Never edit this file once merged: add a new migration instead.

CREATE TABLE step_checkpoints_retired (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    video_id      bigint        NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    step          pipeline_step NOT NULL,
    job_id        bigint        NOT NULL,
    output        jsonb         NOT NULL,
    storage_keys  text[]        NOT NULL,
    attempt       integer       NOT NULL,
    worker_id     text          NOT NULL,
    started_at    timestamptz   NOT NULL,
    finished_at   timestamptz   NOT NULL,
    retired_at    timestamptz   NOT NULL DEFAULT now(),
    options       jsonb         NOT NULL  -- the job's options the checkpoint was made with
);
CREATE INDEX step_checkpoints_retired_video ON step_checkpoints_retired (video_id, step);
COMMENT ON TABLE step_checkpoints_retired IS
    'Checkpoints retired when a finished video was run again with other options (append-only).';

CREATE FUNCTION step_checkpoints_retired_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'step_checkpoints_retired is append-only';
END $$;
CREATE TRIGGER step_checkpoints_retired_no_update BEFORE UPDATE ON step_checkpoints_retired
    FOR EACH ROW EXECUTE FUNCTION step_checkpoints_retired_append_only();

ALTER TABLE step_checkpoints_retired ENABLE ROW LEVEL SECURITY;
