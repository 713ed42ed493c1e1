"""The words of a headline: the clip's sentences and clauses as candidate titles, in
headline form, and the word lists that judge them (``llm.titles`` scores them).

A candidate is a sentence, one of its clauses, two clauses side by side, or an opening cut
before a subordinate clause or a phrase; a sentence's clause that only describes (", which
is sweeping the nation,") and an opening that only sets the scene ("In all parts of the
country,") or addresses someone ("My fellow Americans,") are also left out in turn.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from workers.pipeline.clips.meaning import leaning
from workers.pipeline.clips.quotes import normal
from workers.pipeline.clips.sentences import ends_sentence, missed_stop
from workers.pipeline.llm.salience import FILLERS
from workers.pipeline.llm.text import STOPWORDS, without_list_number

MIN_WORDS, MAX_WORDS = 3, 10
DANGLING = {"the", "a", "an", "of", "to", "and", "or", "but", "in", "on", "at", "for", "with", "by", "from", "that",
            "is", "are", "was", "were", "be", "my", "your", "our", "their", "his", "her", "its", "more", "than", "as",
            "if", "so", "because", "which", "who", "very", "not", "no", "into", "about", "it's", "i", "we", "you"}
OPENERS = FILLERS | {"so", "and", "but", "or", "well", "yes", "yeah", "oh", "okay", "ok", "right", "now", "then",
                     "because", "also", "like", "however", "anyway", "meanwhile", "hey"}
LEADS = {"in", "on", "at", "for", "with", "from", "by", "of", "to", "and", "but", "or", "as", "which", "who", "that",
         "where", "when", "while", "if", "because", "than"}
SUBJECTS = {"i", "you", "we", "they", "he", "she", "it", "it's", "there", "this", "that", "these", "those", "the",
            "a", "an", "every", "my", "our", "your", "their", "his", "her", "its", "one", "nobody", "everyone",
            "everybody", "people", "what", "why", "how", "where", "who", "when"}
PHATIC = re.compile(r"^(thank you|thanks|look at (this|that)|hello|hi|welcome|okay|ok|come on|wait a minute|"
                    r"good (morning|evening|lord)|you know|i see|i mean)\b", re.IGNORECASE)
NO_CLAIM = {"there's", "here's", "what's", "let's", "that's", "don't", "i'm", "you're", "we're", "all", "right"}
POINTERS = {"it", "it's", "this", "that", "they", "they're", "he", "he's", "she", "she's", "them", "there"}
CUT_BEFORE = {"to", "that", "which", "who", "because", "if", "when", "where", "while", "as", "since", "until", "so",
              "but", "and", "in", "on", "at", "for", "with", "from", "by", "before", "after"}
_CLAUSE = re.compile(r"[,;:\u2014]\s+|\s+-\s+|\s+and then\s+", re.IGNORECASE)  # "and then": a run-on's joint
# whom a speech addresses, at its start: not what it says ("My fellow Americans, ask not …")
_ADDRESS = re.compile(r"^(my (fellow|dear) \w+|ladies and gentlemen|dear friends|friends|folks),?\s+", re.IGNORECASE)
RELATIVE = {"who", "which"}
SETTING = {"in", "on", "at", "for", "from", "after", "before", "during", "across", "throughout"}
_RELATIVE = re.compile(r",\s+(which|who)\b[^,;:]*,\s+", re.IGNORECASE)  # a clause that only describes
# … and one Whisper did not close with a comma: it ends where the sentence's own verb comes
# ("The wave of murder, which is sweeping the nation is being committed by …")
_OPEN_RELATIVE = re.compile(r",\s+(which|who)\s+(is|are|was|were|has|have|had)\s+[^,;:]*?\s+"
                            r"(?=(is|are|was|were|has|have|had|will|would|can|could)\s)", re.IGNORECASE)
# a cut that ends on one of these has lost what completes it ("… development came", "I wonder what happened")
OPEN_VERBS = {"came", "come", "comes", "went", "go", "goes", "got", "get", "gets", "happened", "happens", "said",
              "says", "say", "made", "make", "makes", "took", "take", "takes", "put", "puts", "started", "start",
              "tried", "try", "want", "wants", "wanted", "need", "needs", "needed", "know", "think", "thought",
              "looked", "look", "see", "saw", "found", "find", "gave", "give", "told", "tell", "asked", "ask",
              "decided", "used", "use", "reaches", "reached", "means", "meant", "became", "become", "keep", "kept"}
VERBS = {"is", "are", "was", "were", "be", "been", "am", "do", "does", "did", "have", "has", "had", "can", "could",
         "will", "would", "shall", "should", "may", "might", "must", "let's", "don't", "won't", "can't", "cannot"}
PERSONAL = {"i", "you", "we", "they", "he", "she", "it", "nobody", "everybody", "everyone", "someone", "somebody",
            "people", "who"}
SUBORDINATE = re.compile(r"^(in order to|so that|when|whenever|if|unless|because|although|though|while|as soon as|"
                         r"until|after|before|since|once|whether)\b", re.IGNORECASE)


def says(tokens: list[str]) -> bool:
    """Whether a headline's words say something about a subject: they hold a verb (an
    auxiliary or modal, a contraction, a common verb, a past form, or the word after a
    personal subject: "Nobody owns", "It cost"). A name and a phrase ("Mr. Cooper, with your
    help", "The above copyright notice and this permission notice") do not."""
    for n, t in enumerate(tokens):
        if t in VERBS or t in OPEN_VERBS or t.endswith(("'s", "'re", "'ll", "'ve", "'d", "'m", "n't")) or (
                t.endswith("ed") and len(t) > 4) or (n and tokens[n - 1] in PERSONAL and t not in STOPWORDS):
            return True
    return False


class Candidate(NamedTuple):
    """A headline candidate: its text (headline form); whether it opens its sentence;
    how whole it is (2: the sentence, read whole or without what only describes, sets the
    scene or addresses; 1: a clause or two, or a cut before a relative clause that only says
    more of its noun: "… committed by creatures | who feast …"; 0: another cut); its
    sentence's number in the clip;
    how many words of its piece a cut left off (0 for none)."""
    text: str
    opens: bool
    whole: int
    sentence: int
    left: int


def candidates(words: list[dict]) -> list[Candidate]:
    """The clip's sentences, their clauses, pairs of clauses (whole), their openings cut
    before a subordinate clause or a phrase ("I looked back at the diner | to see if …", not
    whole),
    cleaned to headline form; a sentence with a clause that only describes (", which is
    sweeping the nation,") is also read without it, and one that opens on its setting ("In
    all parts of the country,") or on whom it addresses ("My fellow Americans") without
    that too."""
    out, texts = [], [clean(s) for s in _sentences(words)]
    for number, text in enumerate(texts):
        if not text:
            continue
        lean = _OPEN_RELATIVE.sub(" ", _RELATIVE.sub(" ", text))
        head, _, rest = lean.partition(", ")  # "In all parts of the country, the wave …": the claim
        bare = rest if rest and normal(head)[:1] and normal(head)[0] in SETTING and len(rest.split()) >= MIN_WORDS \
            else lean
        called = _ADDRESS.sub("", bare, count=1)
        for variant in dict.fromkeys((text, lean, bare, called if len(called.split()) >= MIN_WORDS else bare)):
            out += [Candidate(piece, opens, whole, number, cut) for piece, opens, whole, cut in _pieces(variant)]
    return out


def _pieces(text: str) -> list[tuple[str, bool, int, int]]:
    clauses = [c.strip() for c in _CLAUSE.split(text) if c.strip()]
    pieces = [(text, True), *((c, n == 0) for n, c in enumerate(clauses)),
              *((f"{a}, {b}", n == 0) for n, (a, b) in enumerate(zip(clauses, clauses[1:])))]
    cuts = []
    for piece, first in pieces:
        split = piece.split()
        cuts += [(" ".join(split[:k]), first, int(normal(split[k])[0] in RELATIVE), len(split) - k)
                 for k in range(MIN_WORDS, len(split)) if normal(split[k])[:1] and normal(split[k])[0] in CUT_BEFORE]
    return ([(clean(p), first, 2 if n == 0 else int(n <= len(clauses)), 0) for n, (p, first) in enumerate(pieces)
             if clean(p)]
            + [(clean(p), first, level, left) for p, first, level, left in cuts if clean(p)])


def _sentences(words: list[dict], keep_words: bool = False) -> list:
    """The clip's sentences (as text, or as their words): ended by a stop, or where Whisper
    left the stop out (``sentences.missed_stop``)."""
    out, current = [], []
    for n, w in enumerate(words):
        current.append(w)
        if ends_sentence(w["word"]) or w is words[-1] or (
                len(current) >= 3 and missed_stop(w["word"], words[n + 1]["word"])):
            out.append(current if keep_words else _join(current))
            current = []
    return out


def _join(words: list[dict]) -> str:
    """Words back into text, with spaces only where Whisper heard a word boundary ("R&D",
    "high-quality", not "R &D")."""
    return "".join((" " if w.get("space", True) and n else "") + w["word"].strip() for n, w in enumerate(words))


def clean(text: str) -> str:
    """Headline form: no list number, no leaning opener or filler, no closing punctuation
    but a question mark, no "…"."""
    text = without_list_number(text).replace("\u2026", "").replace("...", "").strip()
    lean = leaning(text)
    if lean and lean[0] == "trim":
        text = " ".join(text.split()[lean[1]:])
    for pair in ("you know", "i mean"):  # not "kind of": "what kind of disease" means it
        text = re.sub(rf",?\s*\b{pair}\b,?", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\b(um|uh|er|ah)\b,?\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+", " ", text).strip(" ,;:-\u2014\"'\u201c\u201d")
    while text.split() and normal(text.split()[0])[:1] and normal(text.split()[0])[0] in OPENERS:
        text = " ".join(text.split()[1:]).strip(" ,")
    question = text.endswith("?")
    if question:  # "How long did it take you to develop …?": whom it is asked of is no part of a headline
        text = re.sub(r"\b(take|takes|took|cost|costs) you to\b", r"\1 to", text, flags=re.IGNORECASE)
    text = text.rstrip(" .!?,;:")
    return (text + "?") if question and text else text
