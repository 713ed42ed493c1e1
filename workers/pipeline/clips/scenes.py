"""Scene changes, heard and seen: where a film (or anything edited) jumps to another place.

A clip that glues two scenes is no clip. Film scenes often abut with no pause at all, so
the speech rules (no silence over 3 s) do not keep them apart. Two cheap cues do:

* **the room** (``annotate``): at each sentence's edge (or a pause of 0.3 s or more
  between two words; nowhere else can a clip start), the background on either
  side, ``WINDOW_S`` of audio each (the gap itself left out), is compared: its quietest ``QUIET`` share of 25 ms
  frames (room tone, hum, music under the lines) as log-mel spectra, the distance of their
  means scaled by their spread. Another place sounds different under the words; another
  speaker in the same room mostly does not. The word after a jump of ``SOFT`` or more gets
  ``scene`` (the distance, one decimal) where it is the largest within a quarter of a window.
  ``CUT`` or more is a scene change: on film
  (``rules.Rules.scenes``) no clip spans it; a jump between ``SOFT`` and ``CUT`` only
  weighs against a run that spans it. On the film bench (eleven scenes joined with no
  gap) ``CUT`` finds 4 of the 10 changes that no pause gives away, at about 4 false
  changes a minute of film (so it is not used on talk: a studio interview's voices jump
  more than its room);
* **the picture** (``video_cuts``): where the file has video, ten frames a second at 64x36
  are compared by ffmpeg's scene score; a score of ``VIDEO_CUT`` or more marks the next
  word with ``scene`` = ``CUT``.

It costs one FFT pass over the audio already decoded (a 10-minute chunk: about 1.2 s and
72 MB at most, a minute of frames at a time) and, with video, one decoding pass over the
picture (far less than Whisper's pass over the sound).
"""
from __future__ import annotations

import re

from workers.pipeline.clips.voice import FFT, FRAME, HOP, RATE, _matrices

WINDOW_S = 3.0
QUIET = 0.1
SOFT = 2.0
CUT = 3.0
VIDEO_CUT = 0.4
FRAMES_S = RATE / HOP  # frames a second
BLOCK = 6000  # frames transformed at once (a minute)
_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")


def annotate(segments: list[dict], audio, offset_s: float, rate: int = RATE) -> list[dict]:
    """Mark each word after a jump in the room's sound with ``scene`` (see the module
    docstring); ``offset_s`` is the time of ``audio[0]``. Returns ``segments``."""
    import numpy as np

    words = [w for s in segments for w in s.get("words") or []]
    x = np.asarray(audio, dtype=np.float32)
    if len(words) < 2 or len(x) < 2 * FRAME or rate != RATE:
        return segments
    filters, _cosine, window = _matrices()
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP]  # a view: no copy
    spectra = np.concatenate([  # a minute of frames at a time: a 10-minute chunk stays a few MB
        np.log((np.abs(np.fft.rfft(frames[k:k + BLOCK] * window, n=FFT)) ** 2) @ filters.T + 1e-10)
        for k in range(0, len(frames), BLOCK)]).astype(np.float32)
    level = spectra.mean(axis=1)
    jumps = []
    for before, word in zip(words, words[1:]):
        if not (_END.search(before["word"].strip()) or word["start"] - before["end"] >= 0.3):
            continue  # a clip starts only where a sentence does (or after a pause)
        t = (before["end"] + word["start"]) / 2 - offset_s  # the gap between belongs to neither side
        left = _quiet(spectra, level, before["end"] - offset_s - WINDOW_S, before["end"] - offset_s)
        right = _quiet(spectra, level, word["start"] - offset_s, word["start"] - offset_s + WINDOW_S)
        if left is None or right is None:
            continue
        spread = (left.var(axis=0) + right.var(axis=0)) / 2 + 0.05
        jumps.append((t, float(np.sqrt(((left.mean(axis=0) - right.mean(axis=0)) ** 2 / spread).mean())), word))
    for t, jump, word in jumps:  # the windows overlap the change from both sides: only the peak counts
        if jump >= SOFT and all(other <= jump for u, other, _ in jumps if abs(u - t) <= WINDOW_S / 4):
            word["scene"] = max(word.get("scene", 0.0), round(jump, 1))
    return segments


def _quiet(spectra, level, lo_s: float, hi_s: float):
    import numpy as np

    lo, hi = max(0, int(lo_s * FRAMES_S)), min(len(level), int(hi_s * FRAMES_S))
    if hi - lo < 30:  # under 0.3 s of audio on this side: nothing to compare
        return None
    quietest = np.argsort(level[lo:hi])[:max(5, int((hi - lo) * QUIET))]
    return spectra[lo:hi][quietest]


def video_cuts(path, ffmpeg: str, timeout: float = 600.0) -> list[float]:
    """Times of the picture's cuts: frames whose scene score is ``VIDEO_CUT`` or more
    (empty without video or when ffmpeg cannot tell)."""
    import subprocess

    args = [ffmpeg, "-nostdin", "-hide_banner", "-i", str(path), "-an", "-sn",
            "-vf", f"fps=10,scale=64:36,select='gt(scene\\,{VIDEO_CUT})',showinfo", "-f", "null", "-"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [float(t) for t in re.findall(r"pts_time:\s*([0-9.]+)", done.stderr)]


def mark_video_cuts(segments: list[dict], cuts: list[float]) -> list[dict]:
    """The first word starting after each picture cut (and after the word before it ends)
    gets ``scene`` = ``CUT``."""
    words = [w for s in segments for w in s.get("words") or []]
    for cut in cuts:
        for before, word in zip([None, *words], words):
            if word["start"] >= cut - 0.05 and (before is None or before["end"] <= cut + 0.05):
                if before is not None:
                    word["scene"] = max(word.get("scene", 0.0), CUT)
                break
    return segments
