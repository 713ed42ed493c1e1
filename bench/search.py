"""Search speed on a library of 10,000 videos' worth of transcript sentences.

    .venv/bin/python -m bench.search [--videos 10000] [--sentences 40] [--queries 300]

The library is synthetic text made from the real transcripts (the Whisper transcripts of
../shared/media in ``tests/data/content_types.json``): each video gets a run of real
sentences, a few words of each swapped for other words of the same transcripts, so no two
videos read the same. Rows are loaded with COPY into a fresh database (with DATABASE_URL: a
new database on that server; without: the embedded Postgres, which has pgvector, so the
meaning half runs too), then queried through the API (Flask's test client, in process):

* ``GET /public/video/search`` with a random video's token and a two-word phrase (half from
  that video's own text, half from elsewhere);
* ``GET /internal/search`` across the library with the same kind of phrase;
* the reference, measured in the same run: ``GET /public/video/status`` for a random token,
  the API's existing hot read.

It prints p50 and p99 of each, their ratio to the reference, the targets (p99 <= 50 ms for
one video, <= 200 ms for the library), and the EXPLAIN of the statements, which shows the
indexes they use.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FIXTURE = REPO / "tests" / "data" / "content_types.json"
BENCH_DB = "clipqueue_bench_search"


def database(tmp: Path) -> str:
    import os

    import psycopg

    base = os.environ.get("DATABASE_URL")
    if not base:
        from workers.queue.embedded import embedded_database_url

        base = embedded_database_url(tmp / "data")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return psycopg.conninfo.make_conninfo(base, dbname=BENCH_DB)


def library(videos: int, per_video: int, rng: random.Random) -> tuple[list[list[str]], list[str]]:
    from workers.pipeline.clips.sentences import split

    sentences = [u["text"] for item in json.loads(FIXTURE.read_text()).values() for u in split(item["segments"])]
    vocabulary = sorted({w for s in sentences for w in s.split() if w.isalpha() and len(w) > 3})
    out = []
    for _ in range(videos):
        start = rng.randrange(len(sentences))
        text = []
        for k in range(per_video):
            words = sentences[(start + k) % len(sentences)].split()
            for _ in range(max(1, len(words) // 6)):
                words[rng.randrange(len(words))] = rng.choice(vocabulary)
            text.append(" ".join(words))
        out.append(text)
    return out, vocabulary


def load(url: str, texts: list[list[str]], vectors_too: bool) -> float:
    import psycopg

    from workers.pipeline.search.store import vector_literal

    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        n = len(texts)
        conn.execute("INSERT INTO videos (source_url, normalized_url) SELECT 'http://127.0.0.1/v' || g, "
                     "'http://127.0.0.1/v' || g FROM generate_series(1, %s) g", (n,))
        conn.execute("INSERT INTO video_processing_queue (video_id, token, status, pipeline_step, finished_at) "
                     "SELECT id, lpad(id::text, 32, 'T'), 'done', 'clip_generation', now() FROM videos")
        conn.execute("INSERT INTO step_checkpoints (video_id, step, job_id, output, attempt, worker_id, started_at) "
                     "SELECT video_id, 'content_type', id, jsonb_build_object('content_type', "
                     "(ARRAY['lecture','interview','news','podcast'])[1 + id % 4]), 1, 'bench', now() "
                     "FROM video_processing_queue")
        conn.execute("INSERT INTO search_configs VALUES ('english')")
        if vectors_too:
            conn.execute("DROP INDEX IF EXISTS transcript_segments_embedding")
        columns = "video_id, seq, start_s, end_s, text, config" + (", embedding" if vectors_too else "")
        embed = None
        if vectors_too:
            from workers.pipeline.llm.embeddings import embed
        with conn.cursor() as cur, cur.copy(f"COPY transcript_segments ({columns}) FROM STDIN") as copy:
            for video_id, sentences in enumerate(texts, 1):
                vectors = embed(sentences) if embed else [None] * len(sentences)
                for seq, (text, vector) in enumerate(zip(sentences, vectors)):
                    row = [video_id, seq, seq * 5.0, seq * 5.0 + 4.5, text, "english"]
                    copy.write_row(row + ([vector_literal(vector)] if vectors_too else []))
        if vectors_too:
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("CREATE INDEX transcript_segments_embedding ON transcript_segments "
                         "USING hnsw (embedding vector_cosine_ops)")
        conn.execute("ANALYZE")
    return time.perf_counter() - began


def timed(client, path: str, headers=None) -> float:
    began = time.perf_counter()
    response = client.get(path, headers=headers or {})
    spent = time.perf_counter() - began
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return spent * 1000


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def explain(url: str, phrase: str, vectors_too: bool) -> None:
    import psycopg
    from psycopg.rows import dict_row

    from workers.pipeline.search import store
    from workers.pipeline.search.query import embed_query

    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        statements = [("one video, full text", store._sql("text_in_video"),
                       {"video_id": 4242, "q": phrase, "config": "english", "limit": 50}),
                      ("library, full text", store._sql("text_in_library"),
                       {"q": phrase, "limit": 50, "since": None, "until": None, "content_type": None})]
        if vectors_too:
            statements.append(("library, meaning", store._sql("vector_in_library"),
                               {"embedding": store.vector_literal(embed_query(phrase)), "limit": 50, "since": None,
                                "until": None, "content_type": None}))
        for title, sql, params in statements:
            plan = conn.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql, params).fetchall()
            print(f"\nEXPLAIN {title} ({phrase!r}):")
            for row in plan:
                line = row["QUERY PLAN"]
                if any(k in line for k in ("Index", "Scan", "Execution Time", "Limit", "Sort", "Join", "Loop")):
                    print("   ", line)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--sentences", type=int, default=40, help="sentences per video")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)
    import psycopg

    from server import create_app
    from workers.queue.db import connect
    from workers.queue.migrate import apply_migrations
    from workers.settings import Settings
    from workers.pipeline.search.store import has_vectors

    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="clipqueue-search-"))
    url = database(tmp)
    with connect(url) as conn:
        apply_migrations(conn)
        vectors_too = has_vectors(conn)
    texts, vocabulary = library(args.videos, args.sentences, rng)
    spent = load(url, texts, vectors_too)
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM transcript_segments").fetchone()[0]
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('transcript_segments'))").fetchone()[0]
    print(f"{args.videos:,} videos x {args.sentences} sentences = {rows:,} rows ({size}), loaded and indexed in "
          f"{spent:.0f} s; meaning half (pgvector): {'yes' if vectors_too else 'no: full text alone'}")
    settings = Settings(internal_api_token="bench-token", data_dir=tmp / "data")
    app = create_app({"settings": settings, "database_url": url})
    client = app.test_client()
    auth = {"Authorization": "Bearer bench-token"}

    def phrase(video: int | None) -> str:
        if video is not None:
            words = rng.choice(texts[video]).split()
            k = rng.randrange(max(1, len(words) - 1))
            return " ".join(w.strip(".,?!\"") for w in words[k:k + 2]) or "game"
        return " ".join(rng.sample(vocabulary, 2))

    from urllib.parse import quote

    timings: dict[str, list[float]] = {"status": [], "video": [], "library": []}
    for n in range(args.queries + 20):
        video = rng.randrange(args.videos)
        token = str(video + 1).rjust(32, "T")
        q = quote(phrase(video if n % 2 == 0 else None))
        sample = {"status": timed(client, f"/public/video/status?token={token}"),
                  "video": timed(client, f"/public/video/search?token={token}&q={q}"),
                  "library": timed(client, f"/internal/search?q={q}", auth)}
        if n >= 20:  # the first 20 warm the caches and load the embedding model
            for key, value in sample.items():
                timings[key].append(value)
    app.extensions["clipqueue"].pool.close()
    ref = statistics.median(timings["status"])
    print(f"\n{args.queries} queries each, through the API in process (ms):")
    print(f"  {'route':44s} {'p50':>7s} {'p99':>7s}   p50 / reference   target (p99)")
    for key, label, target in (("status", "GET /public/video/status (the reference)", None),
                               ("video", "GET /public/video/search (one video)", 50.0),
                               ("library", "GET /internal/search (the library)", 200.0)):
        p50, p99 = pct(timings[key], 50), pct(timings[key], 99)
        verdict = "" if target is None else f"<= {target:.0f} ms: {'met' if p99 <= target else 'NOT met'}"
        print(f"  {label:44s} {p50:7.1f} {p99:7.1f}   {p50 / ref:6.2f}x          {verdict}")
    explain(url, "holy alliance", vectors_too)
    return 0


if __name__ == "__main__":
    sys.exit(main())
