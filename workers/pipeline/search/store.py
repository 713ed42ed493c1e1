"""The search index's statements (``queries.sql``), one function each."""
from __future__ import annotations

from pathlib import Path

from psycopg.types.json import Jsonb

from workers.queue.sql import load

QUERIES = Path(__file__).with_name("queries.sql")


def _sql(name: str) -> str:
    return load(QUERIES)[name]


def vector_literal(vector) -> str:
    """A pgvector value as text ('[0.1,0.2,...]'): no client-side extension needed."""
    return "[" + ",".join(f"{float(x):.6g}" for x in vector) + "]"


def has_vectors(conn) -> bool:
    return bool(conn.execute(_sql("has_vectors")).fetchone()["has_vectors"])


def replace_video(conn, video_id: int, rows: list[dict], config: str, vectors=None) -> int:
    """The video's sentences, replacing whatever was indexed for it, in one transaction."""
    with conn.transaction():
        conn.execute(_sql("note_config"), {"config": config})
        conn.execute(_sql("clear_video"), {"video_id": video_id})
        params = [{"video_id": video_id, "seq": r["seq"], "start_s": r["start"], "end_s": r["end"],
                   "text": r["text"], "words": Jsonb(r["words"]), "config": config,
                   **({"embedding": vector_literal(vectors[n])} if vectors is not None else {})}
                  for n, r in enumerate(rows)]
        if params:
            with conn.cursor() as cur:
                cur.executemany(_sql("insert_sentence_with_vector" if vectors is not None else "insert_sentence"),
                                params)
    return len(rows)


def unindexed_transcripts(conn, limit: int) -> list[dict]:
    return conn.execute(_sql("unindexed_transcripts"), {"limit": limit}).fetchall()


def all_transcripts(conn, after: int, limit: int) -> list[dict]:
    return conn.execute(_sql("all_transcripts"), {"after": after, "limit": limit}).fetchall()


def video_for_token(conn, token: str) -> dict | None:
    return conn.execute(_sql("video_for_token"), {"token": token}).fetchone()


def text_in_video(conn, video_id: int, q: str, config: str, limit: int) -> list[dict]:
    return conn.execute(_sql("text_in_video"), {"video_id": video_id, "q": q, "config": config,
                                                "limit": limit}).fetchall()


def vector_in_video(conn, video_id: int, vector, limit: int) -> list[dict]:
    return conn.execute(_sql("vector_in_video"), {"video_id": video_id, "embedding": vector_literal(vector),
                                                  "limit": limit}).fetchall()


def sentences_in_video(conn, video_id: int, seqs: list[int], q: str) -> list[dict]:
    return conn.execute(_sql("sentences_in_video"), {"video_id": video_id, "seqs": seqs, "q": q}).fetchall()


def neighbours(conn, video_id: int, seqs: list[int], width: int) -> list[dict]:
    return conn.execute(_sql("neighbours"), {"video_id": video_id, "seqs": seqs, "width": width}).fetchall()


def _filters(filters: dict) -> dict:
    return {"since": filters.get("since"), "until": filters.get("until"),
            "content_type": filters.get("content_type")}


def text_in_library(conn, q: str, filters: dict, limit: int) -> list[dict]:
    return conn.execute(_sql("text_in_library"), {"q": q, "limit": limit, **_filters(filters)}).fetchall()


def vector_in_library(conn, vector, filters: dict, limit: int) -> list[dict]:
    return conn.execute(_sql("vector_in_library"), {"embedding": vector_literal(vector), "limit": limit,
                                                    **_filters(filters)}).fetchall()


def library_sentences(conn, keys: list[tuple[int, int]], q: str) -> list[dict]:
    return conn.execute(_sql("library_sentences"), {"video_ids": [k[0] for k in keys], "seqs": [k[1] for k in keys],
                                                    "q": q}).fetchall()


def clip_files(conn, video_id: int) -> list[dict]:
    row = conn.execute(_sql("clip_files"), {"video_id": video_id}).fetchone()
    return (row or {}).get("clips") or []


def count_question(conn, token: str, at) -> dict:
    return conn.execute(_sql("count_question"), {"token": token, "at": at}).fetchone()


def prune_ask_usage(conn) -> int:
    return conn.execute(_sql("prune_ask_usage")).rowcount
