-- Resumable uploads (tus 1.0: core, creation, termination, expiration) at /public/uploads.
-- The bytes go to storage as chunk objects (uploads/<id>/<offset>), so API processes on
-- several machines can each take parts of one upload; this row is the upload's truth. A
-- PATCH first takes the writer lease with a conditional UPDATE (the row lock decides: one
-- PATCH wins, a concurrent one gets 409), streams its chunk with no transaction open, and
-- moves the offset with an UPDATE fenced by that lease.
-- Never edit this file once merged: add a new migration instead.

CREATE TABLE uploads (
    id              text        PRIMARY KEY,              -- 192 random bits, URL-safe
    length          bigint      NOT NULL CHECK (length >= 0),
    received        bigint      NOT NULL DEFAULT 0,       -- tus Upload-Offset
    filename        text,
    options         jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- clip options from Upload-Metadata
    callback_url    text,
    chunks          bigint[]    NOT NULL DEFAULT '{}',     -- offsets of the stored chunk objects, in order
    writer          text,                                 -- the PATCH holding the writer lease
    writer_until    timestamptz,
    video_token     text,                                 -- the job made from the finished upload
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    CHECK (received <= length)
);
CREATE INDEX uploads_expiry ON uploads (expires_at) WHERE video_token IS NULL;
COMMENT ON TABLE uploads IS 'Resumable (tus) uploads in progress or finished; chunks live in storage under uploads/<id>/.';

ALTER TABLE uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE uploads SET (fillfactor = 80);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON uploads FROM anon, authenticated;
    END IF;
END $$;
