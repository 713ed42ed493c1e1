-- The queue engine's statements. Each block is one statement, referred to by name from
-- workers/queue/jobs.py (one Python function per statement), with named parameters.
-- No statement names a step: the order is the pipeline_step enum's (enum_first, enum_last,
-- enum_range), which the worker checks against its step table at start-up.
--
-- Fencing: every statement a worker runs about a row it claimed carries
--     q.id = %(job_id)s AND queue_lease_holds(q, %(worker_id)s, %(attempt)s)
-- in its WHERE (the fence, written once: migration 20261122000000). Zero rows means the
-- lease was lost: the caller drops its result. The lease is given up in one statement,
-- end_attempt (retry, failure or release), or kept by complete_step when chaining.

-- name: ping
SELECT 1 AS ok;

-- name: step_order
-- The steps in the order the statements advance a job: the worker's table must match it.
SELECT enum_range(NULL::pipeline_step)::text[] AS steps;

-- name: enqueue
-- Idempotent: a URL whose job is queued, running or done (archived or not) gets that
-- job's token back (created = false); a failed or cancelled one gets a new job that starts
-- at the first step without a checkpoint, so finished work is never redone.
WITH video AS (
    INSERT INTO videos (source_url, normalized_url)
    VALUES (%(source_url)s, %(normalized_url)s)
    ON CONFLICT (normalized_url) DO UPDATE SET normalized_url = EXCLUDED.normalized_url
    RETURNING id
), job AS (
    INSERT INTO video_processing_queue (video_id, token, priority, max_retries, options, pipeline_step)
    SELECT video.id, %(token)s, %(priority)s, %(max_retries)s, %(options)s,
           COALESCE((SELECT min(s.step)
                       FROM unnest(enum_range(NULL::pipeline_step)) AS s(step)
                      WHERE NOT EXISTS (SELECT 1 FROM step_checkpoints c
                                         WHERE c.video_id = video.id AND c.step = s.step)),
                    enum_first(NULL::pipeline_step))
      FROM video
     WHERE NOT EXISTS (SELECT 1 FROM video_processing_archive a
                        WHERE a.video_id = video.id AND a.status = 'done')
    ON CONFLICT (video_id) WHERE status IN ('queued', 'running', 'done') DO NOTHING
    RETURNING id, video_id, token, pipeline_step
), event AS (
    INSERT INTO queue_events (job_id, video_id, step, kind)
    SELECT id, video_id, pipeline_step, 'enqueued' FROM job
), wake AS (
    SELECT pg_notify('clipqueue_jobs', pipeline_step::text) FROM job
)
SELECT job.token, true AS created, (SELECT count(*) FROM wake) AS woken, %(options)s::jsonb AS options FROM job
UNION ALL
SELECT q.token, false, 0, q.options
  FROM video_processing_queue q JOIN video ON q.video_id = video.id
 WHERE q.status IN ('queued', 'running', 'done')
   AND NOT EXISTS (SELECT 1 FROM job)
UNION ALL
(SELECT a.token, false, 0, a.options
   FROM video_processing_archive a JOIN video ON a.video_id = video.id
  WHERE a.status = 'done'
    AND NOT EXISTS (SELECT 1 FROM job)
    AND NOT EXISTS (SELECT 1 FROM video_processing_queue q
                     WHERE q.video_id = video.id AND q.status IN ('queued', 'running', 'done'))
  ORDER BY a.id DESC
  LIMIT 1);

-- name: lock_step_limits
-- First statement of the claim transaction: serializes the claimers of limited steps, so
-- the claim that follows (a fresh snapshot under READ COMMITTED) counts every running row.
SELECT step, max_running
  FROM step_concurrency_limits
 WHERE step = ANY (%(steps)s::pipeline_step[])
 ORDER BY step
   FOR UPDATE;

-- name: claim
-- Takes the oldest, highest-priority due row of the worker's steps: a queued row whose
-- run_after has come, or a running row whose lease expired (a rescue, which counts as a
-- failed try). Steps at their fleet-wide limit are skipped. Returns the video's
-- checkpoints too, so the step starts without another round trip.
WITH blocked AS (
    SELECT l.step
      FROM step_concurrency_limits l
     WHERE l.step = ANY (%(steps)s::pipeline_step[])
       AND l.max_running <= (SELECT count(*)
                               FROM video_processing_queue r
                              WHERE r.status = 'running'
                                AND r.pipeline_step = l.step
                                AND r.lease_expires_at >= now())
), candidate AS (
    SELECT q.id, q.status AS previous_status
      FROM video_processing_queue q
     WHERE q.status IN ('queued', 'running')
       AND q.pipeline_step = ANY (%(steps)s::pipeline_step[])
       AND q.pipeline_step <> ALL (ARRAY(SELECT step FROM blocked))
       AND NOT q.cancel_requested
       AND CASE WHEN q.status = 'queued' THEN q.run_after <= now()
                ELSE q.lease_expires_at < now() AND q.retry < q.max_retries END
     ORDER BY q.priority DESC, q.id
     LIMIT 1
       FOR UPDATE OF q SKIP LOCKED
), claimed AS (
    UPDATE video_processing_queue q
       SET status = 'running',
           locked_by = %(worker_id)s,
           attempt = q.attempt + 1,
           retry = q.retry + (c.previous_status = 'running')::int,
           lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
           heartbeat_at = now(),
           step_started_at = now(),
           step_progress = NULL,
           updated_at = now()
      FROM candidate c
     WHERE q.id = c.id
    RETURNING q.id, q.video_id, q.token, q.pipeline_step, q.retry, q.max_retries, q.attempt,
              q.options, q.step_started_at, q.lease_expires_at, c.previous_status
), event AS (
    INSERT INTO queue_events (job_id, video_id, step, kind, worker_id, attempt)
    SELECT id, video_id, pipeline_step,
           CASE WHEN previous_status = 'running' THEN 'rescued' ELSE 'claimed' END::queue_event_kind,
           %(worker_id)s, attempt
      FROM claimed
)
SELECT c.id AS job_id, c.video_id, c.token, c.pipeline_step::text AS step, c.retry,
       c.max_retries, c.attempt, c.options, c.step_started_at, c.lease_expires_at,
       c.previous_status = 'running' AS rescued, v.source_url, v.normalized_url,
       (SELECT coalesce(jsonb_object_agg(cp.step, jsonb_build_object(
                  'output', cp.output, 'storage_keys', cp.storage_keys, 'attempt', cp.attempt,
                  'started_at', cp.started_at, 'finished_at', cp.finished_at)), '{}'::jsonb)
          FROM step_checkpoints cp WHERE cp.video_id = c.video_id) AS checkpoints
  FROM claimed c JOIN videos v ON v.id = c.video_id;

-- name: heartbeat
-- Extends the lease; tells the worker whether cancellation was requested.
UPDATE video_processing_queue q
   SET heartbeat_at = now(),
       lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
 WHERE q.id = %(job_id)s AND queue_lease_holds(q, %(worker_id)s, %(attempt)s)
RETURNING cancel_requested;

-- name: set_progress
UPDATE video_processing_queue q
   SET step_progress = %(progress)s, updated_at = now()
 WHERE q.id = %(job_id)s AND queue_lease_holds(q, %(worker_id)s, %(attempt)s)
RETURNING q.id;

-- name: complete_step
-- Checkpoint + advance in one statement (one transaction); the next step is the enum's next. The checkpoint is write-once:
-- when one exists already (a resubmission), it wins and this output is dropped.
-- Chaining: when the worker also takes the next step (continue_steps), that step has no
-- fleet-wide limit and no cancellation is pending, the worker keeps the video: the row
-- stays running under a fresh lease (attempt + 1), with a 'claimed' event, and no other
-- worker needs waking. Otherwise the row is queued for the next step and workers notified.
WITH current AS (
    SELECT q.id, n.step AS next_step,
           n.step IS NOT NULL
           AND NOT q.cancel_requested
           AND n.step = ANY (%(continue_steps)s::pipeline_step[])
           AND NOT EXISTS (SELECT 1 FROM step_concurrency_limits l WHERE l.step = n.step) AS chain
      FROM video_processing_queue q
     CROSS JOIN LATERAL (SELECT (enum_range(%(step)s::pipeline_step, NULL))[2] AS step) n
     WHERE q.id = %(job_id)s AND queue_lease_holds(q, %(worker_id)s, %(attempt)s)
       AND q.pipeline_step = %(step)s::pipeline_step
       FOR UPDATE OF q
), advanced AS (
    UPDATE video_processing_queue q
       SET pipeline_step = COALESCE(c.next_step, q.pipeline_step),
           status = CASE WHEN c.next_step IS NULL THEN 'done'
                         WHEN q.cancel_requested THEN 'cancelled'
                         WHEN c.chain THEN 'running'
                         ELSE 'queued' END::job_status,
           retry = 0,
           run_after = now(),
           attempt = q.attempt + c.chain::int,
           locked_by = CASE WHEN c.chain THEN q.locked_by END,
           lease_expires_at = CASE WHEN c.chain THEN now() + make_interval(secs => %(lease_seconds)s) END,
           heartbeat_at = CASE WHEN c.chain THEN now() END,
           step_started_at = CASE WHEN c.chain THEN now() END,
           step_progress = NULL,
           failure_cause = NULL,
           failure_details = NULL,
           updated_at = now(),
           finished_at = CASE WHEN c.next_step IS NULL OR q.cancel_requested
                              THEN now() END
      FROM current c
     WHERE q.id = c.id
    RETURNING q.id, q.video_id, q.status, q.pipeline_step, q.attempt, q.step_started_at,
              q.lease_expires_at
), checkpoint AS (
    INSERT INTO step_checkpoints (video_id, step, job_id, output, storage_keys, attempt,
                                  worker_id, started_at)
    SELECT video_id, %(step)s::pipeline_step, id, %(output)s, %(storage_keys)s, %(attempt)s,
           %(worker_id)s, %(started_at)s
      FROM advanced
    ON CONFLICT (video_id, step) DO NOTHING
    RETURNING 1
), event AS (
    INSERT INTO queue_events (job_id, video_id, step, kind, worker_id, attempt, details)
    SELECT id, video_id, %(step)s::pipeline_step, 'succeeded'::queue_event_kind, %(worker_id)s,
           %(attempt)s, jsonb_build_object('duration_s', %(duration_s)s::float8)
      FROM advanced
    UNION ALL
    SELECT id, video_id, pipeline_step,
           CASE WHEN status = 'cancelled' THEN 'cancelled' ELSE 'claimed' END::queue_event_kind,
           %(worker_id)s, attempt, NULL
      FROM advanced WHERE status IN ('cancelled', 'running')
), wake AS (
    SELECT pg_notify('clipqueue_jobs', pipeline_step::text) FROM advanced WHERE status = 'queued'
)
SELECT a.status::text AS status, a.pipeline_step::text AS step, a.attempt, a.step_started_at,
       a.lease_expires_at, (SELECT count(*) FROM checkpoint) AS checkpoint_written,
       (SELECT count(*) FROM wake) AS woken
  FROM advanced a;

-- name: end_attempt
-- The worker gives up its lease, one way of three (%(outcome)s):
--   retry:   a transient error; the same step runs again after %(delay_seconds)s;
--   fail:    a permanent error, or retries exhausted; the job ends here;
--   release: graceful shutdown or cancellation; the step is handed back untouched (no
--            retry counted), due at once.
-- A pending cancellation turns a retry or a release into 'cancelled'.
WITH ended AS (
    UPDATE video_processing_queue q
       SET status = CASE WHEN %(outcome)s = 'fail' THEN 'failed'
                         WHEN q.cancel_requested THEN 'cancelled'
                         ELSE 'queued' END::job_status,
           retry = q.retry + (%(outcome)s = 'retry')::int,
           run_after = CASE WHEN %(outcome)s = 'fail' THEN q.run_after
                            ELSE now() + make_interval(secs => %(delay_seconds)s) END,
           locked_by = NULL,
           lease_expires_at = NULL,
           heartbeat_at = NULL,
           step_started_at = CASE WHEN %(outcome)s = 'fail' THEN q.step_started_at END,
           step_progress = NULL,
           failure_cause = CASE WHEN %(outcome)s = 'release' THEN q.failure_cause ELSE %(cause)s END,
           failure_details = CASE WHEN %(outcome)s = 'release' THEN q.failure_details ELSE %(details)s END,
           updated_at = now(),
           finished_at = CASE WHEN %(outcome)s = 'fail' OR q.cancel_requested THEN now() END
     WHERE q.id = %(job_id)s AND queue_lease_holds(q, %(worker_id)s, %(attempt)s)
       AND %(outcome)s IN ('retry', 'fail', 'release')
    RETURNING q.id, q.video_id, q.pipeline_step, q.status, q.retry, q.run_after
), wake AS (
    SELECT pg_notify('clipqueue_jobs', pipeline_step::text)
      FROM ended WHERE %(outcome)s = 'release' AND status = 'queued'
), event AS (
    INSERT INTO queue_events (job_id, video_id, step, kind, worker_id, attempt, error, details)
    SELECT id, video_id, pipeline_step,
           CASE WHEN status = 'cancelled' THEN 'cancelled'
                WHEN %(outcome)s = 'retry' THEN 'retry_scheduled'
                WHEN %(outcome)s = 'fail' THEN 'failed'
                ELSE 'released' END::queue_event_kind,
           %(worker_id)s, %(attempt)s,
           CASE WHEN %(outcome)s <> 'release' THEN %(cause)s END,
           CASE WHEN %(outcome)s = 'retry'
                THEN %(details)s || jsonb_build_object('retry', retry, 'delay_s', %(delay_seconds)s::float8,
                                                       'run_after', run_after)
                WHEN %(outcome)s = 'fail' THEN %(details)s END
      FROM ended
)
SELECT id AS job_id, status::text AS status, (SELECT count(*) FROM wake) AS woken FROM ended;

-- name: reap_expired_leases
-- Ends the running rows that the claim will never take again: an expired lease on a job
-- whose cancellation was requested, or whose step has died/stalled max_retries times.
WITH reaped AS (
    UPDATE video_processing_queue q
       SET status = CASE WHEN q.cancel_requested THEN 'cancelled' ELSE 'failed' END::job_status,
           failure_cause = CASE WHEN q.cancel_requested THEN q.failure_cause
                                ELSE 'lease_expired' END,
           failure_details = CASE WHEN q.cancel_requested THEN q.failure_details
                                  ELSE jsonb_build_object(
                                       'message', format('the %%s step stopped without reporting %%s times '
                                                         '(worker killed or stalled)',
                                                         q.pipeline_step, q.retry + 1),
                                       'last_worker', q.locked_by) END,
           locked_by = NULL,
           lease_expires_at = NULL,
           heartbeat_at = NULL,
           step_progress = NULL,
           updated_at = now(),
           finished_at = now()
     WHERE q.id IN (SELECT r.id
                      FROM video_processing_queue r
                     WHERE r.status = 'running' AND r.lease_expires_at < now()
                       AND (r.cancel_requested OR r.retry >= r.max_retries)
                       FOR UPDATE SKIP LOCKED)
    RETURNING q.id, q.video_id, q.pipeline_step, q.status, q.failure_cause, q.failure_details
)
INSERT INTO queue_events (job_id, video_id, step, kind, worker_id, error, details)
SELECT id, video_id, pipeline_step, status::text::queue_event_kind, %(worker_id)s,
       failure_cause, failure_details
  FROM reaped
RETURNING job_id;

-- name: pending_work
-- For --burst: active rows that can still reach a step this worker takes.
SELECT count(*) AS pending
  FROM video_processing_queue
 WHERE status IN ('queued', 'running')
   AND pipeline_step <= (SELECT max(s) FROM unnest(%(steps)s::pipeline_step[]) AS s);

-- name: checkpoints_for_video
SELECT c.step::text AS step, c.output, c.storage_keys, c.attempt, c.worker_id, c.started_at,
       c.finished_at
  FROM step_checkpoints c
 WHERE c.video_id = %(video_id)s
 ORDER BY c.step;  -- enum order = pipeline order

-- name: job_by_token
-- A job archived after the retention period still answers (video_jobs holds both).
SELECT j.id AS job_id, j.video_id, j.token, j.status::text AS status,
       j.pipeline_step::text AS step, j.retry, j.max_retries, j.step_started_at,
       j.step_progress, j.run_after, j.failure_cause, j.failure_details, j.cancel_requested,
       j.created_at, j.updated_at, j.finished_at, v.source_url, v.title, v.duration_s
  FROM video_jobs j JOIN videos v ON v.id = j.video_id
 WHERE j.token = %(token)s;

-- name: job_status
-- The public status read in one round trip: the job (live or archived, with the options it
-- was submitted with) and, per finished step, only what the public view shows (times, LLM usage, the last step's result and
-- files) -- never whole checkpoints, which can hold a full transcript.
SELECT j.token, j.status::text AS status, j.pipeline_step::text AS step, j.retry,
       j.max_retries, j.step_started_at, j.step_progress, j.run_after, j.failure_cause,
       j.failure_details ->> 'message' AS failure_message, j.created_at, j.updated_at,
       j.finished_at, j.options, v.source_url,
       (SELECT coalesce(jsonb_object_agg(c.step, jsonb_build_object(
                  'started_at', c.started_at, 'finished_at', c.finished_at,
                  'duration_s', round(extract(epoch FROM c.finished_at - c.started_at), 3),
                  'usage', c.output -> 'usage',
                  'result', CASE WHEN c.step = enum_last(NULL::pipeline_step) THEN c.output -> 'result' END,
                  'storage_keys', CASE WHEN c.step = enum_last(NULL::pipeline_step) THEN c.storage_keys END)),
                  '{}'::jsonb)
          FROM step_checkpoints c WHERE c.video_id = j.video_id) AS checkpoints
  FROM video_jobs j JOIN videos v ON v.id = j.video_id
 WHERE j.token = %(token)s;

-- name: request_cancel
-- A queued job is cancelled at once; a running one as soon as its worker hears the NOTIFY
-- (or, if it missed it, at its next heartbeat).
WITH cancelled AS (
    UPDATE video_processing_queue q
       SET cancel_requested = true,
           status = CASE WHEN q.status = 'queued' THEN 'cancelled' ELSE q.status END,
           finished_at = CASE WHEN q.status = 'queued' THEN now() END,
           updated_at = now()
     WHERE q.token = %(token)s AND q.status IN ('queued', 'running')
    RETURNING q.id, q.video_id, q.pipeline_step, q.status
), event AS (
    INSERT INTO queue_events (job_id, video_id, step, kind, worker_id)
    SELECT id, video_id, pipeline_step, 'cancelled', %(actor)s FROM cancelled
     WHERE status = 'cancelled'
)
-- A running job's worker hears of it at once (its listener aborts the step), not at its next heartbeat.
SELECT status::text AS status,
       CASE WHEN status = 'running' THEN pg_notify('clipqueue_cancel', id::text) END AS notified
  FROM cancelled;

-- name: requeue_job
-- Operator: run a failed or cancelled job again from the step where it stopped.
WITH requeued AS (
    UPDATE video_processing_queue q
       SET status = 'queued', retry = 0, run_after = now(), cancel_requested = false,
           failure_cause = NULL, failure_details = NULL, finished_at = NULL, updated_at = now()
     WHERE q.token = %(token)s AND q.status IN ('failed', 'cancelled')
    RETURNING q.id, q.video_id, q.pipeline_step
), event AS (
    INSERT INTO queue_events (job_id, video_id, step, kind, worker_id)
    SELECT id, video_id, pipeline_step, 'enqueued', %(actor)s FROM requeued
), wake AS (
    SELECT pg_notify('clipqueue_jobs', pipeline_step::text) FROM requeued
)
SELECT pipeline_step::text AS step, (SELECT count(*) FROM wake) AS woken FROM requeued;

-- name: set_step_limit
INSERT INTO step_concurrency_limits (step, max_running)
VALUES (%(step)s::pipeline_step, %(max_running)s)
ON CONFLICT (step) DO UPDATE SET max_running = EXCLUDED.max_running
RETURNING step::text AS step, max_running;

-- name: clear_step_limit
DELETE FROM step_concurrency_limits WHERE step = %(step)s::pipeline_step
RETURNING step::text AS step;

-- name: step_limits
SELECT step::text AS step, max_running FROM step_concurrency_limits ORDER BY step;

-- name: queue_overview
SELECT status::text AS status, pipeline_step::text AS step, jobs,
       extract(epoch FROM oldest_queued_age) AS oldest_queued_s, expired_leases, waiting_backoff
  FROM queue_overview
 ORDER BY status, pipeline_step;

-- name: recent_failures
SELECT at, kind::text AS kind, token, source_url, step::text AS step, attempt, worker_id,
       error, message
  FROM recent_failures
 LIMIT %(limit)s;

-- name: record_dropped_result
-- Not fenced on purpose: the lease is already lost. Records that a step ran after its lease
-- was lost -- to its end, its result refused (completed), or until the worker noticed and
-- stopped it (not completed): the wasted work operators see in the wasted_work view.
INSERT INTO queue_events (job_id, video_id, step, kind, worker_id, attempt, details)
SELECT q.id, q.video_id, %(step)s::pipeline_step, 'result_dropped', %(worker_id)s,
       %(attempt)s, jsonb_build_object('duration_s', %(duration_s)s::float8, 'completed', %(completed)s::boolean)
  FROM video_jobs q
 WHERE q.id = %(job_id)s
RETURNING id;

-- name: outcome_written
-- After a connection dropped mid-write: did this lease's outcome commit after all? Every
-- outcome (checkpoint, retry, failure) writes an event stamped with the lease's attempt.
SELECT EXISTS (SELECT 1 FROM queue_events
                WHERE job_id = %(job_id)s AND attempt = %(attempt)s AND worker_id = %(worker_id)s
                  AND step = %(step)s::pipeline_step
                  AND kind IN ('succeeded', 'retry_scheduled', 'failed')) AS written;

-- name: archive_finished
-- Hygiene: moves up to %(batch)s finished jobs older than the retention into
-- video_processing_archive, in one statement (a reader sees each job in exactly one of
-- the two tables). SKIP LOCKED: several workers may run it at once.
WITH moved AS (
    DELETE FROM video_processing_queue q
     WHERE q.id IN (SELECT f.id
                      FROM video_processing_queue f
                     WHERE f.status IN ('done', 'failed', 'cancelled')
                       AND f.finished_at < now() - make_interval(secs => %(retention_seconds)s)
                     ORDER BY f.finished_at
                     LIMIT %(batch)s
                       FOR UPDATE SKIP LOCKED)
    RETURNING q.*
)
INSERT INTO video_processing_archive
SELECT moved.*, now() FROM moved
RETURNING id;

-- name: prune_events
-- Hygiene: deletes up to %(batch)s events older than the event retention.
DELETE FROM queue_events
 WHERE id IN (SELECT e.id FROM queue_events e
               WHERE e.at < now() - make_interval(secs => %(retention_seconds)s)
               LIMIT %(batch)s)
RETURNING id;

-- name: try_maintenance_lock
-- Maintenance election: the session that holds this advisory lock is the one process of the
-- fleet that reaps, archives and prunes. Held until its connection closes (the process
-- stops or dies), then the next process that asks takes over.
SELECT pg_try_advisory_lock(%(key)s) AS acquired;

-- name: rerun_from
-- Run a finished job again from %(step)s with other options: the checkpoints of that step and
-- of every later one are retired (moved, unchanged, into step_checkpoints_retired), the
-- earlier ones stay and are reused. Only a done job (no worker holds it, nothing can write a
-- checkpoint of it) whose options are not already these.
WITH job AS (
    UPDATE video_processing_queue q
       SET status = 'queued', pipeline_step = %(step)s::pipeline_step, options = %(options)s,
           retry = 0, run_after = now(), cancel_requested = false, failure_cause = NULL,
           failure_details = NULL, finished_at = NULL, step_progress = NULL, updated_at = now()
      FROM video_processing_queue before
     WHERE q.id = before.id AND q.token = %(token)s AND q.status = 'done'
       AND q.options IS DISTINCT FROM %(options)s::jsonb
    RETURNING q.id, q.video_id, q.pipeline_step, before.options AS old_options
), retired AS (
    DELETE FROM step_checkpoints c USING job
     WHERE c.video_id = job.video_id AND c.step >= %(step)s::pipeline_step
    RETURNING c.*, job.old_options
), kept AS (
    INSERT INTO step_checkpoints_retired (video_id, step, job_id, output, storage_keys, attempt, worker_id,
                                          started_at, finished_at, options)
    SELECT video_id, step, job_id, output, storage_keys, attempt, worker_id, started_at, finished_at, old_options
      FROM retired
), event AS (
    INSERT INTO queue_events (job_id, video_id, step, kind, worker_id, details)
    SELECT id, video_id, pipeline_step, 'enqueued', %(actor)s,
           jsonb_build_object('rerun_from', pipeline_step::text, 'options_before', old_options)
      FROM job
), wake AS (
    SELECT pg_notify('clipqueue_jobs', pipeline_step::text) FROM job
)
SELECT pipeline_step::text AS step, (SELECT count(*) FROM retired) AS retired,
       (SELECT count(*) FROM wake) AS woken
  FROM job;
