"""Captions for a clip: cues of a few words each, written as SRT and WebVTT, with times
relative to the clip's start; and the burned-in style (``ass``): short lines from the word
timestamps, the word being spoken highlighted, in the font that ships in ``fonts/``."""
from __future__ import annotations

from pathlib import Path

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


FONTS = Path(__file__).with_name("fonts")
FONT_NAME = "DejaVu Sans"  # fonts/DejaVuSans-Bold.ttf: the same on every machine
LINE_WORDS, LINE_MAX_S = 4, 2.2
HIGHLIGHT = "&H0000D7FF&"  # ASS colours are &HBBGGRR&: a warm yellow


def _ass_time(seconds: float) -> str:
    cs = int(round(max(0.0, seconds) * 100))
    h, rem = divmod(cs, 360000)
    m, rem = divmod(rem, 6000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _ass_text(word: str) -> str:
    return word.replace("\\", "").replace("{", "(").replace("}", ")")


def ass(clip: dict, width: int, height: int) -> str:
    """An ASS script for ``width`` x ``height``: lines of a few words at the bottom (higher up
    on tall frames, clear of players' controls), one event per spoken word with that word
    highlighted, so the highlight follows the speech."""
    tall = height > width
    size = round(height * (0.045 if tall else 0.065))
    margin = round(height * (0.2 if tall else 0.07))
    outline = max(2, round(size / 14))
    head = ("[Script Info]\nScriptType: v4.00+\nWrapStyle: 0\nScaledBorderAndShadow: yes\n"
            f"PlayResX: {width}\nPlayResY: {height}\n\n[V4+ Styles]\n"
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
            "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
            "Alignment, MarginL, MarginR, MarginV, Encoding\n"
            f"Style: Caption,{FONT_NAME},{size},&H00FFFFFF,&H00FFFFFF,&H00000000,&H80000000,-1,0,0,0,100,100,0,0,1,"
            f"{outline},0,2,{round(width * 0.06)},{round(width * 0.06)},{margin},1\n\n[Events]\n"
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")
    base, events = clip["start"], []
    for line in _lines(clip["words"]):
        for i, word in enumerate(line):
            start = word["start"] - base
            end = (line[i + 1]["start"] if i + 1 < len(line) else word["end"]) - base
            text = " ".join((f"{{\\c{HIGHLIGHT}}}{_ass_text(w['word'])}{{\\r}}" if j == i else _ass_text(w["word"]))
                            for j, w in enumerate(line))
            events.append(f"Dialogue: 0,{_ass_time(start)},{_ass_time(max(end, start + 0.05))},Caption,,0,0,0,,{text}")
    return head + "\n".join(events) + "\n"


def _lines(words: list[dict]) -> list[list[dict]]:
    lines, current = [], []
    for word in words:
        if current and (len(current) >= LINE_WORDS or word["end"] - current[0]["start"] > LINE_MAX_S):
            lines.append(current)
            current = []
        current.append(word)
    if current:
        lines.append(current)
    return lines

