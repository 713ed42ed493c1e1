-- The uploads' statements, by name (workers/pipeline/uploads/store.py).

-- name: create_upload
INSERT INTO uploads (id, length, filename, options, callback_url, expires_at)
VALUES (%(id)s, %(length)s, %(filename)s, %(options)s, %(callback_url)s,
        now() + make_interval(secs => %(ttl_seconds)s))
RETURNING id, length, received, expires_at;

-- name: get_upload
SELECT id, length, received, filename, options, callback_url, video_token, expires_at, writer,
       expires_at < now() AS expired
  FROM uploads WHERE id = %(id)s;

-- name: take_writer
-- A PATCH at %(offset)s becomes the writer, storing under %(key)s, unless the offset moved on
-- or another PATCH writes now (its lease not expired, its process not known gone: %(gone)s
-- names a writer whose process is gone): zero rows, and the caller answers 409. stale_key is
-- the object the writer it replaces was storing and never published (the row is locked first,
-- so it is the value this UPDATE overwrites).
UPDATE uploads u
   SET writer = %(writer)s, writer_key = %(key)s, updated_at = now(),
       writer_until = now() + make_interval(secs => %(lease_seconds)s)
  FROM (SELECT o.id, o.writer_key FROM uploads o WHERE o.id = %(id)s FOR UPDATE) old
 WHERE u.id = old.id AND u.received = %(offset)s AND u.expires_at > now() AND u.video_token IS NULL
   AND (u.writer IS NULL OR u.writer_until < now() OR u.writer = %(gone)s)
RETURNING u.id, u.length, u.received, old.writer_key AS stale_key;

-- name: renew_writer
-- Bytes keep arriving: the writer's lease is pushed on (zero rows: it was taken over).
UPDATE uploads SET writer_until = now() + make_interval(secs => %(lease_seconds)s)
 WHERE id = %(id)s AND writer = %(writer)s
RETURNING id;

-- name: add_chunk
-- The writer's chunk is stored: one row for it, the offset moves on, the lease ends, the
-- expiry is pushed. Zero rows when the writer no longer holds the lease or the offset moved.
WITH moved AS (
    UPDATE uploads u
       SET received = u.received + %(size)s, writer = NULL, writer_until = NULL, writer_key = NULL,
           updated_at = now(), expires_at = now() + make_interval(secs => %(ttl_seconds)s)
     WHERE u.id = %(id)s AND u.writer = %(writer)s AND u.received = %(offset)s
       AND u.received + %(size)s <= u.length
    RETURNING u.id, u.received, u.length, u.expires_at
), added AS (
    INSERT INTO upload_chunks (upload_id, start, size, attempt)
    SELECT m.id, %(offset)s, %(size)s, %(attempt)s FROM moved m
)
SELECT m.received, m.length, m.expires_at FROM moved m;

-- name: release_writer
UPDATE uploads SET writer = NULL, writer_until = NULL, writer_key = NULL
 WHERE id = %(id)s AND writer = %(writer)s
RETURNING id;

-- name: upload_chunks
-- The stored chunks, in order: [[start, attempt], ...] (the object keys' parts).
SELECT coalesce(jsonb_agg(jsonb_build_array(c.start, c.attempt) ORDER BY c.start), '[]'::jsonb) AS chunks
  FROM upload_chunks c WHERE c.upload_id = %(id)s;

-- name: finish_upload
-- The last byte arrived: the video's token is recorded once (a repeat keeps the first).
UPDATE uploads SET video_token = coalesce(video_token, %(token)s), updated_at = now()
 WHERE id = %(id)s AND received = length
RETURNING video_token;

-- name: delete_upload
-- An unfinished upload goes, with its chunk rows (ON DELETE CASCADE); the caller removes the
-- objects returned: the chunks (read in this statement's snapshot) and the writer's unpublished one.
WITH gone AS (
    DELETE FROM uploads WHERE id = %(id)s AND video_token IS NULL RETURNING id, writer_key
)
SELECT g.id, g.writer_key,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(c.start, c.attempt) ORDER BY c.start), '[]'::jsonb)
          FROM upload_chunks c WHERE c.upload_id = g.id) AS chunks
  FROM gone g;

-- name: expired_uploads
-- Hygiene: unfinished uploads past their expiry (and nobody writing), oldest first, with the
-- objects to remove as in delete_upload. A finished upload (video_token set) is never here:
-- its chunks belong to its video until the download step has assembled them.
WITH gone AS (
    DELETE FROM uploads u
     WHERE u.id IN (SELECT e.id FROM uploads e
                     WHERE e.video_token IS NULL AND e.expires_at < now()
                       AND (e.writer IS NULL OR e.writer_until < now())
                     ORDER BY e.expires_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
    RETURNING u.id, u.writer_key
)
SELECT g.id, g.writer_key,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(c.start, c.attempt) ORDER BY c.start), '[]'::jsonb)
          FROM upload_chunks c WHERE c.upload_id = g.id) AS chunks
  FROM gone g;
