-- ClipQueue search: every transcript's sentences, searchable by words (full text, with a
-- GIN index) and, where the pgvector extension exists, by meaning (256-dimension sentence
-- embeddings with an HNSW index). Written by the workers when a transcript checkpoint is
-- written (workers/pipeline/search/); rebuilt by `python -m workers reindex`.
-- Never edit this file once merged: add a new migration instead.

CREATE TABLE transcript_segments (
    video_id  bigint           NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    seq       integer          NOT NULL,                  -- the sentence's number in the transcript
    start_s   double precision NOT NULL,
    end_s     double precision NOT NULL,
    text      text             NOT NULL,
    words     jsonb            NOT NULL DEFAULT '[]'::jsonb,  -- [{word, start, end}]
    config    regconfig        NOT NULL DEFAULT 'simple',     -- text search configuration (the language)
    tsv       tsvector         GENERATED ALWAYS AS (to_tsvector(config, text)) STORED,
    PRIMARY KEY (video_id, seq)
);
COMMENT ON TABLE transcript_segments IS
    'One row per transcript sentence, for search (GET /public/video/search, /internal/search) '
    'and questions (POST /public/video/ask). Cascades from videos; rebuilt by `workers reindex`.';
CREATE INDEX transcript_segments_tsv ON transcript_segments USING gin (tsv);
ALTER TABLE transcript_segments ENABLE ROW LEVEL SECURITY;

-- The text search configurations the index holds (one row per language seen): the library
-- search runs one GIN scan per configuration in here, not one per language that could be.
CREATE TABLE search_configs (
    config  regconfig PRIMARY KEY
);
ALTER TABLE search_configs ENABLE ROW LEVEL SECURITY;

-- Vectors only where the extension can be had (the embedded Postgres and Supabase ship it;
-- a plain Postgres without it searches by full text alone, and the workers say so once).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector;
        ALTER TABLE transcript_segments ADD COLUMN embedding vector(256);
        CREATE INDEX transcript_segments_embedding ON transcript_segments
            USING hnsw (embedding vector_cosine_ops);
    END IF;
END $$;

-- Operators: how much of the library is searchable (a transcribed video that is not
-- indexed is caught up by the maintenance leader, or by `workers reindex`).
CREATE VIEW search_coverage WITH (security_invoker = true) AS
SELECT (SELECT count(*) FROM step_checkpoints WHERE step = 'transcript') AS transcribed_videos,
       (SELECT count(DISTINCT video_id) FROM transcript_segments)       AS indexed_videos,
       (SELECT count(*) FROM transcript_segments)                       AS sentences;

-- Questions asked about a video (POST /public/video/ask), counted per token and minute:
-- the rate limit holds across every API process. Windows older than an hour are pruned.
CREATE TABLE ask_usage (
    token         text        NOT NULL,
    window_start  timestamptz NOT NULL,
    questions     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (token, window_start)
);
ALTER TABLE ask_usage ENABLE ROW LEVEL SECURITY;
