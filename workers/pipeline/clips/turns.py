"""Speaker turns: where one person stops talking and another starts.

Two cues, both cheap:

* **a pause** of ``TURN_PAUSE_S`` or more between two sentences: in a monologue too it is
  where a thought ends;
* **a change of voice** (``voice`` prints, from the transcript step): at each boundary that
  could be a turn (after a word with punctuation, or before a gap of 0.3 s or more), the
  voice prints of up to ``CONTEXT_WORDS`` words within ``CONTEXT_S`` seconds on each side
  are compared: the distance between their means, each coefficient scaled by the spread
  on both sides (a change of speaker moves the mean more than the words of one speaker
  scatter around it), over the square root of the number of coefficients. A boundary is a
  change of speaker when its distance reaches ``CHANGE`` and no boundary within
  ``PEAK_S`` seconds has a larger one.

The thresholds were chosen on the measures of bench/picks.py (precision over recall: a
missed turn costs a bonus, a false one cuts an answer short). On a dialogue composed of
seven real voices with pauses that say nothing (0 to 0.5 s whatever the speaker), it finds
63 % of the changes of speaker at 95 % precision (pauses alone, at their best threshold:
80 % at 36 %); on our interview 57 % at 100 % (pauses: 30 % at 37 %); one voice alone
hears 0.3 false changes a minute.
"""
from __future__ import annotations

CONTEXT_S = 2.0
CONTEXT_WORDS = 8
CHANGE = 1.2        # voice distance that means another speaker
PEAK_S = 1.0
TURN_PAUSE_S = 1.5  # a pause this long ends a turn, whoever speaks next
_CANDIDATE_GAP_S = 0.3


def voice_changes(words: list[dict]) -> dict[int, float]:
    """{k: distance} for each boundary before ``words[k]`` where the voice changes (see
    the module docstring); empty when the words carry no voice prints."""
    import numpy as np

    have = [bool(w.get("voice")) for w in words]
    if sum(have) < 4:
        return {}
    found = {}
    for k in range(1, len(words)):
        gap = words[k]["start"] - words[k - 1]["end"]
        if not (words[k - 1]["word"][-1:] in ",.;:?!\u2014" or gap >= _CANDIDATE_GAP_S):
            continue
        left = _context(words, have, range(k - 1, -1, -1), words[k]["start"])
        right = _context(words, have, range(k, len(words)), words[k]["start"])
        if not left or not right:
            continue
        a = np.asarray(left, dtype=np.float32)
        b = np.asarray(right, dtype=np.float32)
        spread = np.sqrt((a.var(axis=0) + b.var(axis=0)) / 2 + 4.0)  # prints are in half units: 4 = 1 unit squared
        distance = float(np.linalg.norm((a.mean(axis=0) - b.mean(axis=0)) / spread)) / np.sqrt(a.shape[1])
        if distance >= CHANGE:
            found[k] = distance
    times = {k: words[k]["start"] for k in found}
    return {k: d for k, d in found.items()
            if all(d >= other or abs(times[j] - times[k]) > PEAK_S for j, other in found.items() if j != k)}


def _context(words, have, indices, at: float) -> list[list[int]]:
    out = []
    for j in indices:
        if abs(words[j]["start"] - at) > CONTEXT_S and abs(words[j]["end"] - at) > CONTEXT_S:
            break
        if have[j]:
            out.append(words[j]["voice"])
            if len(out) == CONTEXT_WORDS:
                break
    return out
