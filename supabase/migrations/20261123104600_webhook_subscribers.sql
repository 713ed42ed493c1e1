-- Webhooks, round 3 (issue 19): a subscriber sees its own deliveries, and no one else's.
--
-- A video's token is shared by everyone who submitted its URL, so the token alone cannot say
-- whose callback is whose. webhook_subscriptions.public_id is the subscriber's own handle
-- ("wh_" + 32 hex digits, random), handed out with the submission that subscribed (in its
-- body and in its status_url); the status read shows the deliveries of the subscription it
-- names (?webhook=...), never the others' nor their hosts. A video has at most
-- CLIPQUEUE_WEBHOOK_MAX_PER_VIDEO subscriptions (the API counts them under the job's row lock).
-- Never edit this file once merged: add a new migration instead.

ALTER TABLE webhook_subscriptions
    ADD COLUMN public_id text NOT NULL DEFAULT 'wh_' || replace(gen_random_uuid()::text, '-', '');

ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_public_id_key UNIQUE (public_id);

COMMENT ON COLUMN webhook_subscriptions.public_id IS
    'The subscriber''s handle (random): the status read shows a caller only the deliveries of the subscription it names.';
