-- Webhooks: a client that submits a video with a callback_url is told, by a signed POST
-- (Standard Webhooks), when it is done or has failed for good.
--
-- webhook_subscriptions: who wants to hear about a job (one row per job x callback URL;
--   several submitters of one URL each get their own).
-- webhook_deliveries: the outbox. A row is written in the same transaction as the job's move
--   to done or failed (the trigger below), so no event is lost between the two; deliverers
--   claim due rows with FOR UPDATE SKIP LOCKED under a lease, POST, and record the outcome.
--   The event body is built at delivery time from the job's status (the status response).
-- Never edit this file once merged: add a new migration instead.

CREATE TYPE webhook_delivery_state AS ENUM (
    'pending',    -- due at next_attempt_at (claimed while lease_expires_at is in the future)
    'delivered',  -- the receiver answered 2xx
    'failed'      -- gave up: attempts spent, the receiver answered 410 Gone, or the address is refused
);
COMMENT ON TYPE webhook_delivery_state IS
    'pending: due at next_attempt_at (claimed while lease_expires_at is in the future); '
    'delivered: the receiver answered 2xx; '
    'failed: attempts spent, the receiver answered 410 Gone, or its address is refused';

CREATE TABLE webhook_subscriptions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id        bigint      NOT NULL,  -- video_processing_queue.id (kept when the job is archived)
    callback_url  text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, callback_url)
);
COMMENT ON TABLE webhook_subscriptions IS 'Callback URLs that want to hear when a job is done or has failed.';

CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id       text        NOT NULL UNIQUE DEFAULT 'msg_' || replace(gen_random_uuid()::text, '-', ''),
    subscription_id  bigint      NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    job_id           bigint      NOT NULL,
    event_type       text        NOT NULL,  -- video.done | video.failed
    state            webhook_delivery_state NOT NULL DEFAULT 'pending',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_by        text,
    lease_expires_at timestamptz,
    last_status      integer,     -- the receiver's last HTTP status
    last_error       text,        -- why the last attempt failed
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id);
COMMENT ON TABLE webhook_deliveries IS 'The webhook outbox: one row per event x subscription, with its delivery state.';

-- The outbox rows of a job that just became done or failed, in the same transaction.
CREATE FUNCTION webhook_enqueue_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (subscription_id, job_id, event_type)
    SELECT s.id, NEW.id, 'video.' || NEW.status::text
      FROM webhook_subscriptions s
     WHERE s.job_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_events AFTER UPDATE OF status ON video_processing_queue
    FOR EACH ROW
    WHEN (NEW.status IN ('done', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION webhook_enqueue_events();

CREATE VIEW webhook_backlog WITH (security_invoker = true) AS
SELECT d.state, d.event_type, count(*) AS deliveries,
       max(now() - d.created_at) FILTER (WHERE d.state = 'pending') AS oldest_pending_age,
       sum(d.attempts) AS attempts
  FROM webhook_deliveries d
 GROUP BY d.state, d.event_type;
COMMENT ON VIEW webhook_backlog IS 'Webhook deliveries by state x event type, the oldest pending age and attempts so far.';

ALTER TABLE webhook_subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries SET (autovacuum_vacuum_scale_factor = 0.05, fillfactor = 90);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON webhook_subscriptions, webhook_deliveries, webhook_backlog FROM anon, authenticated;
    END IF;
END $$;
