"""The offline backend's clip picks: whole sentences, no boilerplate, one topic at a time.

1. Every sentence is embedded (``embeddings``) and the talk is cut into topics
   (``topics``: TextTiling over the embeddings).
2. Each sentence's importance is its centrality: the mean of its TextRank in the TF-IDF
   graph (shared words) and in the embedding graph (shared meaning).
3. Every run of consecutive sentences that fits the duration band, takes in no boilerplate
   and starts and ends on sentence edges is a candidate. Its score is the importance of what
   it says, weighted by how self-contained it is: coherence (how close its sentences lie to
   their own centroid), a bonus for staying inside one topic and for opening where the
   topic opens, a penalty per topic boundary crossed, a bonus for a hook (a question or a
   strong opener) and for a clean ending.
4. Picks are spread over the video: the best of each region first, then the best of the
   rest; scores are reported relative to the best candidate (0..1), with a short reason.
"""
from __future__ import annotations

from collections import Counter

from workers.pipeline.clips.sentences import closes, is_boilerplate
from workers.pipeline.llm.text import idf, pagerank, textrank, title, tokens, without_list_number

HOOK_OPENERS = ("the key", "the secret", "the most important", "here's", "here is", "the truth",
                "the problem", "imagine", "what if", "the reason", "the real", "never", "nobody")


def find(units: list[dict], *, content_type: str, min_s: float, max_s: float, count: int) -> list[dict]:
    """Up to ``count`` clips, each citing its first and last unit by id, best first."""
    from workers.pipeline.llm.embeddings import embed
    from workers.pipeline.llm.topics import segment

    if not units:
        return []
    vectors = embed([u["text"] for u in units])
    topics = segment(vectors)
    topic_of = [t for t, (a, b) in enumerate(topics) for _ in range(a, b + 1)]
    words_of = [tokens(u["text"]) for u in units]  # once: TextRank, IDF and the keywords read them
    lexical = textrank(words_of)
    sim = (vectors @ vectors.T).clip(min=0)
    sim[range(len(units)), range(len(units))] = 0.0
    semantic = pagerank(sim)
    importance = [(x + y) / 2 for x, y in zip(lexical, semantic)]
    prefix = vectors.cumsum(axis=0)
    junk = [is_boilerplate(u["text"]) for u in units]
    ends = [closes(u) for u in units]

    def score(i: int, j: int) -> tuple[float, dict]:
        weights = [max(1, len(u["words"])) for u in units[i:j + 1]]
        core = sum(c * w for c, w in zip(importance[i:j + 1], weights)) / sum(weights)
        total = prefix[j] - (prefix[i - 1] if i else 0)
        coherence = float((total @ total) ** 0.5) / (j - i + 1)
        crossings = topic_of[j] - topic_of[i]
        opener = units[i]["text"].strip().lower()
        parts = {
            "hook": 0.15 if opener.endswith("?") or opener.startswith(HOOK_OPENERS) else 0.0,
            "ending": 0.05 if ends[j] else 0.0,
            "one_topic": 0.1 if crossings == 0 else -0.15 * crossings,
            "topic_start": 0.1 if i == topics[topic_of[i]][0] else 0.0,
        }
        return core * (0.5 + 0.5 * coherence) * (1 + sum(parts.values())), parts

    candidates, fallback = [], []
    for i in range(len(units)):
        if junk[i]:
            continue
        for j in range(i, len(units)):
            if junk[j]:
                break  # a clip never takes boilerplate in
            length = units[j]["end"] - units[i]["start"]
            if length > max_s:
                break
            if length >= min_s:
                value, parts = score(i, j)
                whole = (i == 0 or ends[i - 1]) and ends[j]
                (candidates if whole else fallback).append((value, i, j, parts))
    candidates = candidates or fallback
    if not candidates:  # a talk shorter than the band, or all of it boilerplate: the clean part of it
        clean = [k for k in range(len(units)) if not junk[k]] or list(range(len(units)))
        value, parts = score(clean[0], clean[-1])
        candidates = [(value, clean[0], clean[-1], parts)]
    best = max(c[0] for c in candidates) or 1.0
    weights = idf(words_of)
    clips = []
    for value, i, j, parts in spread(candidates, units, count):
        words = Counter(w for unit_words in words_of[i:j + 1] for w in unit_words)
        keywords = [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1] * weights.get(kv[0], 0), kv[0]))[:3]]
        central = max(range(i, j + 1), key=lambda k: (importance[k], -k))
        first = without_list_number(units[i]["text"])  # not "2. It is high time"
        clips.append({
            "start_segment": units[i]["id"], "end_segment": units[j]["id"],
            "title": title(units[central]["text"]) or " · ".join(k.capitalize() for k in keywords) or "Highlight",
            "hook": first if len(first) <= 120 else first[:117].rsplit(" ", 1)[0] + "\u2026",
            "reason": _reason(content_type, keywords, parts, len(topics)),
            "score": round(value / best, 4),
        })
    return clips


def _reason(content_type: str, keywords: list[str], parts: dict, topic_count: int) -> str:
    said = [f"central to this {content_type}" + (f": it dwells on {', '.join(keywords)}" if keywords else "")]
    if parts["one_topic"] > 0 and topic_count > 1:
        said.append("one topic from " + ("its start" if parts["topic_start"] else "within"))
    if parts["hook"]:
        said.append("opens with a hook")
    return "; ".join(said)


def spread(candidates, units, count):
    """Best non-overlapping candidates, the best of each region of the video first."""
    start, end = units[0]["start"], units[-1]["end"]
    regions = max(1, count)
    width = (end - start) / regions or 1
    ranked = sorted(candidates, key=lambda c: (-c[0], c[1]))
    chosen: list = []

    def free(i, j):
        return all(j < c[1] or i > c[2] for c in chosen)

    for region in range(regions):
        lo, hi = start + region * width, start + (region + 1) * width
        for c in ranked:
            mid = (units[c[1]]["start"] + units[c[2]]["end"]) / 2
            if lo <= mid < hi + (1e-9 if region == regions - 1 else 0) and free(c[1], c[2]):
                chosen.append(c)
                break
    for c in ranked:
        if len(chosen) >= count:
            break
        if free(c[1], c[2]):
            chosen.append(c)
    return sorted(chosen, key=lambda c: (-c[0], c[1]))[:count]
