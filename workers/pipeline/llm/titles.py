"""Headlines and hooks for clips, for every backend.

A title is a headline a person would write: 3 to 10 words, complete (never cut with "…",
never one word, never opening on a filler or a connective, never ending on "the" or "of"),
about what the clip says, in its own words. Candidates are the clip's sentences and their
clauses (a question the clip answers, a claim, a line that lands), without their leaning
openers ("So", "And", "Yes,") and fillers ("um", "you know"). Each is scored by the
salience of its content words (rare in the talk, frequent in the clip), names and numbers,
and the content type's vocabulary; one with no verb (``says``: "Mr. Cooper, with your
help") weighs far less, as it says nothing about its subject; a candidate with a word Whisper was unsure of
(probability under ``DOUBT``) that the clip does not say again is never used, so a
mishearing never becomes a headline.

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
from workers.pipeline.clips.sentences import ends_sentence
from workers.pipeline.llm.salience import FILLERS, intensity
from workers.pipeline.llm.text import STOPWORDS, without_list_number

DOUBT = 0.5
HOOK_CHARS = 160
HOOK_MATCH = 0.8
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
_CLAUSE = re.compile(r"[,;:\u2014]\s+|\s+-\s+")
SETTING = {"in", "on", "at", "for", "from", "after", "before", "during", "across", "throughout"}
_RELATIVE = re.compile(r",\s+(which|who)\b[^,;:]*,\s+", re.IGNORECASE)  # a clause that only describes
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


def headline(words: list[dict], talk_counts: dict[str, int], vocabulary: set[str] = frozenset(),
             prefer_question: bool = False) -> str:
    """The best headline from a clip's words (Whisper's, with ``probability`` where known)."""
    clip_counts: dict[str, int] = {}
    for w in words:
        for t in normal(w["word"]):
            clip_counts[t] = clip_counts.get(t, 0) + 1
    stems: dict[str, int] = {}
    for t, c in clip_counts.items():
        stems[t[:5]] = stems.get(t[:5], 0) + c
    doubtful = {t for w in words if w.get("probability", 1.0) < DOUBT for t in normal(w["word"])
                if clip_counts.get(t, 0) < 2}
    best = None
    for text, whole_start, complete in candidates(words):
        tokens = normal(text)
        content = [t for t in tokens if t not in STOPWORDS and len(t) > 2]
        if (not MIN_WORDS <= len(tokens) <= MAX_WORDS or tokens[-1] in DANGLING or tokens[-2] == "to" or not content
                or PHATIC.search(text)):
            continue
        value = sum(stems.get(t[:5], 1) / (1 + talk_counts.get(t, 0)) ** 0.5 for t in content) / len(content) ** 0.5
        value += 0.6 * sum(t in vocabulary for t in content) + 0.4 * min(2, len(re.findall(r"\d|\b[A-Z][a-z]",
                                                                                          text[1:])))
        value += 0.3 * intensity(text) * len(tokens) ** 0.5 + (0.5 if prefer_question and text.endswith("?") else 0)
        whole_start = whole_start or (tokens[0] in SUBJECTS and tokens[0] not in {"the", "a", "an"}
                                      and complete)  # "…, you take orders from me": a sentence of its own
        value += 0.5 * whole_start + 0.4 * complete - 0.6 * (tokens[0] in LEADS) - 0.3 * (tokens[0] in POINTERS)
        value -= 0.15 * max(0, 4 - len(tokens), len(tokens) - 8)
        claim = [t for t in content if t not in POINTERS and t not in NO_CLAIM]
        value -= 1.6 * (len(claim) < 2)  # "There's no sound", "I don't know": nothing to head
        value -= 1.2 * bool(SUBORDINATE.search(text)) * (len(_CLAUSE.split(text)) < 2)  # "When the time reaches…"
        if not complete and (tokens[-1] in OPEN_VERBS or (tokens[-1].endswith("ed") and len(tokens[-1]) > 4)):
            value -= 0.8  # a cut that stops before what the verb needs
        if not whole_start and tokens[0] not in SUBJECTS and not text[:1].isupper() and not tokens[0].isdigit():
            value -= 0.6  # a clause from inside a sentence that opens on a verb: a fragment
        if not says(tokens):
            value -= 1.2  # "Mr. Cooper, with your help": a phrase that says nothing about its subject
        value -= sum(2.5 if t not in STOPWORDS else 1.0 for t in doubtful & set(tokens))  # a likely mishearing
        if best is None or value > best[0]:
            best = (value, text)
    return _capital(best[1] if best else _shortest_complete(words))


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


def candidates(words: list[dict]) -> list[tuple[str, bool, bool]]:
    """(text, opens its sentence, whole) for the clip's sentences, their clauses, pairs of
    clauses (whole), and their openings cut before a subordinate clause or a phrase ("I
    looked back at the diner | to see if …", not whole), cleaned to headline form; a
    sentence with a clause that only describes (", which is sweeping the nation,") is
    also read without it, and one that opens on its setting ("In all parts of the country,")
    without that too."""
    out = []
    for sentence in _sentences(words):
        text = clean(sentence)
        if not text:
            continue
        lean = _RELATIVE.sub(" ", text)
        head, _, rest = lean.partition(", ")  # "In all parts of the country, the wave …": the claim
        bare = rest if rest and normal(head)[:1] and normal(head)[0] in SETTING and len(rest.split()) >= MIN_WORDS \
            else lean
        for variant in dict.fromkeys((text, lean, bare)):
            out += _pieces(variant)
    return out


def _pieces(text: str) -> list[tuple[str, bool, bool]]:
    clauses = [c.strip() for c in _CLAUSE.split(text) if c.strip()]
    pieces = [(text, True), *((c, n == 0) for n, c in enumerate(clauses)),
              *((f"{a}, {b}", n == 0) for n, (a, b) in enumerate(zip(clauses, clauses[1:])))]
    cuts = []
    for piece, first in pieces:
        split = piece.split()
        cuts += [(" ".join(split[:k]), first) for k in range(MIN_WORDS, len(split))
                 if normal(split[k])[:1] and normal(split[k])[0] in CUT_BEFORE]
    return ([(clean(p), first, n <= len(clauses)) for n, (p, first) in enumerate(pieces) if clean(p)]
            + [(clean(p), first, False) for p, first in cuts if clean(p)])


def _sentences(words: list[dict], keep_words: bool = False) -> list:
    out, current = [], []
    for w in words:
        current.append(w)
        if ends_sentence(w["word"]) or w is words[-1]:
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
    text = text.rstrip(" .!?,;:")
    return (text + "?") if question and text else text


def hook(words: list[dict], title: str, talk_counts: dict[str, int]) -> str:
    """The clip's strongest line (see the module docstring): intensity and rare words, less
    each word Whisper was unsure of."""
    scored = []
    for sentence in _sentences(words, keep_words=True):
        text = _join(sentence)
        tokens = [t for t in normal(text) if t not in STOPWORDS and len(t) > 2]
        if len(normal(text)) < 3:
            continue
        rarity = sum(1 / (1 + talk_counts.get(t, 0)) ** 0.5 for t in tokens) / max(1, len(tokens)) ** 0.5
        doubt = sum(w.get("probability", 1.0) < DOUBT for w in sentence) / len(sentence)
        scored.append((intensity(text) + rarity - 3 * doubt, text))
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
    parts = [p for p, _, _ in candidates([{"word": w} for w in text.split()]) if len(p.split()) >= 4]
    fitting = [p for p in parts if len(p) <= HOOK_CHARS]
    if not fitting:
        return text
    line = max(fitting, key=lambda p: (intensity(p) * len(p) ** 0.5, len(p))).rstrip(",;: ")
    return line if line.endswith((".", "?", "!")) else line + "."


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
           vocabulary: set[str], prefer_question: bool) -> None:
    """Set ``title``, ``hook`` and ``title_source`` on ``clip`` (see the module docstring)."""
    title = (given_title or "").strip().strip("\"'\u201c\u201d")
    source = "model"
    if title and not well_formed(title):
        title, source = _capital(clean(title)), "repaired"
    if not title or not well_formed(title) or not grounded(title, clip["text"]):
        title, source = headline(clip["words"], talk_counts, vocabulary, prefer_question), "offline"
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
