"""What each sentence is worth to a clip, offline: salience against the whole talk,
information density and intensity.

* **salience**: the mean of the sentence's TextRank in the TF-IDF graph (shared words) and in
  the embedding graph (shared meaning): what the talk keeps coming back to;
* **density**: content words per second, relative to the talk's median sentence;
* **intensity**: what makes a line land: an exclamation, a question, a contrast ("but",
  "not", "never", "instead"), a number, a name (a capitalized word inside the sentence), a
  superlative ("first", "biggest", "only"), quoted speech; per word, so a long sentence does
  not win by length;
* **filler**: the share of its words that are fillers ("um", "uh", "you know", "I mean").
"""
from __future__ import annotations

import re

CONTRAST = {"but", "not", "never", "no", "instead", "however", "yet", "although", "though", "only", "nobody",
            "nothing", "don't", "didn't", "won't", "can't", "isn't", "wasn't", "doesn't", "rather", "except"}
SUPERLATIVE = {"first", "last", "biggest", "best", "worst", "most", "least", "only", "every", "all", "always",
               "ever", "greatest", "whole", "entire", "million", "thousand", "hundred", "must", "immediately"}
NUMBER_WORDS = {"two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty",
                "thirty", "forty", "fifty", "hundred", "thousand", "million", "billion", "half", "dozen"}
# words of stakes: what makes a viewer stop (danger, loss, conflict, feeling), by stem
EMOTIVE = ("murder", "kill", "dead", "death", "die", "dying", "blood", "fire", "burn", "fear", "afraid", "scare",
           "terrif", "danger", "creature", "monster", "attack", "escape", "trap", "war", "fight", "hate", "love",
           "secret", "mistake", "wrong", "lost", "lose", "fail", "broke", "crash", "disaster", "flood", "crisis",
           "save", "rescue", "panic", "hysteri", "scream", "devour", "flesh", "victim", "gun", "weapon", "aggress",
           "violen", "cheap", "profit", "money", "price", "forbid", "refuse", "never")
FILLERS = {"um", "uh", "er", "ah", "hmm", "mm"}
SELF = ("i", "i'm", "i'll", "i've", "i'd")  # capitalized always: never a name
FILLER_PAIRS = {"you know", "i mean", "sort of", "kind of"}
_WORD = re.compile(r"[A-Za-z0-9']+")


def intensity(text: str) -> float:
    """How strongly a sentence lands, per word (0 for a flat statement; about 0.1-0.4 for
    a line with a number, a name, a contrast or an exclamation)."""
    words = _WORD.findall(text)
    if not words:
        return 0.0
    lower = [w.lower() for w in words]
    points = 1.0 * text.count("!") + 0.5 * text.rstrip().endswith("?")
    points += 0.5 * min(2, sum(w in CONTRAST for w in lower))
    points += 0.5 * min(2, sum(w.isdigit() or w in NUMBER_WORDS or bool(re.match(r"^\d", w)) for w in lower))
    points += 0.5 * min(2, sum(w[:1].isupper() and w.lower() not in SELF
                               for w in words[1:]))
    points += 0.5 * min(1, sum(w in SUPERLATIVE for w in lower))
    points += 0.5 * bool(re.search(r"\b(said|says|wrote|asked),", text))
    return points / len(words) ** 0.5


def emotive(text: str) -> int:
    """How many of a line's words carry stakes (``EMOTIVE`` stems: "murder", "afraid",
    "mistake", "flood")."""
    return sum(w.lower().startswith(EMOTIVE) for w in _WORD.findall(text))


def filler(text: str) -> float:
    lower = [w.lower() for w in _WORD.findall(text)]
    if not lower:
        return 0.0
    pairs = sum(" ".join(lower[k:k + 2]) in FILLER_PAIRS for k in range(len(lower) - 1))
    return (sum(w in FILLERS for w in lower) + 2 * pairs) / len(lower)


def salience(units: list[dict], words_of: list[list[str]], vectors) -> list[float]:
    """Each unit's centrality (mean 1): TextRank over TF-IDF and over the embeddings."""
    from workers.pipeline.llm.text import pagerank, textrank

    sim = (vectors @ vectors.T).clip(min=0)
    sim[range(len(units)), range(len(units))] = 0.0
    return [(x + y) / 2 for x, y in zip(textrank(words_of), pagerank(sim))]


def density(units: list[dict], words_of: list[list[str]]) -> list[float]:
    """Content words per second of each unit over the talk's median (1.0 = typical)."""
    rates = [len(w) / max(0.5, u["end"] - u["start"]) for u, w in zip(units, words_of)]
    ordered = sorted(rates)
    median = ordered[len(ordered) // 2] or 1.0
    return [r / median for r in rates]
