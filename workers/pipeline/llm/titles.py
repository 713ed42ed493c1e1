"""Headlines and hooks for clips, for every backend.

A title is a headline a person would write: 3 to 10 words, complete (never cut with "…",
never one word, never opening on a filler or a connective, never ending on "the" or "of"),
about what the clip says, in its own words. Candidates (``llm.phrases``) are the clip's
sentences and their clauses (a question the clip answers, a claim, a line that lands),
without their leaning openers ("So", "And", "Yes,"), fillers ("um", "you know") and whom
they address ("My fellow Americans"). Each is scored by the salience of its content words
(rare in the talk, frequent in the clip), names and numbers, words of stakes
(``salience.emotive``: "murder", "mistake") and the content type's vocabulary; a whole
sentence weighs more than a clause, and a clause more than a cut (a cut before "who" or
"which" counts as a clause: "… by creatures | who feast …"); one with no verb (``says``:
"Mr. Cooper, with your help") weighs far less, as it says nothing about its subject, and so
does a cut that leaves off its piece's last word or two ("… can do | for you") or ends on a
word that needs more ("… came from people | who …"), and a line of three words ("The
reports persisted"). A clip that opens on a question and holds its answer is headed
by that question when it says what it asks without the clip ("How long did it take to
develop the Game Boy?"), never by the asker's setup before it; a question that points
outside itself ("Will it be suitable?") weighs less. A whole line in the clip's last third
(where the payoff lands) weighs a little more. A word Whisper was unsure of (probability
under ``DOUBT``) that the clip does not say again, and a name or number never heard at
``SURE`` or more, are never used, so a mishearing never becomes a headline.

The hook is the clip's strongest line: the sentence with the most intensity and salience,
whole (at most ``HOOK_CHARS`` characters, else its best clause), other than the title.

A backend's own title and hook (the OpenAI backend asks for both) are kept when they pass:
the title 3-10 words, complete, its content words found in the clip (``grounded``); the
hook a line of the clip (``quotes.best_ratio`` at least ``HOOK_MATCH``). Otherwise they are
repaired (a title trimmed of "…" and filler) or replaced by the offline ones, and the clip
says so (``title_source``: ``model``, ``repaired`` or ``offline``).
"""
from __future__ import annotations

import re

from workers.pipeline.clips.meaning import leaning
from workers.pipeline.clips.quotes import best_ratio, normal
from workers.pipeline.llm.phrases import (DANGLING, LEADS, MAX_WORDS, MIN_WORDS, NO_CLAIM, OPEN_VERBS, OPENERS,
                                          PHATIC, POINTERS, SUBJECTS, SUBORDINATE, _CLAUSE, _join, _sentences,
                                          candidates, clean, says)
from workers.pipeline.llm.salience import NUMBER_WORDS, SELF, emotive, intensity
from workers.pipeline.llm.text import STOPWORDS, without_list_number

DOUBT = 0.5
HOOK_CHARS = 160
HOOK_MATCH = 0.8
HOOK_WORDS = 5
GIVEN_TO = {"for", "to", "with", "at", "about", "from", "of"}  # "… can do for you" ends; "… told you" dangles
SURE = 0.8  # a name or number in a headline must have been heard at least this surely
REPLIES = {"yes", "no", "yeah", "well", "sure", "oh", "exactly", "absolutely", "right"}
GENERIC = {"people", "person", "thing", "things", "one", "ones", "way", "stuff", "someone", "something", "somebody",
           "anyone", "anything", "everything", "part", "kind", "sort", "lot"}
ASKED_POINTERS = {"it", "this", "them", "they", "he", "she", "him", "her", "one"}


def headline(words: list[dict], talk_counts: dict[str, int], vocabulary: set[str] = frozenset(),
             prefer_question: bool = False, exchange: bool = False, ranked: list | None = None) -> str:
    """The best headline from a clip's words (Whisper's, with ``probability`` where known).
    ``prefer_question``: the clip opens on a question and holds its answer; ``exchange``: it
    holds a question and its answer somewhere (the asker's part, before the reply, never
    heads it). Every candidate's (value, text) is added to ``ranked`` when given."""
    clip_counts: dict[str, int] = {}
    for w in words:
        for t in normal(w["word"]):
            clip_counts[t] = clip_counts.get(t, 0) + 1
    stems: dict[str, int] = {}
    for t, c in clip_counts.items():
        stems[t[:5]] = stems.get(t[:5], 0) + c
    doubtful = _doubtful(words, clip_counts)
    sentences = _sentences(words)
    said = [clean(s) for s in sentences]
    asked = next((n for n, t in enumerate(said[:None if prefer_question else 3]) if t.endswith("?")), -1) \
        if prefer_question or exchange else -1  # an exchange's question, within its first three sentences
    asking = _asking(sentences, asked)
    best = None
    for text, whole_start, complete, number, left in candidates(words):
        tokens = normal(text)
        content = [t for t in tokens if t not in STOPWORDS and len(t) > 2]
        if (not MIN_WORDS <= len(tokens) <= MAX_WORDS or tokens[-2] == "to" or not content or PHATIC.search(text)
                or (tokens[-1] in DANGLING and not (tokens[-1] == "you" and tokens[-2] in GIVEN_TO))):
            continue
        value = sum(stems.get(t[:5], 1) / (1 + talk_counts.get(t, 0)) ** 0.5 for t in content) / len(content) ** 0.5
        value += 0.6 * sum(t in vocabulary for t in content) + 0.4 * min(2, len(re.findall(r"\d|\b[A-Z][a-z]",
                                                                                          text[1:])))
        value += 0.3 * intensity(text) * len(tokens) ** 0.5 + 0.35 * min(2, emotive(text))  # stakes
        if text.endswith("?") and not _asks_alone(tokens):
            value -= 0.8  # "Will it be suitable for the American taste?": "it" is outside the title
        elif text.endswith("?") and prefer_question and asked >= 0:
            value += 1.0  # the question the clip answers heads it, when it says what it asks
        elif number <= asking:
            value -= 0.5  # the asker's setup, not what the clip answers
        value -= 0.7 * (0 < left <= 2)  # "ask not what your country can do | for you": cut before its end
        value += 0.3 * (complete and len(said) >= 3 and number >= 2 * len(said) / 3)  # the payoff lands late
        whole_start = whole_start or (tokens[0] in SUBJECTS and tokens[0] not in {"the", "a", "an"}
                                      and complete)  # "…, you take orders from me": a sentence of its own
        value += 0.5 * whole_start + 0.5 * complete - 0.6 * (tokens[0] in LEADS) - 0.3 * (tokens[0] in POINTERS)
        value -= 0.3 * max(0, 4 - len(tokens)) + 0.15 * max(0, len(tokens) - 8)  # "The reports persisted": flat
        claim = [t for t in content if t not in POINTERS and t not in NO_CLAIM]
        value -= 1.6 * (len(claim) < 2)  # "There's no sound", "I don't know": nothing to head
        value -= 1.2 * bool(SUBORDINATE.search(text)) * (len(_CLAUSE.split(text)) < 2)  # "When the time reaches…"
        if not complete and (tokens[-1] in OPEN_VERBS or (tokens[-1].endswith("ed") and len(tokens[-1]) > 4)):
            value -= 0.8  # a cut that stops before what the verb needs
        if left and tokens[-1] in GENERIC:
            value -= 0.8  # "… came from people | who were …": a cut before what says which
        if not whole_start and tokens[0] not in SUBJECTS and not text[:1].isupper() and not tokens[0].isdigit():
            value -= 0.6  # a clause from inside a sentence that opens on a verb: a fragment
        if not says(tokens):
            value -= 1.2  # "Mr. Cooper, with your help": a phrase that says nothing about its subject
        value -= sum(2.5 if t not in STOPWORDS else 1.0 for t in doubtful & set(tokens))  # a likely mishearing
        if ranked is not None:
            ranked.append((round(value, 2), text))
        if best is None or value > best[0]:
            best = (value, text)
    return _capital(best[1] if best else _shortest_complete(words))


def hook(words: list[dict], title: str, talk_counts: dict[str, int]) -> str:
    """The clip's strongest line (see the module docstring): intensity and rare words (of
    those Whisper heard surely: a mishearing is rare too), less each word Whisper was unsure
    of, and far less each such word of substance ("sit and meager", "bollocks off
    cocktails"); a line under ``HOOK_WORDS`` words or a phatic one ("Look at this.") says
    too little to open a post."""
    scored = []
    for sentence in _sentences(words, keep_words=True):
        text = _join(sentence)
        if len(normal(text)) < 3:
            continue
        sure = [t for w in sentence if w.get("probability", 1.0) >= DOUBT for t in normal(w["word"])
                if t not in STOPWORDS and len(t) > 2]
        rarity = sum(1 / (1 + talk_counts.get(t, 0)) ** 0.5 for t in sure) / max(1, len(sure)) ** 0.5
        doubt = sum(w.get("probability", 1.0) < DOUBT for w in sentence) / len(sentence)
        unsure = sum(w.get("probability", 1.0) < DOUBT and any(t not in STOPWORDS and len(t) > 2
                                                               for t in normal(w["word"])) for w in sentence)
        short = 0.5 * (len(normal(text)) < HOOK_WORDS) + 1.5 * bool(PHATIC.search(clean(text)))  # "Wait a minute."
        scored.append((intensity(text) + rarity - 3 * doubt - unsure - short, text))
    scored.sort(key=lambda s: -s[0])
    for _, text in scored:
        line = _capital(_hook_form(text))
        if line and normal(line) != normal(title):
            return line
    return _capital(_hook_form(scored[0][1])) if scored else _capital(clean(" ".join(w["word"] for w in words)))


def _hook_form(text: str) -> str:
    """A whole sentence, without its leaning opener; a long one (over ``HOOK_CHARS``) by its
    best clause or opening that ends at a phrase's edge (never cut mid-phrase)."""
    text = without_list_number(text).strip()
    lean = leaning(text)
    if lean and lean[0] == "trim":
        text = " ".join(text.split()[lean[1]:])
    if len(text) <= HOOK_CHARS:
        return text
    parts = [c.text for c in candidates([{"word": w} for w in text.split()]) if len(c.text.split()) >= 4]
    fitting = [p for p in parts if len(p) <= HOOK_CHARS]
    if not fitting:
        return text
    line = max(fitting, key=lambda p: (intensity(p) * len(p) ** 0.5, len(p))).rstrip(",;: ")
    return line if line.endswith((".", "?", "!")) else line + "."


def _doubtful(words: list[dict], clip_counts: dict[str, int]) -> set[str]:
    """Tokens that are likely mishearings: heard with probability under ``DOUBT`` and not said
    again; a name or a number (a word capitalized inside a sentence somewhere in the clip,
    digits, a number word) under ``SURE`` every time it was heard."""
    inside = [before is not None and not before["word"].rstrip("\"')").endswith((".", "?", "!"))
              for before in [None, *words[:-1]]]
    names = {t for w, mid in zip(words, inside) if mid and w["word"].strip()[:1].isupper() for t in normal(w["word"])}
    heard: dict[str, list[float]] = {}
    for w in words:
        for t in normal(w["word"]):
            heard.setdefault(t, []).append(w.get("probability", 1.0))
    return {t for t, ps in heard.items() if (min(ps) < DOUBT and clip_counts.get(t, 0) < 2) or (
        (t in names or t in NUMBER_WORDS or any(c.isdigit() for c in t)) and t not in SELF and max(ps) < SURE)}


def _asking(sentences: list[str], asked: int) -> int:
    """The last sentence of the asker's part: the question (``asked``, -1 for none), or,
    where one of the next two sentences opens on a reply ("Yes, we looked at …"), the one
    before that reply ("… and you have to say no, I don't want to market it.")."""
    for n in range(asked + 1, min(len(sentences), asked + 3) if asked >= 0 else 0):
        if normal(sentences[n])[:1] and normal(sentences[n])[0] in REPLIES:
            return n - 1
    return asked


def _asks_alone(tokens: list[str]) -> bool:
    """Whether a question says what it asks without the clip around it: two words of
    substance and nothing that points outside it ("Will it be suitable?" points)."""
    claim = [t for t in tokens if t not in STOPWORDS and len(t) > 2 and t not in NO_CLAIM]
    pointing = [t for n, t in enumerate(tokens) if t in ASKED_POINTERS and not (
        t == "it" and n + 1 < len(tokens) and tokens[n + 1] in {"take", "takes", "took", "cost", "costs"})]
    return len(claim) >= 2 and not pointing


def grounded(text: str, clip_text: str) -> bool:
    """Whether a title's content words are the clip's (at least two thirds of them)."""
    content = [t for t in normal(text) if t not in STOPWORDS and len(t) > 2]
    said = set(normal(clip_text))
    stems = {t[:5] for t in said}
    return bool(content) and sum(t in said or t[:5] in stems for t in content) >= 2 * len(content) / 3


def well_formed(title: str) -> bool:
    tokens = normal(title)
    return (MIN_WORDS <= len(tokens) <= MAX_WORDS and not title.rstrip().endswith(("\u2026", "..."))
            and tokens[0] not in OPENERS and tokens[-1] not in DANGLING)


def settle(clip: dict, given_title: str | None, given_hook: str | None, talk_counts: dict[str, int],
           vocabulary: set[str], prefer_question: bool, exchange: bool = False) -> None:
    """Set ``title``, ``hook`` and ``title_source`` on ``clip`` (see the module docstring)."""
    title = (given_title or "").strip().strip("\"'\u201c\u201d")
    source = "model"
    if title and not well_formed(title):
        title, source = _capital(clean(title)), "repaired"
    if not title or not well_formed(title) or not grounded(title, clip["text"]):
        title, source = headline(clip["words"], talk_counts, vocabulary, prefer_question, exchange), "offline"
    line = (given_hook or "").strip()
    if not line or best_ratio(line, clip["text"]) < HOOK_MATCH:
        line = hook(clip["words"], title, talk_counts)
    clip.update({"title": title, "hook": line, "title_source": source})


def _shortest_complete(words: list[dict]) -> str:
    text = clean(" ".join(w["word"] for w in words))
    tokens = text.split()
    while len(tokens) > MAX_WORDS or (len(tokens) > MIN_WORDS and normal(tokens[-1])[-1:] and
                                      normal(tokens[-1])[-1] in DANGLING):
        tokens = tokens[:-1]
    return " ".join(tokens)


def _capital(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text
