"""Hybrid search over the index: full text and meaning, fused by reciprocal rank.

* Full text: ``websearch_to_tsquery`` in the transcript's language (quoted phrases, ``or``,
  ``-word``), ranked by ``ts_rank_cd`` through the GIN index.
* Meaning: the query's wordllama embedding against the sentences' (pgvector, cosine), kept
  when at least ``MIN_SIMILARITY`` alike; absent where the database has no vectors.
* Fusion: reciprocal-rank fusion (``1 / (K + rank)`` summed over the lists a sentence is
  in, K = 60): no score scales to reconcile, and a sentence found both ways rises.
* Each moment comes back with its times, its text, and where the query's words are in it
  (``highlights``: ``[start, end)`` character ranges), never markup to trust.
"""
from __future__ import annotations

import re

from workers.pipeline.search import store
from workers.pipeline.search.index import vectors_available

K = 60
CANDIDATES = 50        # from each list, before fusion
MIN_SIMILARITY = 0.35  # cosine: below this, "similar in meaning" is noise


def fuse(lists: dict[str, list]) -> list[tuple[object, float, list[str]]]:
    """(key, fused score, the lists it came from), best first."""
    scores: dict = {}
    sources: dict = {}
    for name, keys in lists.items():
        for rank, key in enumerate(keys, 1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (K + rank)
            sources.setdefault(key, []).append(name)
    return [(key, scores[key], sources[key]) for key in sorted(scores, key=lambda k: (-scores[k], k))]


def highlights(marked: str) -> tuple[str, list[list[int]]]:
    """Text without the \\x01/\\x02 marks ``ts_headline`` put around matches, and the ranges."""
    text, spans, start = [], [], None
    for char in marked:
        if char == "\x01":
            start = len(text)
        elif char == "\x02" and start is not None:
            spans.append([start, len(text)])
            start = None
        else:
            text.append(char)
    return "".join(text), spans


def embed_query(q: str):
    from workers.pipeline.llm.embeddings import embed

    return embed([q])[0]


def _moment(row: dict, score: float, sources: list[str]) -> dict:
    text, spans = highlights(row.get("marked") or row["text"])
    return {"seq": row["seq"], "start": round(row["start_s"], 3), "end": round(row["end_s"], 3), "text": text,
            "highlights": spans, "score": round(score, 6), "matched_by": sources}


def any_of(q: str) -> str:
    """``q`` as a web search for any of its words ("where is it made" -> where or is or it
    or made; the configuration drops the stop words): a question rarely repeats all of the
    answer's words."""
    return " or ".join(re.findall(r"[\w']+", q))


def rank_in_video(conn, video_id: int, config: str | None, q: str, limit: int = 10, *,
                  any_word: bool = False) -> list[tuple[int, float, list[str]]]:
    """(sentence number, fused score, found by) of one video's best sentences for ``q``
    (all its words, as a web search does; with ``any_word``, any of them, ranked by how many
    and how close), best first."""
    words = [r["seq"] for r in store.text_in_video(conn, video_id, any_of(q) if any_word else q,
                                                     config or "simple", CANDIDATES)]
    meaning = []
    if vectors_available(conn):
        meaning = [r["seq"] for r in store.vector_in_video(conn, video_id, embed_query(q), CANDIDATES)
                   if r["score"] >= MIN_SIMILARITY]
    return fuse({"text": words, "meaning": meaning})[:limit]


def in_video(conn, video_id: int, config: str | None, q: str, limit: int = 10) -> list[dict]:
    """The best moments of one video for ``q``, with their times, text and highlights."""
    fused = rank_in_video(conn, video_id, config, q, limit)
    rows = {r["seq"]: r for r in store.sentences_in_video(conn, video_id, [k for k, _, _ in fused], q)}
    return [_moment(rows[k], score, by) for k, score, by in fused if k in rows]


def in_library(conn, q: str, filters: dict, limit: int, offset: int) -> tuple[list[dict], bool]:
    """A page of moments across the library, and whether there is a next page."""
    depth = offset + limit + 1
    words = [(r["video_id"], r["seq"]) for r in store.text_in_library(conn, q, filters, max(depth, CANDIDATES))]
    meaning = []
    if vectors_available(conn):
        meaning = [(r["video_id"], r["seq"])
                   for r in store.vector_in_library(conn, embed_query(q), filters, max(depth, CANDIDATES))
                   if r["score"] >= MIN_SIMILARITY]
    fused = fuse({"text": words, "meaning": meaning})
    page = fused[offset:offset + limit]
    rows = {(r["video_id"], r["seq"]): r for r in store.library_sentences(conn, [k for k, _, _ in page], q)}
    moments = []
    for key, score, by in page:
        if key in rows:
            row = rows[key]
            moments.append({**_moment(row, score, by), "video_id": row["video_id"], "token": row["token"],
                            "source_url": row["source_url"], "content_type": row["content_type"],
                            "created_at": row["created_at"]})
    return moments, len(fused) > offset + limit


def play_link(moment: dict, clips: list[dict], clip_url, source_url: str) -> dict:
    """Where to watch a moment: the finished clip that holds its start (from the right
    second), else the source video from that second."""
    for clip in clips or []:
        media = (clip.get("files") or {}).get("media")
        if media and clip.get("start", 0) <= moment["start"] < clip.get("end", 0):
            at = round(moment["start"] - clip["start"], 3)
            return {"kind": "clip", "rank": clip.get("rank"), "at": at, "url": f"{clip_url(media)}#t={at:g}"}
    return {"kind": "source", "at": moment["start"], "url": f"{source_url}#t={moment['start']:g}"}
