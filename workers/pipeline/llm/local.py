"""The offline LLM backend: deterministic, no key, no network.

It answers the same two questions as the OpenAI backend, in the same shapes:

* ``content_type(segments)``: a lexicon-and-feature classifier over the transcript
  (question density, second-person imperatives, domain vocabulary);
* ``find_clips(segments, ...)``: TextRank over the transcript's sentences (TF-IDF cosine
  similarity graph, PageRank centrality), then every run of consecutive sentences whose
  length fits the duration band is scored by the centrality of what it says, plus a hook
  bonus (a question or a strong opener) and a clean-ending bonus. Picks are spread over the
  video: the best window of each region first, then the best of the rest.

It cites segments by id, exactly as the remote model is asked to; the caller maps citations
to word times.
"""
from __future__ import annotations

import math
import re
from collections import Counter

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just let me more
most my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves also one two get got going gonna like really thing things
know think say said well yeah okay oh um uh right just way lot much many even still us
""".split())

LEXICON = {
    "tutorial": "step click install setup configure open select tutorial example how first next then "
                "menu button settings create code run command file steps guide learn",
    "lecture": "theory theorem equation lecture chapter concept define definition principle history "
               "society class economic analysis hypothesis evidence professor students study",
    "news": "reported breaking government president minister officials according announced police "
            "yesterday today election statement news report crisis",
    "interview": "interview guest tell asked question questions describe experience career",
    "podcast": "podcast episode listeners welcome show sponsor subscribe guest today",
    "commentary": "opinion think believe argue problem reason point wrong right should critics",
    "vlog": "today vlog my day morning went trip hotel food friends came",
    "gaming": "game level player boss play playing health weapon quest map controller",
    "sports": "team match goal score season coach players league game win championship",
    "music": "song album music band guitar lyrics chorus sing track beat",
}
HOOK_OPENERS = ("the key", "the secret", "the most important", "here's", "here is", "the truth",
                "the problem", "imagine", "what if", "the reason", "the real", "never", "nobody")
WORD = re.compile(r"[a-zA-Z][a-zA-Z'-]+")
# What is never a clip: recording disclaimers, channel housekeeping, sponsor reads.
BOILERPLATE = re.compile(
    r"\b(public domain|librivox|audiobooks?|this (audio)?book is|recording is in|text version of|"
    r"www\.|\w+\.(org|com|net)\b|subscribe|hit the bell|smash (that|the) like|"
    r"like and subscribe|sponsored by|this video is sponsored|patreon|link in the description|"
    r"thanks for watching|welcome back to (my|the) channel)\b", re.IGNORECASE)
SENTENCE_END = (".", "!", "?", '"', "\u201d")


def tokens(text: str) -> list[str]:
    return [w for w in (m.group(0).lower().strip("'-") for m in WORD.finditer(text))
            if len(w) > 2 and w not in STOPWORDS]


class LocalLLM:
    name = "local"
    model = "textrank-v1"

    # ---------------------------------------------------------------- content type
    def content_type(self, segments: list[dict], language: str | None = None) -> dict:
        text = " ".join(s["text"] for s in segments)
        words = tokens(text)
        counts = Counter(words)
        total = max(1, len(words))
        scores = {kind: sum(counts[w] for w in vocab.split()) / total for kind, vocab in LEXICON.items()}
        sentences = max(1, len(segments))
        questions = sum(s["text"].rstrip().endswith("?") for s in segments) / sentences
        scores["interview"] += 0.05 * questions
        scores["podcast"] += 0.02 * questions
        you = len(re.findall(r"\byou\b", text.lower())) / max(1, len(text.split()))
        scores["tutorial"] += 0.2 * you
        best = max(scores, key=lambda k: (scores[k], k))
        confidence = scores[best] / (sum(scores.values()) or 1)
        if scores[best] < 0.01:
            best, confidence = "other", 0.5
        reply = {"content_type": best, "confidence": round(min(0.95, max(0.05, confidence)), 3),
                 "language": language or guess_language(text)}
        return {"result": reply, "raw": reply, "usage": {"prompt_tokens": 0, "completion_tokens": 0}}

    # ---------------------------------------------------------------- clips
    def find_clips(self, segments: list[dict], *, content_type: str, min_s: float, max_s: float,
                   count: int) -> dict:
        if not segments:
            return {"result": {"clips": []}, "raw": {"clips": []}, "usage": {}}
        centrality = textrank([tokens(s["text"]) for s in segments])
        idf = _idf([tokens(s["text"]) for s in segments])
        junk = [bool(BOILERPLATE.search(s["text"])) for s in segments]
        ends = [s["text"].rstrip().endswith(SENTENCE_END) for s in segments]
        windows, whole = [], []  # whole: starts at a sentence start and ends at a sentence end
        for i in range(len(segments)):
            for j in range(i, len(segments)):
                if junk[j]:
                    break  # a window never takes boilerplate in
                length = segments[j]["end"] - segments[i]["start"]
                if length > max_s:
                    break
                if length >= min_s and not junk[i]:
                    window = (self._score(segments, centrality, i, j), i, j)
                    windows.append(window)
                    if (i == 0 or ends[i - 1]) and ends[j]:
                        whole.append(window)
        windows = whole or windows  # whole sentences when the talk allows it
        if not windows:  # a talk shorter than the band (or all of it boilerplate): the whole of it
            windows = [(self._score(segments, centrality, 0, len(segments) - 1), 0, len(segments) - 1)]
        picks = _spread(windows, segments, count)
        clips = []
        for score, i, j in picks:
            words = Counter(w for s in segments[i:j + 1] for w in tokens(s["text"]))
            keywords = [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1] * idf.get(kv[0], 0), kv[0]))[:3]]
            first = segments[i]["text"].strip()
            central = max(range(i, j + 1), key=lambda k: (centrality[k], -k))
            clips.append({
                "start_segment": segments[i]["id"], "end_segment": segments[j]["id"],
                "title": _title(segments[central]["text"]) or " · ".join(k.capitalize() for k in keywords)
                or "Highlight",
                "hook": first if len(first) <= 120 else first[:117].rsplit(" ", 1)[0] + "…",
                "reason": f"central to this {content_type}: it dwells on {', '.join(keywords)}",
                "score": round(score, 4),
            })
        reply = {"clips": clips}
        return {"result": reply, "raw": reply, "usage": {"prompt_tokens": 0, "completion_tokens": 0}}

    @staticmethod
    def _score(segments, centrality, i, j) -> float:
        span = segments[i:j + 1]
        weights = [max(1, len(s["words"])) for s in span]
        core = sum(c * w for c, w in zip(centrality[i:j + 1], weights)) / sum(weights)
        opener = span[0]["text"].strip().lower()
        hook = 0.15 if opener.endswith("?") or opener.startswith(HOOK_OPENERS) else 0.0
        ending = 0.05 if span[-1]["text"].rstrip().endswith((".", "!", "?")) else 0.0
        # a clip should start where a sentence starts
        beginning = 0.1 if i == 0 or segments[i - 1]["text"].rstrip().endswith((".", "!", "?")) else 0.0
        return core * (1 + hook + ending + beginning)


def textrank(sentences: list[list[str]], damping: float = 0.85, iterations: int = 40) -> list[float]:
    """PageRank centrality of each sentence in its TF-IDF cosine-similarity graph,
    normalized so the mean is 1."""
    n = len(sentences)
    if n == 1:
        return [1.0]
    idf = _idf(sentences)
    vectors = []
    for words in sentences:
        tf = Counter(words)
        vec = {w: c * idf[w] for w, c in tf.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vectors.append({w: v / norm for w, v in vec.items()})
    sim = [[0.0] * n for _ in range(n)]
    for a in range(n):
        for b in range(a + 1, n):
            small, large = (vectors[a], vectors[b]) if len(vectors[a]) < len(vectors[b]) else (vectors[b], vectors[a])
            value = sum(v * large.get(w, 0.0) for w, v in small.items())
            sim[a][b] = sim[b][a] = value
    out = [sum(row) or 1.0 for row in sim]
    rank = [1.0 / n] * n
    for _ in range(iterations):
        rank = [(1 - damping) / n + damping * sum(rank[b] * sim[b][a] / out[b] for b in range(n)) for a in range(n)]
    mean = sum(rank) / n
    return [r / mean for r in rank]


def _idf(sentences: list[list[str]]) -> dict[str, float]:
    df = Counter(w for words in sentences for w in set(words))
    n = len(sentences)
    return {w: math.log((1 + n) / (1 + d)) + 1 for w, d in df.items()}


def _title(text: str, most: int = 8) -> str:
    """A title from the window's most central sentence: its first clause, at most ``most``
    words, without the closing punctuation."""
    text = re.sub(r"^\s*\d+[.)]\s*", "", text)  # "1. Communism is ..." reads as a list item, not a title
    clause = re.split(r"[,;:\u2014]\s", text.strip(), maxsplit=1)[0]
    words = clause.strip(" .!?\"\u201c\u201d").split()
    if len(words) < 3:
        words = text.strip(" .!?\"\u201c\u201d").split()
    if not words:
        return ""
    title = " ".join(words[:most]) + ("\u2026" if len(words) > most else "")
    return title[0].upper() + title[1:]


def _spread(windows, segments, count):
    """Best non-overlapping windows, the best of each region of the video first."""
    start, end = segments[0]["start"], segments[-1]["end"]
    regions = max(1, count)
    width = (end - start) / regions or 1
    ranked = sorted(windows, key=lambda w: (-w[0], w[1]))
    chosen = []

    def free(i, j):
        return all(j < a or i > b for _, a, b in chosen)

    for region in range(regions):
        lo, hi = start + region * width, start + (region + 1) * width
        for w in ranked:
            mid = (segments[w[1]]["start"] + segments[w[2]]["end"]) / 2
            if lo <= mid < hi + (1e-9 if region == regions - 1 else 0) and free(w[1], w[2]):
                chosen.append(w)
                break
    for w in ranked:
        if len(chosen) >= count:
            break
        if free(w[1], w[2]):
            chosen.append(w)
    return sorted(chosen, key=lambda w: (-w[0], w[1]))[:count]


def guess_language(text: str) -> str:
    words = text.lower().split()
    markers = {"en": {"the", "and", "is", "of", "to"}, "de": {"der", "die", "und", "ist", "nicht"},
               "fr": {"le", "la", "et", "est", "les"}, "es": {"el", "la", "y", "es", "los"}}
    counts = {lang: sum(w in m for w in words) for lang, m in markers.items()}
    return max(counts, key=counts.get) if any(counts.values()) else "und"
