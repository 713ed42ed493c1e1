"""content_type: what kind of video this is (podcast, lecture, tutorial, ...), with a
confidence and the language. It conditions the clip lookup prompt.

The model sees a sample of the transcript's sentences spread over the whole video
(beginning, middle and end), not just its first minutes. The raw model reply and the tokens used are kept.
"""
from __future__ import annotations

import json

from workers.pipeline.clips.sentences import split
from workers.pipeline.llm.taxonomy import CONTENT_TYPES

STEP = "content_type"
SAMPLE_SEGMENTS = 60


def run(video, ctx) -> dict:
    storage, llm = ctx.services["storage"], ctx.services["llm"]
    transcript = json.loads(storage.get_bytes(ctx.output_of("transcript")["key"]))
    answer = llm.content_type(sample(split(transcript["segments"])), language=transcript.get("language"))
    result = answer["result"]
    kind = result.get("content_type") if result.get("content_type") in CONTENT_TYPES else "other"
    return {"content_type": kind, "confidence": float(result.get("confidence") or 0.0),
            "language": result.get("language") or transcript.get("language"),
            "backend": llm.name, "model": llm.model, "raw": answer["raw"], "usage": answer.get("usage", {})}


def sample(units: list[dict]) -> list[dict]:
    """At most ``SAMPLE_SEGMENTS`` sentences, evenly spread over the whole video."""
    return units[::max(1, len(units) // SAMPLE_SEGMENTS)][:SAMPLE_SEGMENTS]
