-- The search index's statements (workers/pipeline/search/store.py runs them by name).

-- name: has_vectors
-- Whether this database's index has the embedding column (pgvector was available when
-- the migration ran).
SELECT EXISTS (SELECT 1 FROM pg_attribute
                WHERE attrelid = to_regclass('transcript_segments') AND attname = 'embedding'
                  AND NOT attisdropped) AS has_vectors;

-- name: note_config
INSERT INTO search_configs (config) VALUES (%(config)s::regconfig) ON CONFLICT DO NOTHING;

-- name: clear_video
DELETE FROM transcript_segments WHERE video_id = %(video_id)s;

-- name: insert_sentence
INSERT INTO transcript_segments (video_id, seq, start_s, end_s, text, words, config)
VALUES (%(video_id)s, %(seq)s, %(start_s)s, %(end_s)s, %(text)s, %(words)s, %(config)s::regconfig);

-- name: insert_sentence_with_vector
INSERT INTO transcript_segments (video_id, seq, start_s, end_s, text, words, config, embedding)
VALUES (%(video_id)s, %(seq)s, %(start_s)s, %(end_s)s, %(text)s, %(words)s, %(config)s::regconfig,
        %(embedding)s::vector);

-- name: unindexed_transcripts
-- Transcribed videos with nothing in the index (a worker died between the checkpoint and
-- the index write, or the video predates the index), oldest first.
SELECT c.video_id, c.output
  FROM step_checkpoints c
 WHERE c.step = 'transcript'
   AND jsonb_typeof(c.output -> 'key') = 'string'  -- a stored transcript to read
   AND NOT EXISTS (SELECT 1 FROM transcript_segments s WHERE s.video_id = c.video_id)
 ORDER BY c.video_id
 LIMIT %(limit)s;

-- name: all_transcripts
SELECT c.video_id, c.output
  FROM step_checkpoints c
 WHERE c.step = 'transcript' AND c.video_id > %(after)s
   AND jsonb_typeof(c.output -> 'key') = 'string'
 ORDER BY c.video_id
 LIMIT %(limit)s;

-- name: video_for_token
-- The video behind a public token (live or archived job), with its index's language.
SELECT j.video_id, j.token, j.status::text AS status,
       (SELECT s.config::text FROM transcript_segments s WHERE s.video_id = j.video_id LIMIT 1) AS config
  FROM video_jobs j
 WHERE j.token = %(token)s;

-- name: text_in_video
-- Full-text matches in one video, best first (ts_rank_cd: cover density).
SELECT s.seq, ts_rank_cd(s.tsv, q) AS score
  FROM transcript_segments s, websearch_to_tsquery(%(config)s::regconfig, %(q)s) q
 WHERE s.video_id = %(video_id)s AND s.tsv @@ q
 ORDER BY score DESC, s.seq
 LIMIT %(limit)s;

-- name: vector_in_video
-- Nearest sentences by meaning in one video (an exact scan of its few hundred rows).
SELECT s.seq, 1 - (s.embedding <=> %(embedding)s::vector) AS score
  FROM transcript_segments s
 WHERE s.video_id = %(video_id)s AND s.embedding IS NOT NULL
 ORDER BY s.embedding <=> %(embedding)s::vector, s.seq
 LIMIT %(limit)s;

-- name: sentences_in_video
-- The chosen sentences, with the query's words marked (\u0001 ... \u0002 around each).
SELECT s.video_id, s.seq, s.start_s, s.end_s, s.text,
       ts_headline(s.config, s.text, websearch_to_tsquery(s.config, %(q)s),
                   'StartSel=' || chr(1) || ', StopSel=' || chr(2) || ', HighlightAll=true') AS marked
  FROM transcript_segments s
 WHERE s.video_id = %(video_id)s AND s.seq = ANY(%(seqs)s);

-- name: neighbours
-- A passage around each chosen sentence: it, and ``width`` sentences on either side.
SELECT s.seq, s.start_s, s.end_s, s.text
  FROM transcript_segments s
 WHERE s.video_id = %(video_id)s
   AND EXISTS (SELECT 1 FROM unnest(%(seqs)s::int[]) c WHERE s.seq BETWEEN c - %(width)s AND c + %(width)s)
 ORDER BY s.seq;

-- name: text_in_library
-- Full-text matches across the library: per language the index holds (search_configs),
-- the query parsed once and one GIN scan (LATERAL, so the planner cannot trade the index
-- for a scan that parses the query per row); filtered by content type and date, best first.
SELECT s.video_id, s.seq, ts_rank_cd(s.tsv, q.query) AS score
  FROM search_configs c
 CROSS JOIN LATERAL websearch_to_tsquery(c.config, %(q)s) AS q (query)
 CROSS JOIN LATERAL (SELECT t.video_id, t.seq, t.tsv FROM transcript_segments t
                      WHERE t.tsv @@ q.query AND t.config = c.config) s
  JOIN videos v ON v.id = s.video_id
 WHERE (%(since)s::timestamptz IS NULL OR v.created_at >= %(since)s::timestamptz)
   AND (%(until)s::timestamptz IS NULL OR v.created_at < %(until)s::timestamptz)
   AND (%(content_type)s::text IS NULL OR EXISTS (
            SELECT 1 FROM step_checkpoints k
             WHERE k.video_id = s.video_id AND k.step = 'content_type'
               AND k.output ->> 'content_type' = %(content_type)s::text))
 ORDER BY score DESC, s.video_id, s.seq
 LIMIT %(limit)s;

-- name: vector_in_library
-- Nearest sentences by meaning across the library (the HNSW index), then filtered.
SELECT s.video_id, s.seq, 1 - (s.embedding <=> %(embedding)s::vector) AS score
  FROM transcript_segments s
  JOIN videos v ON v.id = s.video_id
 WHERE s.embedding IS NOT NULL
   AND (%(since)s::timestamptz IS NULL OR v.created_at >= %(since)s::timestamptz)
   AND (%(until)s::timestamptz IS NULL OR v.created_at < %(until)s::timestamptz)
   AND (%(content_type)s::text IS NULL OR EXISTS (
            SELECT 1 FROM step_checkpoints c
             WHERE c.video_id = s.video_id AND c.step = 'content_type'
               AND c.output ->> 'content_type' = %(content_type)s::text))
 ORDER BY s.embedding <=> %(embedding)s::vector
 LIMIT %(limit)s;

-- name: library_sentences
-- The chosen sentences of a library page, with their video's newest token, content type
-- and date, and the query's words marked.
SELECT s.video_id, s.seq, s.start_s, s.end_s, s.text,
       ts_headline(s.config, s.text, websearch_to_tsquery(s.config, %(q)s),
                   'StartSel=' || chr(1) || ', StopSel=' || chr(2) || ', HighlightAll=true') AS marked,
       v.source_url, v.created_at,
       (SELECT j.token FROM video_jobs j WHERE j.video_id = s.video_id ORDER BY j.created_at DESC LIMIT 1) AS token,
       (SELECT c.output ->> 'content_type' FROM step_checkpoints c
         WHERE c.video_id = s.video_id AND c.step = 'content_type') AS content_type
  FROM transcript_segments s
  JOIN videos v ON v.id = s.video_id
  JOIN unnest(%(video_ids)s::bigint[], %(seqs)s::int[]) AS chosen (video_id, seq)
    ON chosen.video_id = s.video_id AND chosen.seq = s.seq;

-- name: clip_files
-- The finished clips of a video (their times and files), to play a moment from its clip.
SELECT c.output -> 'result' -> 'clips' AS clips
  FROM step_checkpoints c
 WHERE c.video_id = %(video_id)s AND c.step = 'clip_generation';

-- name: count_question
-- One more question in this token's minute (the minute of %(at)s, the API's clock); how many
-- so far and when the window resets.
INSERT INTO ask_usage (token, window_start, questions)
VALUES (%(token)s, date_trunc('minute', %(at)s::timestamptz), 1)
ON CONFLICT (token, window_start) DO UPDATE SET questions = ask_usage.questions + 1
RETURNING questions, extract(epoch FROM window_start + interval '1 minute' - %(at)s::timestamptz) AS resets_in_s;

-- name: prune_ask_usage
DELETE FROM ask_usage WHERE window_start < now() - interval '1 hour';
