"""The search index: each transcript's sentences in ``transcript_segments``.

* Written when a transcript checkpoint is written (``on_checkpoint``, run by the worker
  right after the commit, in its own transaction); a video whose index write was lost (a
  worker killed in between) is caught up by the maintenance leader (``catch_up``); and
  ``python -m workers reindex`` rebuilds every video's (``reindex``). Writing a video's
  sentences replaces what was there, so each of these may run any number of times.
* The rows are the transcript's sentences (``clips.sentences``), with their word times and
  the text search configuration of the transcript's language (``simple`` when unknown).
* Embeddings (wordllama, 256 dimensions, in batches) are written only where the database
  has the pgvector column; without it, search is full text alone, said once in the log.
"""
from __future__ import annotations

import json
import logging

from workers.pipeline.clips.sentences import split
from workers.pipeline.search import store

log = logging.getLogger(__name__)

LANGUAGES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
             "pt": "portuguese", "nl": "dutch", "sv": "swedish", "da": "danish", "no": "norwegian",
             "fi": "finnish", "ru": "russian", "tr": "turkish", "hu": "hungarian", "ro": "romanian"}
BATCH = 512
_said = set()


def config_for(language: str | None) -> str:
    return LANGUAGES.get((language or "").lower()[:2], "simple")


def rows_from(transcript: dict) -> list[dict]:
    return [{"seq": unit["id"], "start": unit["start"], "end": unit["end"], "text": unit["text"],
             "words": [{"word": w["word"], "start": w["start"], "end": w["end"]} for w in unit["words"]]}
            for unit in split(transcript.get("segments") or [])]


def vectors_available(conn) -> bool:
    available = store.has_vectors(conn)
    if not available and "no-vectors" not in _said:
        _said.add("no-vectors")
        log.warning("search: this database has no pgvector column (the extension was not available when the "
                    "search migration ran): search is full text alone")
    return available


def index_transcript(conn, video_id: int, transcript: dict) -> int:
    """Replace the video's indexed sentences with this transcript's; the number written."""
    rows = rows_from(transcript)
    vectors = None
    if rows and vectors_available(conn):
        from workers.pipeline.llm.embeddings import embed

        import numpy as np

        vectors = np.concatenate([embed([r["text"] for r in rows[n:n + BATCH]]) for n in range(0, len(rows), BATCH)])
    return store.replace_video(conn, video_id, rows, config_for(transcript.get("language")), vectors)


def _load(storage, output: dict) -> dict:
    return json.loads(storage.get_bytes(output["key"]))


def on_checkpoint(storage):
    """The engine's checkpoint observer (``Hooks.on_checkpoint``): index a transcript once it is
    checkpointed. A checkpoint that carries no stored transcript (a custom step table's) is
    said in one line, not a traceback. A dead connection raises (the engine tries again on a
    fresh one); any other failure is left to ``catch_up``."""
    def index_search(conn, video, step: str, output: dict) -> None:
        if step != "transcript":
            return
        key = output.get("key") if isinstance(output, dict) else None
        if not isinstance(key, str) or not key:
            log.warning("video %s: its transcript checkpoint names no stored transcript ('key'); not indexed",
                        video.id)
            return
        written = index_transcript(conn, video.id, _load(storage, output))
        log.info("video %s: %d sentences indexed for search", video.id, written)
    return index_search


def catch_up(conn, storage, limit: int = 50) -> int:
    """Index transcribed videos that have nothing in the index (maintenance)."""
    done = 0
    for row in store.unindexed_transcripts(conn, limit):
        try:
            index_transcript(conn, row["video_id"], _load(storage, row["output"]))
            done += 1
        except Exception:  # noqa: BLE001 - one unreadable transcript must not stop the others
            log.exception("search: video %s could not be indexed", row["video_id"])
    return done


def reindex(conn, storage, progress=lambda video_id, written: None) -> tuple[int, int]:
    """Rebuild every transcribed video's index; (videos, sentences)."""
    videos = sentences = 0
    after = 0
    while batch := store.all_transcripts(conn, after, 100):
        for row in batch:
            written = index_transcript(conn, row["video_id"], _load(storage, row["output"]))
            videos, sentences = videos + 1, sentences + written
            progress(row["video_id"], written)
        after = batch[-1]["video_id"]
    return videos, sentences
