"""The offline backend's clip picks: units of meaning an editor would cut, scored on what
they say, spread over the video.

1. Every sentence unit is embedded (``embeddings``), the talk is cut into topics
   (``topics``: TextTiling), and each unit gets its salience, density, intensity and filler
   share (``salience``) and its place in the talk's structure (``clips.meaning``:
   questions, speaker turns, answers, leaning starts, thoughts that go on).
2. A candidate is a run of whole units that fits the band and keeps the editor's rules:
   it starts where a sentence starts, never on an answer whose question is outside it nor
   on "For instance" or "He said" (a leading "And", "So", "Yes," is cut off instead: the clip
   starts on the next word); it never ends on a question whose answer is outside it; no
   silence inside it is longer than the rules allow and its speech share is high enough
   (``clips.rules``); it takes in no boilerplate.
3. Its score is the salience of what it says (words weighted) and its coherence, times
   factors for how whole it is: a question with its whole answer x1.3 (its answer cut
   x0.75); opening a paragraph (after a pause, or where a topic opens) or a turn that asks
   x1, another turn x0.9, elsewhere x0.8, and x0.8 more inside an answer (its question is
   outside), x0.85 more on a pronoun that points back, x0.7 on a greeting; ending where the thought
   ends (the speaker stops, a pause follows, the answer ends) x1, at another sentence end
   x0.85, where the next line goes on with it x0.65; outside an exchange, one topic x1.05,
   each topic crossed x0.95 (TextTiling on a few sentences is a weak signal); a
   little for length (x0.9 at the band's minimum to x1.1 at FULL_S: a whole unit is
   rarely short); and its lift: intensity
   and density against the talk's (-0.2 to +0.3, -0.15 to +0.15), less its filler share.
4. The best non-overlapping candidates are spread over the video (the best of each region
   first), each with a one-line reason. If no run fills the band without breaking a rule,
   the best shorter one is taken, and its reason says why it is short (units with no
   sentence edge at all, unpunctuated, are taken as they come).
"""
from __future__ import annotations

from workers.pipeline.clips.meaning import Structure, leaning
from workers.pipeline.clips.rules import Rules, Speech
from workers.pipeline.clips.scenes import SOFT
from workers.pipeline.clips.sentences import closes, is_boilerplate
from workers.pipeline.llm.salience import density, filler, intensity, salience
from workers.pipeline.llm.text import tokens

SHORTEST_S = 4.0  # a clip shorter than this is no clip, whatever the band
FULL_S = 45.0     # a whole unit of meaning is rarely shorter: runs up to this long are preferred a little
STANDALONE_S = 8.0  # a clip under the band shorter than this stands alone poorly: only when nothing else is there
SOFT_SCENE = 0.6  # a run across a soft scene change (clips.scenes: the room's sound jumps, not enough to cut)


def find(units: list[dict], *, content_type: str, min_s: float, max_s: float, count: int,
         rules: Rules = Rules()) -> list[dict]:
    """Up to ``count`` clips, each citing its first and last unit by id, best first."""
    if not units:
        return []
    pool = runs(units, min_s=min_s, max_s=max_s, rules=rules)
    best = max(c[0] for c in pool) or 1.0
    clips = []
    for value, i, j, parts in merge(spread(pool, units, count), units, max_s, rules):
        short = units[j]["end"] - _opening(units[i], leaning(units[i]["text"])) < min_s
        clips.append({"start_segment": units[i]["id"], "end_segment": units[j]["id"],
                      "reason": reason(content_type, units[i:j + 1], parts, short),
                      "score": round(max(0.0, value) / best, 4)})
    return clips


def merge(chosen: list[tuple], units: list[dict], max_s: float, rules: Rules) -> list[tuple]:
    """Picks side by side (the second starts on the first's next unit) where the same voice
    goes on, with no pause of a paragraph between them, become one clip when together they
    fit the band and keep the rules: a bulletin or a monologue is posted whole, not in
    halves."""
    from workers.pipeline.clips.meaning import Structure

    shape, speech = Structure(units), Speech(units)
    out = sorted(chosen, key=lambda c: c[1])
    k = 0
    while k + 1 < len(out):
        a, b = out[k], out[k + 1]
        if (b[1] == a[2] + 1 and not units[b[1]].get("new_voice") and shape.gap[b[1]] < 1.5 and not shape.question[b[1]]
                and units[b[2]]["end"] - units[a[1]]["start"] <= max_s
                and speech.keeps(rules, a[1], b[2], units[a[1]]["start"], units[b[2]]["end"])):
            parts = {**a[3], "ends": b[3]["ends"], "merged": True}
            out[k:k + 2] = [(max(a[0], b[0]) * 1.05, a[1], b[2], parts)]
        else:
            k += 1
    return sorted(out, key=lambda c: (-c[0], c[1]))


def runs(units: list[dict], *, min_s: float, max_s: float, rules: Rules = Rules()) -> list[tuple]:
    """Every run of units that keeps the rules, as (score, first, last, parts): those that
    fill the band, else shorter ones, else ones without sentence edges; at least one."""
    from workers.pipeline.llm.embeddings import embed
    from workers.pipeline.llm.topics import segment

    vectors = embed([u["text"] for u in units])
    topics = segment(vectors)
    topic_of = [t for t, (a, b) in enumerate(topics) for _ in range(a, b + 1)]
    words_of = [tokens(u["text"]) for u in units]
    weight = [max(1, len(u["words"])) for u in units]
    sal, dense = salience(units, words_of, vectors), density(units, words_of)
    strong = [intensity(u["text"]) for u in units]
    fill = [filler(u["text"]) for u in units]
    typical = sum(s * w for s, w in zip(strong, weight)) / sum(weight) or 0.1
    shape, speech = Structure(units), Speech(units)
    prefix = vectors.cumsum(axis=0)
    junk = [is_boilerplate(u["text"]) for u in units]
    ok_end = [closes(u) for u in units]
    opens_at = [_opening(u, shape.leaning[i]) for i, u in enumerate(units)]
    ok_start = [i == 0 or closes(units[i - 1]) for i in range(len(units))]
    topic_start = {a for a, _ in topics}

    def opens(i: int) -> float:
        asks = any(shape.question[k] for k in range(i, min(i + 3, len(units))) if k == i or not shape.turn[k])
        if i == 0 or shape.gap[i] >= 1.0 or (i in topic_start and shape.gap[i] >= 0.8) or (
                shape.turn[i] and asks) or (rules.scenes and speech.scene[i - 1] >= SOFT):
            value = 1.0  # a paragraph, or a turn that asks
        elif shape.turn[i]:
            value = 0.9
        else:
            value = 0.8
        if shape.in_answer[i]:
            value *= 0.8  # its question is outside
        if shape.pronoun[i] and shape.leaning[i] is None:
            value *= 0.85
        if shape.greeting[i]:
            value *= 0.7  # "Welcome back …": the clip starts before it has anything to say
        return value

    def score(i: int, j: int) -> tuple[float, dict]:
        w = weight[i:j + 1]
        total = sum(w)
        mean = lambda values: sum(v * x for v, x in zip(values[i:j + 1], w)) / total  # noqa: E731
        vec = prefix[j] - (prefix[i - 1] if i else 0)
        coherence = float((vec @ vec) ** 0.5) / (j - i + 1)
        asked = [q for q in range(i, j + 1) if shape.question[q] and shape.answer_end[q] is not None]
        whole = any(shape.answer_end[q] == j for q in asked)  # it ends where an answer it holds ends
        cut = any(shape.answer_end[q] > j for q in asked)
        ends_thought = j + 1 == len(units) or shape.turn[j + 1] or shape.gap[j + 1] >= 1.0 or any(
            shape.answer_end[q] == j for q in asked) or (rules.scenes and speech.scene[j] >= SOFT)
        ended = [shape.answer_end[p] for p in asked]
        fresh = sum(1 for q in asked if q > i + 1 and (  # another exchange begins: after a pause, someone asks; or
            shape.gap[q] >= 1.0 and shape.turn[q] or q - 1 in ended  # the question follows an answer's end; or,
            or not rules.scenes and not shape.question[q - 1] and any(e < q for e in ended)))  # in talk, comes after
        parts = {
            "whole": (0.75 if cut else (1.3 if whole else 1.0)) * 0.85 ** fresh,
            "opens": opens(i),
            "ends": 0.65 if shape.goes_on[j] else (1.0 if ends_thought else 0.85),
            "topics": 1.0 if whole else (1.05 if topic_of[j] == topic_of[i] else 0.95 ** (topic_of[j] - topic_of[i])),
            "length": 0.9 + 0.2 * min(1.0, max(0.0, (units[j]["end"] - units[i]["start"] - min_s)
                                               / max(1.0, FULL_S - min_s))),
            "scenes": SOFT_SCENE ** sum(x >= SOFT for x in speech.scene[i:j]) if rules.scenes else 1.0,
            "lift": 1 + max(-0.2, min(0.3, 0.25 * (mean(strong) / typical - 1)))
                      + max(-0.15, min(0.15, 0.15 * (mean(dense) - 1))) - mean(fill),
        }
        value = mean(sal) * (0.5 + 0.5 * coherence)
        for factor in parts.values():
            value *= factor
        return value, parts

    candidates, short, loose = [], [], []
    for i in range(len(units)):
        if junk[i] or shape.answers[i] or (shape.leaning[i] and shape.leaning[i][0] == "refer"):
            continue
        for j in range(i, len(units)):
            if junk[j] or (j > i and speech.apart(rules, j - 1)):
                break
            length = units[j]["end"] - opens_at[i]
            if length > max_s:
                break
            if shape.dangling_end[j] or length < SHORTEST_S or not speech.keeps(rules, i, j, opens_at[i],
                                                                              units[j]["end"]):
                continue
            value, parts = score(i, j)
            edges = ok_start[i] and ok_end[j]
            (candidates if edges and length >= min_s else short if edges else loose if length >= min_s
             else []).append((value, i, j, parts))
    standalone = [c for c in short if units[c[2]]["end"] - opens_at[c[1]] >= STANDALONE_S]
    if candidates and standalone and rules.scenes:  # film: a whole short exchange of one scene may fill a slot,
        # behind every run in the band (elsewhere the band is what was asked for)
        floor = min(c[0] for c in candidates)
        candidates += [(min(c[0], floor) * 0.8, *c[1:]) for c in standalone if c[3]["ends"] == 1.0
                       and c[3]["opens"] >= 0.9]
    pool = candidates or standalone or short or loose  # loose: no sentence edges at all (unpunctuated units)
    if not pool:  # nothing keeps the rules: the best sentence that is not boilerplate (the first, if all are)
        pool = [(score(k, k)[0], k, k, score(k, k)[1]) for k in range(len(units)) if not junk[k]] or [
            (score(0, 0)[0], 0, 0, score(0, 0)[1])]
        pool = [max(pool, key=lambda c: (c[0], units[c[2]]["end"] - units[c[1]]["start"]))]
    return pool


def _opening(unit: dict, lean) -> float:
    """When a clip starting with ``unit`` starts: after a leading connective it cuts off."""
    return unit["words"][lean[1]]["start"] if lean and lean[0] == "trim" and lean[1] < len(unit["words"]) \
        else unit["start"]


def reason(content_type: str, run: list[dict], parts: dict, short: bool) -> str:
    """One line an editor reads: what the clip is, its line, and why it stands on its own."""
    from workers.pipeline.clips.meaning import is_question

    where, asked = next(((k, u["text"]) for k, u in enumerate(run) if is_question(u["text"])), (0, None))
    voices = sum(bool(u.get("new_voice")) for u in run[1:])
    if parts["whole"] > 1 and asked:  # it asks (opening on the question), or takes one in on its way
        what = (f"asks \u201c{_quote(asked)}\u201d and holds the whole answer" if where <= 1
                else f"takes in \u201c{_quote(asked)}\u201d and its answer")
    elif content_type == "film":
        what = "a whole exchange" if voices else "a speech told whole"
    elif content_type == "news" or parts.get("merged"):
        what = "a whole bulletin, told without a break" if content_type == "news" else "told whole, without a break"
    else:
        what = "a self-contained passage"
    lines = [u["text"] for u in run if len(tokens(u["text"])) >= 5] or [u["text"] for u in run]
    line = max(lines, key=lambda t: ((0.5 + intensity(t)) * len(tokens(t)) ** 0.5, t))
    said = [what, f"its line: \u201c{_quote(line)}\u201d" if not asked or line != asked else ""]
    why = []
    if parts["ends"] == 1.0:
        why.append("ends where the thought ends")
    if parts["lift"] > 1.05:
        why.append("dense and dramatic (numbers, names, contrasts)")
    if parts["opens"] == 1.0 and not parts["whole"] > 1 and run[0]["text"][:1].isupper():  # not mid-sentence
        why.append("opens on a fresh start")
    said.append(", ".join(why))
    if short:
        said.append("shorter than the band: no longer run here keeps the rules (no dead air, no cut exchange, "
                    "no second scene)")
    return "; ".join(x for x in said if x)


def _quote(text: str, limit: int = 70) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "\u2026"


def spread(candidates, units, count):
    """Best non-overlapping candidates, the best of each region of the video first (as many
    regions as clips, on a video long enough to hold that many apart)."""
    start, end = units[0]["start"], units[-1]["end"]
    span = max(c[2] for c in candidates) and (units[-1]["end"] - units[0]["start"])
    longest = max(units[c[2]]["end"] - units[c[1]]["start"] for c in candidates)
    regions = max(1, min(count, int(span / (2.5 * max(1.0, longest)))))  # a short video is one region
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
