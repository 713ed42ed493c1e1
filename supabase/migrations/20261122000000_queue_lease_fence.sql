-- The lease fence, written once: every write a worker makes about a row it claimed
-- (heartbeat, progress, checkpoint + advance, retry, failure, release) carries
--     q.id = %(job_id)s AND queue_lease_holds(q, %(worker_id)s, %(attempt)s)
-- in its WHERE. Zero rows means the lease was lost: the worker drops its result.
-- A plain SQL function: the planner inlines it, so the fence costs what the expression does.
-- It is a pure function of its arguments and the clock, so granting it to any role reveals
-- nothing; no grant changes are needed.
-- Never edit this file once merged: add a new migration instead.

CREATE FUNCTION queue_lease_holds(q video_processing_queue, worker_id text, attempt integer)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT $1.status = 'running' AND $1.locked_by = $2 AND $1.attempt = $3 AND $1.lease_expires_at > now()
$$;
COMMENT ON FUNCTION queue_lease_holds(video_processing_queue, text, integer) IS
    'The lease fence: the row is running, claimed by this worker, at this attempt, and the lease has not expired.';

-- The first migration said a cancelled job is "never claimed again"; an operator can requeue
-- it (python -m workers requeue), which the type's comment now says.
COMMENT ON TYPE job_status IS
    'queued: waiting for a worker (run_after says from when); '
    'running: claimed, a worker holds the lease until lease_expires_at; '
    'done: every step checkpointed; '
    'failed: permanent error or retries exhausted, failure_cause says why; '
    'cancelled: cancellation took effect, not claimed again unless an operator requeues it';
