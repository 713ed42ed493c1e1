"""No dead air: the speech rules a clip keeps, and their measure over runs of units.

* the longest silence inside a clip (between two of its words, or between its edge and its
  first or last word) is at most ``max_silence_s`` (default 3 s): so a clip never glues two
  scenes or two thoughts across a long pause;
* its speech share is at least ``min_speech`` (default 70 %): silence is every gap of
  ``GAP_S`` (0.5 s) or more between words (a breath inside a sentence is speech); the
  clip's length counts its padding (at most ``PADDING_S`` in all).

On film (``Rules.scenes``), no clip spans a scene change either (``clips.scenes``: a jump
in the room's sound, or a cut in the picture, marks the unit after it).

Film and music may be configured otherwise (``CLIPQUEUE_CLIP_MAX_SILENCE_S`` and
``CLIPQUEUE_CLIP_MIN_SPEECH`` take a default and per-type values, "3,music=10").
``Speech(units)`` answers both for any run of units in constant time (prefix sums and a
sparse table of the largest gaps), so a 2-hour talk's tens of thousands of candidate runs
cost milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass

from workers.pipeline.clips.scenes import CUT

GAP_S = 0.5
PADDING_S = 0.5  # both edges of a clip together: choosing.PAD before and after


@dataclass(frozen=True)
class Rules:
    max_silence_s: float = 3.0
    min_speech: float = 0.70
    scenes: bool = False  # no clip spans a scene change (film)


SCENE_KINDS = ("film",)


def rules_for(kind: str | None, settings=None) -> Rules:
    """The speech rules for a content type: the settings' per-type values, else their default."""
    if settings is None:
        return Rules(scenes=kind in SCENE_KINDS)

    def pick(pairs, fallback):
        values = dict(pairs or ())
        return float(values.get(kind, values.get("", fallback)))
    return Rules(pick(getattr(settings, "clip_max_silence_s", ()), Rules.max_silence_s),
                 pick(getattr(settings, "clip_min_speech", ()), Rules.min_speech), kind in SCENE_KINDS)


class Speech:
    """Silence inside runs of units (``sentences.split``): ``longest(i, j)`` the longest gap
    inside units i..j, ``share(i, j, start, end)`` their speech share between two times."""

    def __init__(self, units: list[dict]):
        inner_max, inner_sum = [], []
        for unit in units:
            gaps = [b["start"] - a["end"] for a, b in zip(unit["words"], unit["words"][1:])]
            inner_max.append(max(gaps, default=0.0))
            inner_sum.append(sum(g for g in gaps if g >= GAP_S))
        self.between = [max(0.0, b["start"] - a["end"]) for a, b in zip(units, units[1:])]
        # the jump in the room's sound (or a picture cut) before unit k + 1 (clips.scenes)
        self.scene = [float(b.get("scene") or 0.0) for b in units[1:]]
        self.cuts = [0]  # prefix counts of scene changes between units
        for jump in self.scene:
            self.cuts.append(self.cuts[-1] + (jump >= CUT))
        self.quiet = [0.0]  # prefix sums of silence: inside unit k, then between k and k + 1
        for k, inner in enumerate(inner_sum):
            self.quiet.append(self.quiet[-1] + inner)
            between = self.between[k] if k < len(self.between) else 0.0
            self.quiet.append(self.quiet[-1] + (between if between >= GAP_S else 0.0))
        # gap[2k]: largest inside unit k; gap[2k + 1]: between unit k and k + 1
        gaps = [x for k, inner in enumerate(inner_max) for x in (inner, self.between[k] if k < len(self.between)
                                                                   else 0.0)]
        self.table = [gaps]
        width = 1
        while 2 * width <= len(gaps):
            last = self.table[-1]
            self.table.append([max(last[i], last[i + width]) for i in range(len(gaps) - 2 * width + 1)])
            width *= 2

    def longest(self, i: int, j: int) -> float:
        """The longest silence between two words of units i..j."""
        lo, hi = 2 * i, 2 * j + 1  # inside unit i .. inside unit j (hi exclusive)
        level = (hi - lo).bit_length() - 1
        row = self.table[level]
        return max(row[lo], row[hi - (1 << level)])

    def silence(self, i: int, j: int) -> float:
        """Seconds of silence (gaps of GAP_S or more) between the words of units i..j."""
        return self.quiet[2 * j + 1] - self.quiet[2 * i]

    def share(self, i: int, j: int, start: float, end: float) -> float:
        """Speech share of units i..j cut from ``start`` to ``end`` (their padding counted in
        the length)."""
        length = end - start + PADDING_S
        return 1.0 - self.silence(i, j) / length if length > 0 else 0.0

    def spans_scene(self, i: int, j: int) -> bool:
        """Whether a scene change lies between units i and j."""
        return self.cuts[j] - self.cuts[i] > 0

    def apart(self, rules: Rules, k: int) -> bool:
        """Whether units k and k + 1 may not be in one clip: a silence over the rules'
        longest between them, or (film) a scene change."""
        return self.between[k] > rules.max_silence_s or (rules.scenes and self.scene[k] >= CUT)

    def keeps(self, rules: Rules, i: int, j: int, start: float, end: float) -> bool:
        return (self.longest(i, j) <= rules.max_silence_s and self.share(i, j, start, end) >= rules.min_speech
                and not (rules.scenes and self.spans_scene(i, j)))
