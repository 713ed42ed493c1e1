"""Verbatim quotes back to transcript positions.

A language model is asked for each clip's first and last words, quoted, besides the ids of
the units it cites: models copy text well but keep ids and timestamps badly (an id off by
one moves a clip by a whole sentence). ``locate`` finds the quote among the transcript's
words, fuzzily (case, punctuation and a misheard word do not matter), preferring the match
nearest the cited unit, and returns the unit that holds its first (or last) word; the
clip then starts (or ends) on that unit's edge, a sentence edge.
"""
from __future__ import annotations

import re
from difflib import SequenceMatcher

MIN_RATIO = 0.6   # share of the quote's words that must match, in order
MAX_WORDS = 12    # a longer quote is cut to its first (or last) twelve words
RADIUS = 40       # units searched on either side of the cited one

_TOKEN = re.compile(r"[\w']+")


def normal(text: str) -> list[str]:
    return [t.lower().strip("'") for t in _TOKEN.findall(text) if t.strip("'")]


def windows_alike(wanted: list[str], words: list[str]):
    """(start, matcher) for each run of ``len(wanted)`` consecutive ``words``, the matcher
    comparing it with ``wanted`` (its ``ratio()`` is the share of words alike, in order)."""
    size = len(wanted)
    for start in range(max(1, len(words) - size + 1)):
        yield start, SequenceMatcher(None, wanted, words[start:start + size], autojunk=False)


def best_ratio(quote: str, text: str) -> float:
    """How well ``quote`` matches its best place in ``text`` (0..1; case and punctuation aside)."""
    wanted, words = normal(quote), normal(text)
    if not wanted:
        return 0.0
    return max((match.ratio() for _, match in windows_alike(wanted, words)), default=0.0)


def locate(quote: str | None, units: list[dict], cited: int | None, side: str) -> int | None:
    """Index (into ``units``) of the unit holding the quote's first word (``side="first"``)
    or last word (``side="last"``); None when the quote is missing or matches nowhere well
    enough. ``cited`` is the index the model cited, or None (then the whole transcript)."""
    wanted = normal(quote or "")
    if not wanted:
        return None
    wanted = wanted[:MAX_WORDS] if side == "first" else wanted[-MAX_WORDS:]
    lo, hi = (0, len(units)) if cited is None else (max(0, cited - RADIUS), min(len(units), cited + RADIUS + 1))
    words, owner = [], []
    for index in range(lo, hi):
        for word in units[index]["words"]:
            for token in normal(word["word"]):
                words.append(token)
                owner.append(index)
    best = None
    for start, match in windows_alike(wanted, words):
        ratio = match.ratio()
        if ratio < MIN_RATIO:
            continue
        # a match's anchor is its first matched word (side "first") or last (side "last")
        blocks = [b for b in match.get_matching_blocks() if b.size]
        anchor = start + (blocks[0].b if side == "first" else blocks[-1].b + blocks[-1].size - 1)
        distance = abs(owner[anchor] - cited) if cited is not None else 0
        key = (-round(ratio, 3), distance, anchor)
        if best is None or key < best[0]:
            best = (key, owner[anchor])
    return None if best is None else best[1]
