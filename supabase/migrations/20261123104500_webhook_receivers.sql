-- Webhooks, round 3 (issue 19): which receiver a subscription calls, so that one slow or
-- trickling receiver holds at most one dispatcher thread.
--
-- webhook_subscriptions.receiver: the callback URL's host[:port], lower case: the unit the
--   dispatchers take turns on (one attempt in flight per receiver across the fleet).
-- webhook_deliveries_in_flight: the leased deliveries, which every claim looks up.
-- Never edit this file once merged: add a new migration instead.

ALTER TABLE webhook_subscriptions ADD COLUMN receiver text;

UPDATE webhook_subscriptions
   SET receiver = lower(substring(callback_url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#]*)'))
 WHERE receiver IS NULL;

ALTER TABLE webhook_subscriptions ALTER COLUMN receiver SET NOT NULL;

COMMENT ON COLUMN webhook_subscriptions.receiver IS
    'The callback URL''s host[:port], lower case: at most one delivery attempt per receiver is in flight.';

CREATE INDEX webhook_deliveries_in_flight ON webhook_deliveries (lease_expires_at)
    WHERE state = 'pending' AND locked_by IS NOT NULL;
