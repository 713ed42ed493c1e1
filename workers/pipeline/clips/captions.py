"""Captions for a clip: cues of a few words each, written as SRT and WebVTT, with times
relative to the clip's start; and the burned-in style (``ass``): short lines from the word
timestamps, the word being spoken highlighted, in the font that ships in ``fonts/``."""
from __future__ import annotations

import re
from pathlib import Path

WORDS_PER_CUE = 7
CUE_MAX_S = 3.5
# Words a line never ends on: titles and initials belong with the name that follows.
TITLES = {"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "mt.", "gen.", "gov.", "sen.", "rep.", "lt.", "col.",
          "capt.", "sgt.", "rev.", "hon.", "pres.", "no.", "vs.", "fig.", "sr.", "jr."}
# Words that belong with the number before them: "2.5 million", "40 percent".
MAGNITUDES = {"hundred", "thousand", "million", "millions", "billion", "billions", "trillion", "percent", "per",
              "cent", "dozen", "%"}
NUMBER_WORDS = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twenty", "thirty",
                "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "a", "half"}
_NUMBER = re.compile(r"^[$€£]?\d[\d,.]*%?$")
_GLUED = re.compile(r"^([.,]\w|[.,;:!?%)\]]+$|['’]\w{1,2}$)")  # ".S.", ",000", "%", "'s": the word before's


def words_shown(words: list[dict]) -> list[dict]:
    """The clip's words as a caption shows them: Whisper's pieces of one written word
    ("U" + ".S.", "1" + ",000", "don" + "'t") joined into one, timed from the first piece's
    start to the last one's end."""
    out: list[dict] = []
    for word in words:
        text = word["word"].strip()
        if not text:
            continue
        if out and (not word.get("space", True) or _GLUED.match(text)):
            out[-1] = {**out[-1], "word": out[-1]["word"] + text, "end": word["end"]}
        else:
            out.append({"word": text, "start": word["start"], "end": word["end"]})
    return out


def keep_together(before: str, word: str) -> bool:
    """Whether a line must not break between ``before`` and ``word``: inside an
    abbreviation or a title and its name ("Dr. King", "J. Edgar"), a number and its
    magnitude ("2.5 million"), or a name (capitalised words in a row)."""
    b, w = before.lower().strip("\"“”(),"), word.lower().strip("\"“”(),").rstrip(".,;:!?")
    if b in TITLES or re.fullmatch(r"(\w\.)+", b) and len(b) <= 4 and word[:1].isupper():
        return True  # "Dr." / "J." / "U.S." + a capitalised name
    if (_NUMBER.match(b) or b in NUMBER_WORDS) and (w in MAGNITUDES or _NUMBER.match(w)):
        return True
    return (before[:1].isupper() and word[:1].isupper() and before not in ("I",)
            and not re.search(r"[.!?,;:]$", before))


def chunks(words: list[dict], max_words: int, max_s: float) -> list[list[dict]]:
    """Shown words in runs of at most ``max_words`` / ``max_s``, never broken where
    ``keep_together`` says so. A run may grow by half as much again to keep a phrase whole;
    past that, the phrase moves to the next run (or, longer than a run, is cut)."""
    out, current = [], []
    for word in words_shown(words):
        if current:
            together = keep_together(current[-1]["word"], word["word"])
            full = len(current) >= max_words or word["end"] - current[0]["start"] > max_s
            over = len(current) >= max_words + max_words // 2 or word["end"] - current[0]["start"] > 1.5 * max_s
            if over and together:
                first = len(current) - 1  # where the phrase that ``word`` continues begins
                while first > 0 and keep_together(current[first - 1]["word"], current[first]["word"]):
                    first -= 1
                if first > 0:
                    out.append(current[:first])
                    current = current[first:]
                else:
                    out.append(current)
                    current = []
            elif over or (full and not together):
                out.append(current)
                current = []
        current.append(word)
    if current:
        out.append(current)
    return out


def cues(clip: dict) -> list[tuple[float, float, str]]:
    """Caption cues from the clip's words, times relative to the clip's start."""
    base = clip["start"]
    return [(max(0.0, c[0]["start"] - base), max(0.0, c[-1]["end"] - base), " ".join(w["word"] for w in c))
            for c in chunks(clip["words"], WORDS_PER_CUE, CUE_MAX_S)]


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
    for line in chunks(clip["words"], LINE_WORDS, LINE_MAX_S):
        for i, word in enumerate(line):
            start = word["start"] - base
            end = (line[i + 1]["start"] if i + 1 < len(line) else word["end"]) - base
            text = " ".join((f"{{\\c{HIGHLIGHT}}}{_ass_text(w['word'])}{{\\r}}" if j == i else _ass_text(w["word"]))
                            for j, w in enumerate(line))
            events.append(f"Dialogue: 0,{_ass_time(start)},{_ass_time(max(end, start + 0.05))},Caption,,0,0,0,,{text}")
    return head + "\n".join(events) + "\n"
