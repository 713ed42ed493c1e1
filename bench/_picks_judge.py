"""bench/picks.py's judge: an editor's rules checked on the transcript's own words, written
apart from the picker (it shares no code with workers/pipeline/clips or llm), so that a
picker that fools itself is still caught.

A clip breaks a rule when
* **silence**: two of its consecutive words (or its edge and its first or last word) lie
  more than ``MAX_SILENCE_S`` apart;
* **speech**: less than ``MIN_SPEECH`` of it is speech; silence is every gap of
  ``GAP_S`` or more between words (a breath inside a sentence is speech);
* **start**: its first words lean on something outside it: "And", "So", "But", "Or",
  "Yes", "Yeah", "No,", "Because", "Also", "Then", "For instance", "For example",
  "He said", "She said", "They said", "That's why", "Which";
* **answer**: it opens on an answer whose question is outside it: the sentence just
  before it (ending less than ``QA_GAP_S`` before its first word) ends with "?" and its own
  first sentence does not;
* **question**: it ends on a question whose answer is outside it: its last word ends with
  "?" and someone speaks again within ``QA_GAP_S``.

A title breaks a rule when it has fewer than 3 or more than 10 words, ends with "…" (or
"..."), opens with a filler or a connective, ends on a word that cannot end a phrase
("the", "of", "to", "a", "and", ...), or uses a word that is in the clip only once and that
Whisper heard with a probability under ``DOUBT`` (a likely mishearing), or that is not in
the clip at all.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

SCORES = Path(__file__).resolve().parent / "labels" / "editor_scores.json"

MAX_SILENCE_S = 3.0
MIN_SPEECH = 0.70
GAP_S = 0.5
QA_GAP_S = 3.0
DOUBT = 0.5
LEANING = ("and", "so", "but", "or", "yes", "yeah", "because", "also", "then", "for instance", "for example",
           "he said", "she said", "they said", "that's why", "which")
DANGLING_END = {"the", "a", "an", "of", "to", "and", "or", "but", "in", "on", "at", "for", "with", "by", "from",
                "that", "is", "are", "was", "be", "my", "your", "our", "their", "his", "her", "its", "more", "than"}
FILLER = {"um", "uh", "so", "and", "but", "well", "yes", "yeah", "oh", "okay", "like", "right"}


def plain(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def clip_words(clip: dict, words: list[dict]) -> list[dict]:
    return [w for w in words if w["start"] >= clip["start"] - 0.01 and w["end"] <= clip["end"] + 0.01]


def rule_breaks(clip: dict, words: list[dict]) -> list[str]:
    inside = clip_words(clip, words)
    if not inside:
        return ["empty"]
    out = []
    edges = [clip["start"], *[x for w in inside for x in (w["start"], w["end"])], clip["end"]]
    gaps = [b - a for a, b in zip(edges[::2], edges[1::2])]
    if max(gaps) > MAX_SILENCE_S:
        out.append(f"silence {max(gaps):.1f} s")
    duration = clip["end"] - clip["start"]
    share = 1 - sum(g for g in gaps if g >= GAP_S) / duration
    if share < MIN_SPEECH:
        out.append(f"speech {share:.0%}")
    opening = " ".join(plain(w["word"]) for w in inside[:2])
    first = plain(inside[0]["word"])
    if first in LEANING or opening in LEANING or (first == "no" and inside[0]["word"].endswith(",")):
        out.append(f"start '{' '.join(w['word'] for w in inside[:2])}'")
    n = words.index(inside[0])
    if n > 0 and words[n - 1]["word"].endswith("?") and inside[0]["start"] - words[n - 1]["end"] < QA_GAP_S:
        own = next((w for w in inside if re.search(r"[.!?]$", w["word"])), inside[-1])
        if not own["word"].endswith("?"):
            out.append("answer without its question")
    m = words.index(inside[-1])
    if inside[-1]["word"].endswith("?") and m + 1 < len(words) and words[m + 1]["start"] - inside[-1]["end"] < QA_GAP_S:
        out.append("question without its answer")
    return out


def title_breaks(clip: dict, words: list[dict]) -> list[str]:
    title = (clip.get("title") or "").strip()
    tokens = [plain(t) for t in title.split() if plain(t)]
    out = []
    if not 3 <= len(tokens) <= 10:
        out.append(f"{len(tokens)} words")
    if title.endswith(("\u2026", "...")):
        out.append("trails off")
    if tokens and (tokens[0] in FILLER):
        out.append(f"opens with '{tokens[0]}'")
    if tokens and tokens[-1] in DANGLING_END:
        out.append(f"ends on '{tokens[-1]}'")
    inside = clip_words(clip, words)
    heard: dict[str, list[float]] = {}
    for n, w in enumerate(inside):
        heard.setdefault(plain(w["word"]), []).append(w.get("probability", 1.0))
        glued = w["word"]  # "R" "&D" heard with no space between them: the title may say "R&D"
        for nxt in inside[n + 1:]:
            if nxt.get("space", True):
                break
            glued += nxt["word"]
            heard.setdefault(plain(glued), []).append(min(w.get("probability", 1.0), nxt.get("probability", 1.0)))
    for token in tokens:
        if token not in heard and not token.isdigit():
            out.append(f"'{token}' not in the clip")
        elif token in heard and len(heard[token]) == 1 and heard[token][0] < DOUBT:
            out.append(f"'{token}' misheard? (p={heard[token][0]:.2f})")
    return out


def covered(label: dict, clips: list[dict]) -> bool:
    """Whether one clip holds at least 60 % of the labelled moment."""
    length = label["end"] - label["start"]
    return any(min(label["end"], c["end"]) - max(label["start"], c["start"]) >= 0.6 * length for c in clips)


def clip_key(clip: dict) -> str:
    """How an editor's score names a clip: its times and its title (a new title is a new clip)."""
    return f"{clip['start']:.1f}-{clip['end']:.1f} {clip.get('title') or ''}"


def editor_scores() -> dict:
    return json.loads(SCORES.read_text()) if SCORES.exists() else {}


def editor_mean(scores: dict, name: str, clips: list[dict]) -> dict:
    """The editor's scores (1-5, read aloud from bench/out/picks) of these clips, and how many
    are not scored yet."""
    mine = scores.get(name, {})
    found = [mine[clip_key(c)][0] for c in clips if clip_key(c) in mine]
    return {"scores": found, "unscored": len(clips) - len(found)}
