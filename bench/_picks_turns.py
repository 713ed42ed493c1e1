"""bench/picks.py's measure of the speaker-turn cue: does the voice print find changes of
speaker that pauses alone miss?

Two dialogues with known speakers:

* **the interview** (tests/media/interview_radio.opus): who speaks when is in
  ``interview_radio.turns.json``, written when it was rendered;
* **seven real voices**: sentences of the single-speaker recordings in tests/media (the
  Manifesto's reader, the MIT licence's, JFK, the auto-editor speaker, the TV anchor, the
  TV expert and the man at the billboard in Night of the Living Dead), 1-3 at a time from
  one voice, then another, their words and voice prints shifted in time so that every gap
  between sentences, same speaker or not, is drawn from 0 to 0.5 s (a seeded draw): here
  a pause says nothing, only the voice can.

At every boundary after punctuation (where ``turns`` looks), a change of speaker found
within 0.5 s of a true one counts as found. Pauses alone are given their best threshold
(an oracle); the voice cue uses its fixed one. Each of the seven voices alone says how
often the cue hears a change where there is none (per minute of one person speaking).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VOICES = {"reader": ("manifesto.mp4", 20.0, 86.0), "licence": ("multilingual.mp3", 0.0, 30.5),
          "jfk": ("jfk.flac", 0.0, 11.0), "editor": ("autoeditor_example.mp4", 0.0, 17.5),
          "anchor": ("notld_1968/60s_i_dont_want_anyones_life_on_my_hands.opus", 26.5, 58.0),
          "expert": ("notld_1968/89s_ill_come_back_down_as_soon_as.opus", 9.0, 12.6),
          "ben": ("notld_1968/45s_right_through_the_billboard.opus", 0.0, 43.0)}


def interview(items: dict) -> tuple[list[dict], list[str]]:
    truth = json.loads((REPO / "tests" / "media" / "interview_radio.turns.json").read_text())
    words = [w for s in items["interview_radio.opus"]["segments"] for w in s["words"]]

    def who(t: float) -> str:
        return min(truth, key=lambda x: 0 if x["start"] <= t <= x["end"] else min(abs(t - x["start"]),
                                                                                   abs(t - x["end"])))["speaker"]
    return words, [who((w["start"] + w["end"]) / 2) for w in words]


def composed(items: dict, turns: int = 60, seed: int = 7) -> tuple[list[dict], list[str]]:
    pools = {}
    for speaker, (name, lo, hi) in VOICES.items():
        runs, run = [], []
        for w in (w for s in items[name]["segments"] for w in s["words"] if lo <= w["start"] and w["end"] <= hi):
            run.append(w)
            if w["word"][-1:] in ".?!," and len(run) >= 4:
                runs.append(run)
                run = []
        pools[speaker] = runs + ([run] if run else [])
    rng, words, speakers, t, last = random.Random(seed), [], [], 0.0, None
    for _ in range(turns):
        last = rng.choice([s for s in pools if s != last])
        for _ in range(rng.randint(1, 3)):
            run = rng.choice(pools[last])
            shift = t + rng.uniform(0.0, 0.5) - run[0]["start"]
            words += [{**w, "start": round(w["start"] + shift, 3), "end": round(w["end"] + shift, 3)} for w in run]
            speakers += [last] * len(run)
            t = words[-1]["end"]
    return words, speakers


def score(words: list[dict], speakers: list[str], found: set[int]) -> tuple[float, float]:
    """(precision, recall) of ``found`` (indices of words that start a new speaker)."""
    true = [k for k in range(1, len(words)) if speakers[k] != speakers[k - 1]]

    def near(k, pool):
        return any(abs(words[k]["start"] - words[j]["start"]) <= 0.5 for j in pool)
    hits = sum(near(k, found) for k in true)
    right = sum(near(k, true) for k in found)
    return right / max(1, len(found)), hits / max(1, len(true))


def by_pause(words: list[dict], speakers: list[str]) -> tuple[float, float, float]:
    """Pauses alone at their best threshold: (threshold, precision, recall)."""
    best = (0.0, 0.0, 0.0, -1.0)
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0):
        found = {k for k in range(1, len(words))
                 if words[k]["start"] - words[k - 1]["end"] >= threshold and words[k - 1]["word"][-1:] in ",.;:?!"}
        p, r = score(words, speakers, found)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if f1 > best[3]:
            best = (threshold, p, r, f1)
    return best[:3]


def report(items: dict) -> None:
    from workers.pipeline.clips.turns import voice_changes

    print("speaker turns found (precision / recall):")
    for name, (words, speakers) in (("the interview", interview(items)), ("seven real voices", composed(items))):
        threshold, pp, pr = by_pause(words, speakers)
        vp, vr = score(words, speakers, set(voice_changes(words)))
        changes = sum(a != b for a, b in zip(speakers, speakers[1:]))
        print(f"  {name:18s} ({changes:3d} changes): pauses alone (best, >= {threshold:.2f} s) {pp:.0%} / {pr:.0%}; "
              f"voice prints {vp:.0%} / {vr:.0%}")
    minutes = false = 0.0
    for name, lo, hi in VOICES.values():  # each voice alone: every change found is a false one
        words = [w for s in items[name]["segments"] for w in s["words"] if lo <= w["start"] and w["end"] <= hi]
        minutes += (words[-1]["end"] - words[0]["start"]) / 60
        false += len(voice_changes(words))
    print(f"  one voice at a time ({minutes:.1f} min): {false / minutes:.1f} false changes a minute")
