"""Units of meaning over sentence units: questions, speaker turns, answers, starts that
lean on what came before, and thoughts that go on into the next sentence.

An editor cuts an exchange (a question with its whole answer), a monologue, a bulletin, a
story with its punchline; never an answer without its question or a question without its
answer. ``Structure(units)`` reads that off the sentence units (``sentences.split``):

* ``question[i]``: the unit asks: it ends with "?", or opens (after a filler or a
  connective) with an auxiliary and then a subject ("is there", "can I", "do you"), or
  with a wh-word and an auxiliary within the next three words ("how long does", "what
  should", "where is"), not "when he died, I …";
* ``turn[i]``: someone starts a turn with unit i: the voice prints say a new speaker
  starts, or, where the words carry none, a pause of ``TURN_PAUSE_S`` or an answer after a
  question;
* ``answers[i]``: unit i opens an answer: the unit before it is a question, less than
  ``ANSWER_GAP_S`` earlier, and unit i is not one. A clip never starts there (its question
  is outside it);
* ``answer_end[q]``: for a question, the last unit of its answer: up to the next change of
  speaker (an interjection of three words or fewer, "Right.", does not end it, nor does a
  change the voice prints hear after an answer's curt start of three words or fewer, "Our
  first batch.", where a statement follows), the next
  question (unless its speaker asks it and goes on, in the first person, with no change of
  voice around it: "Can I open it? Because if the answer is no…"), or a pause of
  ``ANSWER_PAUSE_S`` (a paragraph's end); a run of questions shares the answer of its last
  one, also where an echo of three words or fewer lies between them ("…aggressive?"
  "People aggressive." "Does it make people aggressive…?");
* ``in_answer[i]``: unit i lies inside an answer, past its first sentence (a run of
  questions shares the answer of its last one);
* ``dangling_end[j]``: a clip may not end with unit j: it asks a question and someone
  speaks again within ``ANSWER_GAP_S``;
* ``goes_on[j]``: the thought goes on after unit j: the next unit, same speaker, less than
  0.8 s later, opens with a connective or "not", or is a fragment of three words or fewer
  ("Drop it.", "Small, but real.");
* ``leaning(text)``: how a unit's first words lean on what came before: ``None``, or
  (``"trim"``, n) for n words a clip may cut off ("And so", "Yes,", "Um,"), or
  (``"refer"``, 0) for words it may not start on at all ("For instance", "He said",
  "That's why", a list item's "2.", or the tail of the thought before running into a
  sentence that starts again: "gun game Because the people…"); ``greeting[i]``: it opens on a greeting ("Welcome
  back", "Thanks for having me"); ``pronoun[i]``: it opens on a pronoun ("It", "They") that points back.
"""
from __future__ import annotations

import re

from workers.pipeline.clips.turns import TURN_PAUSE_S

ANSWER_GAP_S = 3.0
ANSWER_PAUSE_S = 1.0  # a pause this long after an answer sentence ends the answer
TRIM = ("and so", "and then", "and", "so", "but", "or", "plus", "also", "then", "because", "now", "well", "oh",
        "um", "uh", "okay", "ok", "yes", "yeah", "no", "sure", "right")
INTERJECTIONS = {"no", "right", "well", "okay", "ok", "sure", "yes", "yeah", "oh"}
REFER = ("for instance", "for example", "he said", "she said", "they said", "that's why", "this is why", "which",
         "as i said", "like i said", "in other words", "that means", "that is why", "he says", "she says")
PRONOUNS = {"it", "it's", "this", "that", "that's", "they", "they're", "he", "he's", "she", "she's", "these",
            "those", "them", "his", "her", "its", "their"}
FIRST_PERSON = {"i", "we", "us", "our", "me", "my", "i'm", "we're", "i've", "we've"}
GREETING = re.compile(r"^\W*(hello|hi|hey there|welcome|good (morning|afternoon|evening)|thanks for (having|coming)|"
                      r"thank you for (having|coming))\b", re.IGNORECASE)
WH = {"what", "what's", "why", "how", "where", "where's", "when", "who", "who's", "whose", "which"}
AUX = {"is", "are", "was", "were", "do", "does", "did", "can", "could", "would", "will", "should", "shall", "have",
       "has", "had", "may", "might", "must", "am", "isn't", "aren't", "wasn't", "weren't", "don't", "doesn't",
       "didn't", "can't", "couldn't", "wouldn't", "won't", "shouldn't", "haven't", "hasn't"}
SUBJECTS = {"i", "you", "we", "they", "he", "she", "it", "there", "this", "that", "the", "a", "an", "your", "my",
            "our", "their", "his", "her", "anyone", "anybody", "someone", "somebody", "people"}
TAIL_WORDS = 3  # at most this many words of the thought before may open a unit before its sentence starts again
# words a sentence starts with that are no name: capitalised inside a unit, they show where Whisper started again
RESTARTS = set(TRIM) | PRONOUNS | {"the", "a", "an", "we", "you", "there", "there's", "what", "why", "how", "when",
                                   "where", "if", "in", "on", "my", "our", "your", "let's", "we're", "you're"}
_TOKEN = re.compile(r"[a-zA-Z0-9']+")


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def leaning(text: str) -> tuple[str, int] | None:
    """How the first words of ``text`` lean on what came before (see the module docstring).
    An interjection ("Yes", "No", "Right", "Well") counts only when punctuation follows it:
    "No one could open it" stands alone. A list item ("2. It is high time") leans on the
    sentence that announced the list."""
    raw = text.split()
    if raw and re.fullmatch(r"\(?\d{1,2}[.)]", raw[0]):
        return ("refer", 0)
    words = [" ".join(tokens(w)) for w in raw]
    opening = " ".join(words[:3])
    if any(opening == r or opening.startswith(r + " ") for r in REFER):
        return ("refer", 0)
    cut = 0
    while cut < 3 and cut < len(words):
        if " ".join(words[cut:cut + 2]) in TRIM and cut + 1 < len(words):
            cut += 2
        elif words[cut] in TRIM and (words[cut] not in INTERJECTIONS or raw[cut][-1:] in ",.!?;:"):
            cut += 1
        else:
            break
    if cut == 0:
        return ("refer", 0) if _trailing(raw) else None
    rest = [w for w in words[cut:] if w]
    if len(rest) < 3 or any(" ".join(rest[:3]).startswith(r) for r in REFER):
        return ("refer", 0)  # nothing that stands alone is left after the connective
    if _trailing(raw[cut:]):
        return ("refer", 0)
    return ("trim", cut) if cut else None


def _trailing(raw: list[str]) -> bool:
    """Whether ``raw`` (a unit's words, after any connective) opens on the tail of the
    thought before it: one to ``TAIL_WORDS`` words, then, with no punctuation between, a
    sentence that starts again with a capital ("gun game Because the people are raised":
    Whisper ran the end of one answer into the next sentence). Only an opener that is no
    name counts ("The", "Because", "It's", not "West Germany")."""
    for n in range(1, min(TAIL_WORDS, len(raw) - 1) + 1):
        before, word = raw[n - 1], raw[n]
        if re.search(r"[,;:.!?\u2014-]$", before):
            return False
        if word[:1].isupper() and " ".join(tokens(word)) in RESTARTS:
            return True
    return False


def is_question(text: str) -> bool:
    text = text.strip()
    if text.endswith("?"):
        return True
    words = tokens(text)
    while words and words[0] in TRIM:
        words = words[1:]
    if len(words) < 3 or text.rstrip().endswith("!"):
        return False
    if words[0] in AUX and words[1] in SUBJECTS:
        return True
    raw = text.split()
    while raw and " ".join(tokens(raw[0])) in TRIM:
        raw = raw[1:]  # "Um, and, well, what about money"
    head = re.split(r",", " ".join(raw), maxsplit=1)[0]
    lead = tokens(head)
    while lead and lead[0] in TRIM:
        lead = lead[1:]
    return bool(lead) and lead[0] in WH and any(w in AUX for w in lead[1:4])


class Structure:
    """The units of meaning of a list of sentence units (see the module docstring)."""

    def __init__(self, units: list[dict]):
        n = len(units)
        self.units = units
        self.gap = [u.get("gap", u["start"] - units[k - 1]["end"] if k else u["start"]) for k, u in enumerate(units)]
        self.question = [is_question(u["text"]) for u in units]
        voiced = any(u.get("new_voice") is not None for u in units)
        self.voiced = voiced
        self.turn = [i == 0 or bool(u.get("new_voice")) or self.gap[i] >= TURN_PAUSE_S
                     or (not voiced and self.question[i - 1] and not self.question[i]) for i, u in enumerate(units)]
        self.answers = [i > 0 and self.question[i - 1] and not self.question[i] and self.gap[i] < ANSWER_GAP_S
                        for i in range(n)]
        self.dangling_end = [self.question[j] and j + 1 < n and self.gap[j + 1] < ANSWER_GAP_S
                             for j in range(n)]
        self.leaning = [leaning(u["text"]) for u in units]
        self.greeting = [bool(GREETING.search(u["text"])) for u in units]
        self.pronoun = [bool(tokens(u["text"])[:1]) and tokens(u["text"])[0] in PRONOUNS for u in units]
        self.goes_on = [j + 1 < n and self._goes_on(j) for j in range(n)]
        self.answer_end = [self._answer_end(q) if self.question[q] else None for q in range(n)]
        for q in range(n - 2, -1, -1):  # a run of questions shares the answer of its last one, even with an echo
            # of three words or fewer between ("Do you think it makes people aggressive?" "People aggressive?" "Does
            # it make people aggressive to play gun games?")
            if self.question[q] and self.question[q + 1] and self.gap[q + 1] < ANSWER_PAUSE_S:
                self.answer_end[q] = self.answer_end[q + 1]
            elif self.question[q] and q + 2 < n and self.question[q + 2] and len(tokens(units[q + 1]["text"])) <= 3 \
                    and max(self.gap[q + 1], self.gap[q + 2]) < ANSWER_GAP_S:
                self.answer_end[q] = self.answer_end[q + 2]
        self.in_answer = [False] * n  # inside an answer, past its first sentence
        for q, end in enumerate(self.answer_end):
            for k in range(q + 2, (end or 0) + 1):
                self.in_answer[k] = True

    def _goes_on(self, j: int) -> bool:
        nxt = self.units[j + 1]
        if self.turn[j + 1] or self.gap[j + 1] >= 0.8 or self.question[j + 1]:
            return False
        words = tokens(nxt["text"])
        lean = self.leaning[j + 1]
        return (lean is not None and words[:1] != ["so"]) or words[:1] == ["not"] or len(words) <= 3

    def _answer_end(self, q: int) -> int | None:
        units, n = self.units, len(self.units)
        if q + 1 >= n or not self.answers[q + 1]:
            return None
        end = q + 1
        while end + 1 < n:
            nxt = end + 1
            if self.gap[nxt] >= ANSWER_PAUSE_S:
                break
            if self.question[nxt] and not self._asks_self(nxt):
                break
            if self.voiced and self.turn[nxt]:
                back = nxt + 1 < n and self.turn[nxt + 1] and not self.question[nxt]
                if back and len(tokens(units[nxt]["text"])) <= 3:
                    end = nxt + 1  # an interjection ("Right."): the answer goes on
                    continue
                if end == q + 1 and len(tokens(units[end]["text"])) <= 3 and not self.question[nxt]:
                    end = nxt  # "Our first batch." and then its story: a curt start, not a whole answer
                    continue
                break
            end = nxt
        return end

    def _asks_self(self, k: int) -> bool:
        """Whether question k is one its speaker asks and answers ("Can I open it? Because if
        …", "Why did we stop?"): the voice prints hear no change of speaker around it, and it
        speaks in the first person. A host's "What was your biggest mistake?" ends an answer
        even where the voice change is missed."""
        return (self.voiced and not self.turn[k] and k + 1 < len(self.units) and not self.turn[k + 1]
                and bool(FIRST_PERSON & set(tokens(self.units[k]["text"]))))

    def exchange(self, i: int, j: int) -> bool:
        """Whether units i..j hold a question and its whole answer."""
        return any(self.question[q] and self.answer_end[q] is not None and self.answer_end[q] <= j
                   for q in range(i, j + 1))
