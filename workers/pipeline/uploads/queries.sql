-- The uploads' statements, by name (workers/pipeline/uploads/store.py).

-- name: create_upload
INSERT INTO uploads (id, length, filename, options, callback_url, expires_at)
VALUES (%(id)s, %(length)s, %(filename)s, %(options)s, %(callback_url)s,
        now() + make_interval(secs => %(ttl_seconds)s))
RETURNING id, length, received, expires_at;

-- name: get_upload
SELECT id, length, received, filename, options, callback_url, chunks, video_token, expires_at,
       expires_at < now() AS expired
  FROM uploads WHERE id = %(id)s;

-- name: take_writer
-- A PATCH at %(offset)s becomes the writer, unless the offset moved on or another PATCH
-- writes now (its lease not expired): zero rows, and the caller answers 409.
UPDATE uploads u
   SET writer = %(writer)s, writer_until = now() + make_interval(secs => %(lease_seconds)s), updated_at = now()
 WHERE u.id = %(id)s AND u.received = %(offset)s AND u.expires_at > now() AND u.video_token IS NULL
   AND (u.writer IS NULL OR u.writer_until < now())
RETURNING u.id, u.length, u.received;

-- name: add_chunk
-- The writer's chunk is stored: the offset moves on, the lease ends, the expiry is pushed.
UPDATE uploads u
   SET received = u.received + %(size)s, chunks = u.chunks || %(offset)s::bigint, writer = NULL,
       writer_until = NULL, updated_at = now(), expires_at = now() + make_interval(secs => %(ttl_seconds)s)
 WHERE u.id = %(id)s AND u.writer = %(writer)s AND u.received = %(offset)s
   AND u.received + %(size)s <= u.length
RETURNING u.received, u.length, u.expires_at;

-- name: renew_writer
-- The PATCH still runs: its writer lease goes on (zero rows: it was lost).
UPDATE uploads u
   SET writer_until = now() + make_interval(secs => %(lease_seconds)s)
 WHERE u.id = %(id)s AND u.writer = %(writer)s
RETURNING u.id;

-- name: release_writer
UPDATE uploads SET writer = NULL, writer_until = NULL WHERE id = %(id)s AND writer = %(writer)s
RETURNING id;

-- name: finish_upload
-- The last byte arrived: the video's token is recorded once (a repeat keeps the first).
UPDATE uploads SET video_token = coalesce(video_token, %(token)s), updated_at = now()
 WHERE id = %(id)s AND received = length
RETURNING video_token;

-- name: delete_upload
DELETE FROM uploads WHERE id = %(id)s AND video_token IS NULL RETURNING id, chunks;

-- name: expired_uploads
-- Hygiene: unfinished uploads past their expiry (and nobody writing), oldest first.
DELETE FROM uploads u
 WHERE u.id IN (SELECT e.id FROM uploads e
                 WHERE e.video_token IS NULL AND e.expires_at < now()
                   AND (e.writer IS NULL OR e.writer_until < now())
                 ORDER BY e.expires_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
RETURNING u.id, u.chunks;
