"""The editor's rules applied to any backend's clip: a cited run of units is repaired into
one that keeps them, or refused.

In this order, each step only where the band allows (a clip never grows past its maximum;
where it would have to, the rule gives way and the clip's reason says so):

1. an answer whose question is outside the clip: the question is taken in;
2. a start that refers back ("For instance", "He said", "That's why"): the sentence before
   is taken in, or else the clip starts one sentence later;
3. a question at the end whose answer is outside: the whole answer is taken in, or else the
   question is left out;
4. a thought that goes on past the end ("…so we decided to drop the screen." "Drop it."):
   up to two more sentences are taken in;
5. a silence longer than the rules allow inside it, or (film) a change of scene: the clip is
   cut there, keeping the longer side;
6. the band: whole sentences are added (never across dead air, never ending on a question)
   or dropped;
7. a speech share still under the rules' minimum: the clip is refused.

A leading "And", "So", "Yes," is not repaired here: ``choosing`` starts the clip on the next
word.
"""
from __future__ import annotations

from workers.pipeline.clips.meaning import Structure
from workers.pipeline.clips.rules import Rules, Speech


class Refused(Exception):
    """A clip no repair can make keep the rules; the message says why."""


def repair(first: int, last: int, units: list[dict], shape: Structure, speech: Speech, rules: Rules,
           min_s: float, max_s: float, junk: list[bool]) -> tuple[int, int, list[str], list[str]]:
    """(first, last, repairs made, rules the band made give way) for a cited run."""
    done: list[str] = []
    waived: list[str] = []

    def length(a: int, b: int) -> float:
        return units[b]["end"] - units[a]["start"]

    def fits(a: int, b: int) -> bool:
        return length(a, b) <= max_s and not any(speech.apart(rules, k) for k in range(a, b))

    while shape.answers[first]:
        if first > 0 and fits(first - 1, last) and not junk[first - 1]:
            first -= 1
            done.append("took in the question its answer needs")
        else:
            waived.append("it opens on an answer: its question would take it past the band or across a silence")
            break
    if shape.leaning[first] and shape.leaning[first][0] == "refer":
        if first > 0 and fits(first - 1, last) and not junk[first - 1]:
            first -= 1
            done.append("took in the sentence its first words refer to")
        elif first < last:
            first += 1
            done.append("started after a sentence that refers back")
    if shape.dangling_end[last]:
        end = shape.answer_end[last]
        if end is not None and fits(first, end) and not any(junk[last + 1:end + 1]):
            last = end
            done.append("took in the answer to its last question")
        elif last > first:
            last -= 1
            done.append("left out a closing question whose answer it did not hold")
        else:
            waived.append("it ends on a question whose answer does not fit")
    grown = 0
    while grown < 2 and shape.goes_on[last] and fits(first, last + 1) and not junk[last + 1]:
        last, grown = last + 1, grown + 1
        done.append("took in the line that completes its thought")
    first, last = _cut_dead_air(first, last, speech, rules, done)
    first, last = _fit_band(first, last, units, shape, speech, rules, min_s, max_s, junk)
    start = units[first]["start"]
    if not speech.keeps(rules, first, last, start, units[last]["end"]):
        share = speech.share(first, last, start, units[last]["end"])
        raise Refused(f"too little speech: {share:.0%} (the rules ask for {rules.min_speech:.0%})"
                      if speech.longest(first, last) <= rules.max_silence_s else
                      f"a silence of {speech.longest(first, last):.1f} s inside it")
    return first, last, done, waived


def _cut_dead_air(first, last, speech: Speech, rules: Rules, done: list[str]) -> tuple[int, int]:
    while True:
        long = [k for k in range(first, last) if speech.apart(rules, k)]
        if not long:
            return first, last
        k = max(long, key=lambda g: (speech.between[g] > rules.max_silence_s, speech.between[g]))
        if (k - first) >= (last - k - 1):
            last = k
        else:
            first = k + 1
        done.append(f"cut at a silence of {speech.between[k]:.1f} s" if speech.between[k] > rules.max_silence_s
                    else "cut at a change of scene")


def _fit_band(first, last, units, shape: Structure, speech: Speech, rules: Rules, min_s, max_s, junk):
    def length(a, b):
        return units[b]["end"] - units[a]["start"]

    while length(first, last) > max_s and last > first:
        last -= 1
        while last > first and shape.dangling_end[last]:
            last -= 1
    def keeps(a, b):  # growing never breaks the speech rules
        return length(a, b) <= max_s and not any(junk[a:b + 1]) and speech.keeps(
            rules, a, b, units[a]["start"], units[b]["end"])

    while length(first, last) < min_s:
        nxt = last + 1
        grow_end = nxt < len(units) and keeps(first, nxt)
        if grow_end and shape.dangling_end[nxt]:
            end = shape.answer_end[nxt]
            grow_end = end is not None and keeps(first, end)
            if grow_end:
                last = end
                continue
        grow_start = (first > 0 and keeps(first - 1, last) and not shape.answers[first - 1]
                      and not (shape.leaning[first - 1] and shape.leaning[first - 1][0] == "refer"))
        if grow_end:
            last = nxt
        elif grow_start:
            first -= 1
        else:
            break
    return first, last
