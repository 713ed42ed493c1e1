"""Shared text helpers of the offline backend: content words, TF-IDF TextRank, list numbers."""
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
WORD = re.compile(r"[a-zA-Z][a-zA-Z'-]+")
LIST_NUMBER = re.compile(r"^\s*\(?\d{1,2}[.)]\s+")  # "1. ", "(2) ": not "2.5 million"


def tokens(text: str) -> list[str]:
    return [w for w in (m.group(0).lower().strip("'-") for m in WORD.finditer(text))
            if len(w) > 2 and w not in STOPWORDS]


def pagerank(sim, damping: float = 0.85, iterations: int = 40) -> list[float]:
    """PageRank centrality of each node of a weighted, undirected similarity graph (an
    ``n x n`` matrix, zero diagonal), normalized so the mean is 1."""
    import numpy as np

    matrix = np.asarray(sim, dtype=np.float64)
    n = len(matrix)
    if n == 1:
        return [1.0]
    out = matrix.sum(axis=1)
    step = matrix / np.where(out > 0, out, 1.0)[:, None]
    rank = np.full(n, 1.0 / n)
    for _ in range(iterations):
        rank = (1 - damping) / n + damping * (rank @ step)
    return [float(r) for r in rank / rank.mean()]


def textrank(sentences: list[list[str]]) -> list[float]:
    """PageRank centrality of each sentence in its TF-IDF cosine-similarity graph (mean 1).
    Only words shared by two sentences or more make edges, so the matrix stays small
    (a 2-hour talk: a few thousand sentences by a few thousand words)."""
    import numpy as np

    n = len(sentences)
    if n == 1:
        return [1.0]
    weights = idf(sentences)
    df = Counter(w for words in sentences for w in set(words))
    shared = {w: k for k, w in enumerate(sorted(w for w, d in df.items() if d > 1))}
    matrix = np.zeros((n, max(1, len(shared))), dtype=np.float32)
    for row, words in enumerate(sentences):
        vec = {w: c * weights[w] for w, c in Counter(words).items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        for w, v in vec.items():
            if w in shared:
                matrix[row, shared[w]] = v / norm
    sim = matrix @ matrix.T
    sim[range(n), range(n)] = 0.0
    return pagerank(sim)


def idf(sentences: list[list[str]]) -> dict[str, float]:
    df = Counter(w for words in sentences for w in set(words))
    n = len(sentences)
    return {w: math.log((1 + n) / (1 + d)) + 1 for w, d in df.items()}


def without_list_number(text: str) -> str:
    """``text`` without the list number it opens with ("2. It is high time" -> "It is ...")."""
    return LIST_NUMBER.sub("", text.strip())
