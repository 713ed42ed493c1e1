"""The first pass over a long transcript: windows scored offline, the best shortlisted for
the model.

A language model reads a short transcript whole. A long one (over ``clip_lookup.LONG_S``)
is read in two passes, the pattern production clippers use:

1. **score windows, cheaply**: the transcript is cut into windows of about ``WINDOW_S``
   seconds (at least one and a half times the band's maximum), every ``STEP_S`` seconds,
   each starting where a sentence starts and ending where one ends. A window is worth the
   best run of units inside it that keeps the editor's rules, scored by the offline picker
   (``picks.runs``: salience against the whole talk, intensity, density, a question with its
   whole answer, a thought that ends): no model, no tokens, a second or two for two hours;
2. **shortlist**: the best window of each region of the video (as many regions as clips
   asked for), then the next best, none overlapping another, ``PER_CLIP`` windows per clip
   asked for in all. Only those are sent to the model (``clip_lookup.look_up``), which is
   asked for clips inside them with the rules spelled out.
"""
from __future__ import annotations

from workers.pipeline.clips.rules import Rules
from workers.pipeline.clips.sentences import closes

WINDOW_S = 90.0
STEP_S = 45.0
PER_CLIP = 2


def windows(units: list[dict], size_s: float = WINDOW_S, step_s: float = STEP_S) -> list[tuple[int, int]]:
    """(first, last) unit indices of overlapping windows of about ``size_s`` seconds, one
    starting every ``step_s`` seconds, on sentence edges."""
    starts = [i for i in range(len(units)) if i == 0 or closes(units[i - 1])]
    out, next_at = [], units[0]["start"] if units else 0.0
    for i in starts:
        if units[i]["start"] < next_at:
            continue
        last = i
        for j in range(i, len(units)):
            if units[j]["end"] - units[i]["start"] > size_s:
                break
            if closes(units[j]) or j == len(units) - 1:
                last = j
        out.append((i, last))
        next_at = units[i]["start"] + step_s
        if last == len(units) - 1:
            break
    return out


def shortlist(units: list[dict], *, min_s: float, max_s: float, count: int, rules: Rules = Rules()
              ) -> list[tuple[int, int, float]]:
    """(first, last, score 0..1) of the windows to send to the model, in time order."""
    from workers.pipeline.llm.picks import runs

    if not units:
        return []
    spans = windows(units, max(WINDOW_S, 1.5 * max_s), STEP_S)
    pool = runs(units, min_s=min_s, max_s=max_s, rules=rules)
    scored = []
    for a, b in spans:
        inside = [value for value, i, j, _ in pool if a <= i and j <= b]
        scored.append((max(inside, default=0.0), a, b))
    best = max((s for s, _, _ in scored), default=0.0) or 1.0
    total = min(len(scored), PER_CLIP * count)
    start, end = units[0]["start"], units[-1]["end"]
    width = (end - start) / max(1, count) or 1.0
    chosen: list[tuple[float, int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b < x or a > y for _, x, y in chosen)

    ranked = sorted(scored, key=lambda w: (-w[0], w[1]))
    for region in range(count):
        lo, hi = start + region * width, start + (region + 1) * width
        for w in ranked:
            middle = (units[w[1]]["start"] + units[w[2]]["end"]) / 2
            if lo <= middle <= hi and free(w[1], w[2]) and len(chosen) < total:
                chosen.append(w)
                break
    for w in ranked:
        if len(chosen) >= total:
            break
        if free(w[1], w[2]):
            chosen.append(w)
    return sorted(((a, b, round(value / best, 4)) for value, a, b in chosen), key=lambda w: w[0])
