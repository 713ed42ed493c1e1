-- Uploads, round 3 (issue 19): one row per stored chunk, and a PATCH that owns its object.
--
-- The chunk list was an array on the upload's row, rewritten whole by every PATCH (6,000
-- one-byte PATCHes: a 49 MB row, 4.6 -> 26.4 ms each). Each chunk is now a row of its own in
-- upload_chunks, inserted by the statement that moves the offset on. A chunk's object key is
-- unique to the PATCH that wrote it (uploads/<id>/<start>.<attempt>), so a PATCH that lost its
-- lease never touches another's bytes; uploads.writer_key names the object the current writer
-- is storing and has not published yet, so whoever ends that upload (DELETE, expiry, a
-- takeover of a dead writer) can remove it. Chunks stored before this migration keep their
-- old key (uploads/<id>/<start>, attempt '').
-- Never edit this file once merged: add a new migration instead.

CREATE TABLE upload_chunks (
    upload_id   text   NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    start       bigint NOT NULL CHECK (start >= 0),   -- the chunk's Upload-Offset
    size        bigint NOT NULL CHECK (size > 0),
    attempt     text   NOT NULL,                      -- the PATCH's own suffix of the object key
    PRIMARY KEY (upload_id, start)
);
COMMENT ON TABLE upload_chunks IS 'The stored chunks of each upload, in order of start; objects under uploads/<id>/.';

ALTER TABLE upload_chunks ENABLE ROW LEVEL SECURITY;

INSERT INTO upload_chunks (upload_id, start, size, attempt)
SELECT c.id, c.start, c.next_start - c.start, ''
  FROM (SELECT u.id, s.start, lead(s.start, 1, u.received) OVER (PARTITION BY u.id ORDER BY s.start) AS next_start
          FROM uploads u, unnest(u.chunks) AS s(start)) c
 WHERE c.next_start > c.start;

ALTER TABLE uploads DROP COLUMN chunks;
ALTER TABLE uploads ADD COLUMN writer_key text;  -- the object the writer stores now, not published yet
COMMENT ON COLUMN uploads.writer_key IS 'The object key the PATCH holding the writer lease is storing (unpublished).';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON upload_chunks FROM anon, authenticated;
    END IF;
END $$;
