-- The webhook outbox's statements, by name (workers/pipeline/webhooks/store.py).

-- name: lock_job
-- Taken before subscribe, in its transaction: the job's row (live, or else archived), so
-- that subscribe's own snapshot sees every subscription committed before it (the cap holds)
-- and the job's latest status (a move to done or failed either committed before -- then
-- subscribe writes the delivery -- or waits for this transaction, and its trigger does).
SELECT q.id FROM video_processing_queue q WHERE q.token = %(token)s FOR UPDATE;

-- name: lock_archived_job
SELECT a.id FROM video_processing_archive a WHERE a.token = %(token)s FOR UPDATE;

-- name: subscribe
-- A submitter's callback for a job, at most %(most)s per job. Returns the subscription's
-- public id (a new one, or the existing one of this callback URL), or NULL when the job has
-- %(most)s other subscriptions already. A job already done or failed gets its delivery now.
WITH job AS (
    SELECT q.id, q.status FROM video_processing_queue q WHERE q.token = %(token)s
    UNION ALL
    SELECT a.id, a.status FROM video_processing_archive a
     WHERE a.token = %(token)s AND NOT EXISTS (SELECT 1 FROM video_processing_queue q WHERE q.token = %(token)s)
), existing AS (
    SELECT s.public_id FROM webhook_subscriptions s JOIN job ON job.id = s.job_id
     WHERE s.callback_url = %(callback_url)s
), sub AS (
    INSERT INTO webhook_subscriptions (job_id, callback_url, receiver)
    SELECT job.id, %(callback_url)s, %(receiver)s FROM job
     WHERE NOT EXISTS (SELECT 1 FROM existing)
       AND (SELECT count(*) FROM webhook_subscriptions s WHERE s.job_id = job.id) < %(most)s
    ON CONFLICT (job_id, callback_url) DO NOTHING
    RETURNING id, job_id, public_id
), late AS (
    INSERT INTO webhook_deliveries (subscription_id, job_id, event_type)
    SELECT sub.id, sub.job_id, 'video.' || job.status::text
      FROM sub JOIN job ON job.id = sub.job_id
     WHERE job.status IN ('done', 'failed')
    RETURNING id
)
SELECT coalesce((SELECT public_id FROM sub), (SELECT public_id FROM existing)) AS public_id,
       EXISTS (SELECT 1 FROM sub) AS created, (SELECT count(*) FROM late) AS due_now;

-- name: lock_claims
-- Taken before claim_deliveries, in its transaction: claims are made one at a time across
-- the fleet, so each sees every attempt already in flight (two dispatchers never start on
-- one receiver at once).
SELECT pg_advisory_xact_lock(%(key)s);

-- name: claim_deliveries
-- Up to %(limit)s due deliveries, leased to this dispatcher (an expired lease is due again):
-- the oldest due one of each receiver that has no attempt in flight (a live lease), oldest
-- first. So one receiver holds at most one dispatcher thread, however slow it answers.
WITH busy AS (
    SELECT DISTINCT s.receiver
      FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
     WHERE d.state = 'pending' AND d.locked_by IS NOT NULL AND d.lease_expires_at >= now()
), oldest AS (
    SELECT DISTINCT ON (s.receiver) d.id, d.next_attempt_at
      FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
     WHERE d.state = 'pending' AND d.next_attempt_at <= now()
       AND (d.lease_expires_at IS NULL OR d.lease_expires_at < now())
       AND s.receiver NOT IN (SELECT receiver FROM busy)
     ORDER BY s.receiver, d.next_attempt_at, d.id
), due AS (
    SELECT d.id
      FROM webhook_deliveries d JOIN oldest o ON o.id = d.id
     WHERE d.state = 'pending' AND (d.lease_expires_at IS NULL OR d.lease_expires_at < now())
     ORDER BY o.next_attempt_at, o.id
     LIMIT %(limit)s
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
   SET locked_by = %(worker_id)s,
       lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
       attempts = d.attempts + 1
  FROM due
 WHERE d.id = due.id
RETURNING d.id, d.message_id, d.event_type, d.attempts, d.job_id,
          (SELECT s.callback_url FROM webhook_subscriptions s WHERE s.id = d.subscription_id) AS callback_url,
          (SELECT s.receiver FROM webhook_subscriptions s WHERE s.id = d.subscription_id) AS receiver,
          (SELECT j.token FROM video_jobs j WHERE j.id = d.job_id) AS token;

-- name: finish_delivery
-- The outcome of one attempt, fenced by its lease (this dispatcher, this attempt, not
-- expired): delivered, retry (after %(delay_seconds)s) or failed. Zero rows: the lease was
-- lost (another dispatcher may have the delivery): the outcome is dropped.
UPDATE webhook_deliveries d
   SET state = CASE %(outcome)s WHEN 'delivered' THEN 'delivered' WHEN 'failed' THEN 'failed'
                                ELSE 'pending' END::webhook_delivery_state,
       next_attempt_at = CASE WHEN %(outcome)s = 'retry' THEN now() + make_interval(secs => %(delay_seconds)s)
                              ELSE d.next_attempt_at END,
       delivered_at = CASE WHEN %(outcome)s = 'delivered' THEN now() END,
       last_status = %(last_status)s,
       last_error = %(last_error)s,
       locked_by = NULL,
       lease_expires_at = NULL
 WHERE d.id = %(id)s AND d.state = 'pending' AND d.locked_by = %(worker_id)s AND d.attempts = %(attempt)s
   AND d.lease_expires_at > now()
   AND %(outcome)s IN ('delivered', 'retry', 'failed')
RETURNING d.id;

-- name: deliveries_for_subscription
-- What the status response shows a subscriber of its own webhook (never the callback URL's
-- path or query, nor any other subscription): one row per event, or one row of NULLs when
-- no event is due yet; no row when %(public_id)s is no subscription of this token's job.
SELECT d.event_type AS event, d.state::text AS state, d.attempts, d.last_status,
       CASE WHEN d.state = 'pending' THEN d.next_attempt_at END AS next_attempt_at, d.delivered_at,
       s.callback_url
  FROM webhook_subscriptions s
  JOIN video_jobs j ON j.id = s.job_id
  LEFT JOIN webhook_deliveries d ON d.subscription_id = s.id
 WHERE j.token = %(token)s AND s.public_id = %(public_id)s
 ORDER BY d.id;
