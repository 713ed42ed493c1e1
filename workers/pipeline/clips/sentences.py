"""Whisper's segments re-cut into sentences: the units clips are chosen from.

Whisper cuts its segments where its 30-second decoding windows and its own timing say, not
where sentences end ("... decried as communist by its opponents" | "in power?"). Clips are
chosen from sentence units instead, so that any run of units starts at a sentence start and
ends at a sentence end, for both LLM backends.

* A unit ends at a word that ends a sentence (``.``, ``!``, ``?``, optionally followed by a
  closing quote or bracket), or before a pause of ``PAUSE_S`` or more (unpunctuated speech
  still has breaths; a pause of exactly ``PAUSE_S``, to the millisecond, counts), or where
  another speaker takes over after a comma (Whisper runs "…nice to be here, so where did
  the idea come from?" into one sentence across two voices: ``turns.voice_changes``, at a
  distance of ``SPLIT`` or more, with three words or more on either side), or before a
  word that only opens sentences written capitalized straight after a lowercase word
  (``OPENING``: "… difficult to change Where do you make it?"; three words or more before), or,
  for a run-on sentence, at the last clause edge (``,;:``) before it grows past
  ``MAX_UNIT_S`` (a unit of exactly ``MAX_UNIT_S`` is not cut).
* A unit keeps its words exactly as Whisper timed them; ``id`` numbers the units from 0,
  ``segment`` names the Whisper segment its first word came from, and ``closed_by`` says
  what ended it: ``sentence``, ``pause``, ``turn``, ``clause`` (a run-on cut) or ``end``
  (the transcript's last words) or ``capital`` (a sentence's opening word capitalized after a
  lowercase word with no stop: Whisper left the full stop out). Only ``clause`` is not a
  place a clip may start after or end at. ``gap`` is the silence before the unit (seconds) and ``new_voice`` whether the
  voice prints say another speaker starts with it (None: the words carry no voice prints);
  ``scene``, when its first word has one, the jump in the room's sound before it
  (``clips.scenes``).
* ``is_boilerplate`` says whether a sentence is housekeeping that is never a clip:
  recording disclaimers, web addresses read aloud, subscribe / like / sponsor reads,
  "thanks for watching".
"""
from __future__ import annotations

import re

from workers.pipeline.clips.turns import voice_changes

PAUSE_S = 1.5
MAX_UNIT_S = 30.0
SPLIT = 1.3  # a sentence is cut where the voice changes this much (and three words or more lie on each side)
_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*$")
_ENUMERATOR = re.compile(r"^\(?\d{1,2}[.)]$")
_CLAUSE = re.compile(r"[,;:\u2014]$")
# words that open a sentence and are never capitalized inside one (names, "I" and titles are)
OPENING = {"where", "what", "why", "how", "when", "who", "which", "do", "does", "did", "is", "are", "was", "were",
           "can", "could", "would", "will", "should", "have", "has", "so", "and", "but", "because", "the", "we",
           "they", "it", "it's", "there", "this", "that", "these", "those", "yes", "no", "well", "then", "you",
           "he", "she", "if", "now", "let's", "our", "my", "in", "on", "at"}
_ABBREVIATION = re.compile(r"^(mr|mrs|ms|dr|st|vs|e\.g|i\.e|jr|sr|prof)\.$", re.IGNORECASE)
BOILERPLATE = re.compile(
    r"\b(public domain|librivox|audiobooks?|this (audio)?book is|recording is in|text version of|"
    r"www\.|\w+\.(org|com|net)\b|subscribe|hit the bell|smash (that|the) like|"
    r"like and subscribe|sponsored by|this video is sponsored|patreon|link in the description|"
    r"thanks for watching|welcome back to (my|the) channel)\b", re.IGNORECASE)


def ends_sentence(word: str) -> bool:
    """Whether ``word`` closes a sentence ("power?", "www.example.org.", not "Mr.")."""
    word = word.strip()
    return bool(_END.search(word)) and not _ABBREVIATION.match(word)


def is_boilerplate(text: str) -> bool:
    return bool(BOILERPLATE.search(text))


def split(segments: list[dict], pause_s: float = PAUSE_S, max_unit_s: float = MAX_UNIT_S) -> list[dict]:
    """Sentence units of ``segments`` (Whisper's, with words), in order."""
    flat = [(s.get("id", n), w) for n, s in enumerate(segments) for w in s.get("words") or []]
    changes = voice_changes([w for _, w in flat])
    voiced = any(w.get("voice") for _, w in flat)
    units: list[dict] = []
    current: list[dict] = []
    origin = None
    first = 0  # index into flat of the current unit's first word

    def close(upto: int, why: str) -> None:
        nonlocal current, origin, first
        words, current = current[:upto], current[upto:]
        if words:
            gap = words[0]["start"] - units[-1]["end"] if units else words[0]["start"]
            units.append(_unit(len(units), words, origin, why, gap, (first in changes) if voiced else None))
            first += len(words)
        origin = seg_id if current else None

    for k, (seg_id, word) in enumerate(flat):
        if current and round(word["start"] - current[-1]["end"], 3) >= pause_s:
            close(len(current), "pause")
        elif current and changes.get(k, 0.0) >= SPLIT and _CLAUSE.search(current[-1]["word"]) \
                and len(current) >= 3 and _sentence_goes_on(flat, k, 3):
            close(len(current), "turn")
        elif len(current) >= 3 and missed_stop(current[-1]["word"], word["word"]):
            close(len(current), "capital")
        if origin is None:
            origin = seg_id
        current.append(word)
        if ends_sentence(word["word"]) and not (len(current) == 1 and _ENUMERATOR.match(word["word"])):
            close(len(current), "sentence")  # ("1." opening a list item is not a sentence of its own)
        elif round(current[-1]["end"] - current[0]["start"], 3) > max_unit_s:
            edges = [n + 1 for n, w in enumerate(current[:-1]) if _CLAUSE.search(w["word"])]
            close(edges[-1] if edges else len(current) - 1, "clause")
    if current:
        close(len(current), "end")
    return units


def missed_stop(before: str, word: str) -> bool:
    """Whether Whisper left out a full stop between ``before`` and ``word``: it wrote a
    sentence's opening word capitalized ("… difficult to change Where do you make it?")
    straight after a lowercase word with no punctuation."""
    before, word = before.strip(), word.strip()
    return bool(before[-1:].islower() and word[:1].isupper() and word[1:2].islower()
                and word.rstrip(",.?!").lower() in OPENING)


def _sentence_goes_on(flat: list, k: int, words: int) -> bool:
    """Whether the sentence goes on for at least ``words`` words from ``flat[k]``."""
    for n in range(k, min(len(flat), k + words - 1)):
        if ends_sentence(flat[n][1]["word"]):
            return False
    return k + words - 1 < len(flat)


def _unit(number: int, words: list[dict], segment, closed_by: str, gap: float, new_voice: bool | None) -> dict:
    text = "".join((" " if w.get("space", True) else "") + w["word"] for w in words).strip()
    return {"id": number, "start": words[0]["start"], "end": words[-1]["end"], "text": text,
            "words": words, "segment": segment, "closed_by": closed_by, "gap": round(max(0.0, gap), 3),
            "new_voice": new_voice, **({"scene": words[0]["scene"]} if words[0].get("scene") else {})}


def closes(unit: dict) -> bool:
    """Whether a clip may end with ``unit`` (and the next one start after it): a sentence
    end, a pause, or the end of the talk; not a run-on sentence cut at a comma."""
    if "closed_by" in unit:
        return unit["closed_by"] != "clause"
    return bool(unit.get("words")) and ends_sentence(unit["words"][-1]["word"])


def starts_sentence(units: list[dict], index: int) -> bool:
    """Whether the unit at ``index`` begins a sentence: it is the first, or the one before
    it ``closes``."""
    return index == 0 or closes(units[index - 1])
