"""What a language model is asked for clips: the editor's rules spelled out, and the
transcript as numbered sentences with their lengths, the changes of speaker and the pauses
marked, so that it can keep the rules it is told.

Its answer is not trusted to keep them: ``clips.repair`` and ``llm.titles`` check every clip,
title and hook, and repair or refuse them.
"""
from __future__ import annotations

from workers.pipeline.clips.rules import Rules

PAUSE_MARK_S = 1.0  # a silence this long is shown to the model


def clip_messages(units: list[dict], *, content_type: str, min_s: float, max_s: float, count: int,
                  rules: Rules = Rules()) -> list[dict]:
    system = (
        f"You are a demanding video editor. From the transcript of a {content_type}, pick the moments people would "
        f"post as short clips. A clip is a run of consecutive transcript sentences: cite its first and last sentence "
        f"ids (start_segment, end_segment), and copy its first 5-8 words (first_words) and last 5-8 words "
        f"(last_words) exactly as they appear in the transcript. Do not compute timestamps. Each clip lasts "
        f"{min_s:.0f} to {max_s:.0f} seconds in total (each sentence's length is given).\n"
        f"The rules, all of them:\n"
        f"1. A clip is a unit of meaning: a question with its whole answer, a story with its punchline, a bulletin, "
        f"an argument with its conclusion.\n"
        f"2. Never start on an answer whose question is outside the clip; never end on a question whose answer is "
        f"outside it.\n"
        f"3. End where the thought ends: the end of the answer, the conclusion, the line that lands; never one "
        f"line before the payoff.\n"
        f"4. No dead air: never take in a silence longer than {rules.max_silence_s:g} seconds (silences of a "
        f"second or more are marked in the transcript), and keep the clip at least {rules.min_speech:.0%} speech; "
        f"never join two scenes or two speakers' unrelated lines across a long pause.\n"
        f"5. The first sentence must make sense to someone who saw nothing else: never start on 'And', 'So', "
        f"'Yes', 'For instance' or 'He said' when what they refer to is outside the clip.\n"
        f"6. Never pick disclaimers, sponsor reads, 'like and subscribe' or greetings.\n"
        f"For each clip give: title, a headline a person would write, 3 to 10 words, complete (never cut off "
        f"with '...', never one word), about what the clip says, in the clip's own words where they are good, and "
        f"never built on a word that looks misheard; hook, the clip's strongest line, copied exactly from it; "
        f"reason, one sentence on why it is worth posting; score, from 0 to 1. Answer only with JSON that matches "
        f"the schema.")
    return [{"role": "system", "content": system},
            {"role": "user", "content": "Transcript sentences ('-- new speaker --' marks a change of voice, "
                                        "'-- N s silence --' a pause):\n" + transcript_lines(units)
                                        + f"\n\nPick up to {count} clips."}]


def transcript_lines(units: list[dict]) -> str:
    """``[id] (length s) text`` per sentence, with the marks between them."""
    lines = []
    for n, unit in enumerate(units):
        gap = unit["start"] - units[n - 1]["end"] if n else 0.0
        if gap >= PAUSE_MARK_S:
            lines.append(f"-- {gap:.1f} s silence --")
        if n and unit.get("new_voice"):
            lines.append("-- new speaker --")
        lines.append(f"[{unit['id']}] ({unit['end'] - unit['start']:.1f} s) {unit['text']}")
    return "\n".join(lines)
