"""The offline LLM backend: deterministic, no key, no network.

It answers the same two questions as the OpenAI backend, in the same shapes:

* ``content_type(segments)``: meaning, words and form (``classify``): similarity of the
  transcript's sentence embeddings to label descriptions, a lexicon, and rules of how the
  talk is spoken (a reading disclaimer, questions answered at length, short lines traded);
* ``find_clips(segments, ...)``: ``picks``: topic segmentation over sentence embeddings,
  TextRank centrality, and the most self-contained run of whole sentences that fits the
  duration band, never boilerplate, spread over the video.

The sentence embeddings come from wordllama, whose weights ship inside its wheel
(``embeddings``). It cites units by id, exactly as the remote model is asked to; the caller
maps citations to word times.
"""
from __future__ import annotations

import re

from workers.pipeline.clips.rules import Rules
from workers.pipeline.llm.classify import classify
from workers.pipeline.llm.picks import find


class LocalLLM:
    name = "local"
    model = "wordllama-topics-v2"

    def content_type(self, segments: list[dict], language: str | None = None) -> dict:
        kind, confidence, scores = classify(segments)
        reply = {"content_type": kind, "confidence": confidence,
                 "language": language or guess_language(" ".join(s["text"] for s in segments))}
        raw = {**reply, "scores": {k: round(v, 4) for k, v in sorted(scores.items(), key=lambda kv: -kv[1])[:5]}}
        return {"result": reply, "raw": raw, "usage": {"prompt_tokens": 0, "completion_tokens": 0}}

    def find_clips(self, segments: list[dict], *, content_type: str, min_s: float, max_s: float,
                   count: int, rules: Rules = Rules()) -> dict:
        reply = {"clips": find(segments, content_type=content_type, min_s=min_s, max_s=max_s, count=count,
                               rules=rules)}
        return {"result": reply, "raw": reply, "usage": {"prompt_tokens": 0, "completion_tokens": 0}}


def guess_language(text: str) -> str:
    words = re.findall(r"\w+", text.lower())
    markers = {"en": {"the", "and", "is", "of", "to"}, "de": {"der", "die", "und", "ist", "nicht"},
               "fr": {"le", "la", "et", "est", "les"}, "es": {"el", "la", "y", "es", "los"}}
    counts = {lang: sum(w in m for w in words) for lang, m in markers.items()}
    return max(counts, key=counts.get) if any(counts.values()) else "und"
