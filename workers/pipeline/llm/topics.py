"""Topic segmentation of a transcript: where the talk moves on to something else.

TextTiling (Hearst, 1997) over sentence embeddings: at each gap between two sentences,
compare the mean embedding of the ``block`` sentences before it with that of the ``block``
after it. A topic boundary is a gap whose similarity dips well below the peaks on both
sides (its depth score is over the mean depth plus half a standard deviation), taken
deepest first, with at least ``min_units`` sentences between two boundaries.
"""
from __future__ import annotations


def gap_similarity(vectors, block: int = 3) -> list[float]:
    """Cosine similarity across each gap ``g`` (between sentence ``g - 1`` and ``g``), for
    ``g`` in ``1 .. n - 1``."""
    import numpy as np

    out = []
    for g in range(1, len(vectors)):
        left = vectors[max(0, g - block):g].sum(axis=0)
        right = vectors[g:g + block].sum(axis=0)
        denominator = float(np.linalg.norm(left) * np.linalg.norm(right)) or 1.0
        out.append(float(left @ right) / denominator)
    return out


def depths(similarity: list[float]) -> list[float]:
    """Each gap's depth: how far its similarity lies below the highest point reached by
    climbing uphill from it on either side."""
    out = []
    for g, value in enumerate(similarity):
        left = value
        for k in range(g - 1, -1, -1):
            if similarity[k] < left:
                break
            left = similarity[k]
        right = value
        for k in range(g + 1, len(similarity)):
            if similarity[k] < right:
                break
            right = similarity[k]
        out.append((left - value) + (right - value))
    return out


def segment(vectors, block: int = 3, min_units: int = 3) -> list[tuple[int, int]]:
    """Topic segments as inclusive ``(first, last)`` sentence ranges covering all of them."""
    n = len(vectors)
    if n < 2 * min_units:
        return [(0, n - 1)] if n else []
    depth = depths(gap_similarity(vectors, block))
    mean = sum(depth) / len(depth)
    spread = (sum((d - mean) ** 2 for d in depth) / len(depth)) ** 0.5
    cutoff = mean + spread / 2
    cuts: list[int] = []
    for d, gap in sorted(((d, g + 1) for g, d in enumerate(depth)), reverse=True):
        if d <= cutoff or d <= 0:
            break
        if gap >= min_units and n - gap >= min_units and all(abs(gap - c) >= min_units for c in cuts):
            cuts.append(gap)
    edges = [0, *sorted(cuts), n]
    return [(a, b - 1) for a, b in zip(edges, edges[1:])]
