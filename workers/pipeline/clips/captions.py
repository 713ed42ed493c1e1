"""Captions for a clip: cues of a few words each, written as SRT and WebVTT, with times
relative to the clip's start."""
from __future__ import annotations

from workers.pipeline.clips.choosing import join_words

WORDS_PER_CUE = 7
CUE_MAX_S = 3.5


def cues(clip: dict) -> list[tuple[float, float, str]]:
    """Caption cues from the clip's words, times relative to the clip's start."""
    out, current = [], []
    for word in clip["words"]:
        full = bool(current) and (len(current) >= WORDS_PER_CUE or word["end"] - current[0]["start"] > CUE_MAX_S)
        if current and full and word.get("space", True):  # never split "www.example.org"
            out.append(current)
            current = []
        current.append(word)
    if current:
        out.append(current)
    base = clip["start"]
    return [(max(0.0, c[0]["start"] - base), max(0.0, c[-1]["end"] - base), join_words(c)) for c in out]


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt(clip: dict) -> str:
    return "".join(f"{n}\n{_stamp(a, ',')} --> {_stamp(b, ',')}\n{text}\n\n"
                   for n, (a, b, text) in enumerate(cues(clip), 1))


def vtt(clip: dict) -> str:
    return "WEBVTT\n\n" + "".join(f"{_stamp(a, '.')} --> {_stamp(b, '.')}\n{text}\n\n" for a, b, text in cues(clip))
