"""The offline content type: similarity to label descriptions, a lexicon, and rules of form.

Three kinds of evidence, added up per content type:

* **meaning**: the cosine similarity between the transcript's mean sentence embedding and an
  embedded description of each type (a few sentences that sound like it), from
  ``embeddings``;
* **words**: the share of the transcript's content words found in each type's lexicon;
  topical types (podcast, vlog, gaming, sports, music, lecture) need some of their own
  words, and an interview some questions, before their similarity counts in full, since a
  description alone is easily matched by everyday talk;
* **form**: how people speak in it. A reading disclaimer makes an audiobook; questions
  answered at length make an interview; short lines traded quickly (questions, orders,
  names) make film dialogue; long sentences to "you", "we" and "our country" make a
  speech; "you can see", "click", "example" make a tutorial.

It is evaluated on a labelled set made from ``../shared/media`` (``tests/data/content_types.json``
and ``python -m bench.content_types``).
"""
from __future__ import annotations

import re
from collections import Counter

from workers.pipeline.llm.text import tokens

DESCRIPTIONS = {
    "audiobook": "This audiobook is in the public domain. Chapter one. A narrator reads a book aloud: a novel, "
                 "a classic text, a manifesto, poetry.",
    "interview": "How long did it take you? Can you tell us about your company? The interviewer asks questions and "
                 "the guest answers about work and career.",
    "film": "Get out of here! What's happening? I don't know. Come on, honey, let's go. Wait a minute. Shut up. "
            "Characters argue and talk in a scene.",
    "news": "Officials reported today that authorities and police are investigating. Reports say residents should "
            "stay tuned for further details of this developing story.",
    "speech": "My fellow citizens, we gather today as one nation. Ask what you can do for your country. Together we "
              "shall build our future and our freedom.",
    "tutorial": "In this example video you can see how it works. First click here, then open the settings. Let me "
                "show you how to do it step by step.",
    "lecture": "Today's lecture covers the theory. The concept is defined by the equation, and the evidence from "
               "history supports the principle.",
    "podcast": "Welcome back to the show. In this episode my co-host and I chat about our week. Thanks to our "
               "sponsor and our listeners.",
    "commentary": "I think this is wrong, and here is why. In my opinion the critics miss the point. Let me argue "
                  "the problem with their reasoning.",
    "vlog": "Good morning guys, today I went to the beach with my friends, had breakfast at the hotel, and then we "
            "went shopping.",
    "gaming": "Let's play the next level. The boss has a lot of health, so grab the weapon and finish the quest on "
              "the map.",
    "sports": "The team scored a goal in the second half, the coach made a substitution, and they won the match and "
              "the league.",
    "music": "This song is from our new album. The band plays guitar and drums, and we sing the chorus of the track.",
}
LEXICON = {
    "tutorial": "step click install setup configure open select tutorial example how first next then menu button "
                "settings create code run command file steps guide learn",
    "lecture": "theory theorem equation lecture chapter concept define definition principle history society class "
               "economic analysis hypothesis evidence professor students study",
    "news": "reported reports breaking government president minister officials authorities according announced "
            "police yesterday election statement news report crisis broadcast bulletin residents enforcement "
            "investigating emergency nation",
    "interview": "interview interviewer guest question questions describe experience career company",
    "podcast": "podcast episode listeners welcome show sponsor subscribe guest co-host",
    "commentary": "opinion believe argue problem reason point wrong critics",
    "vlog": "vlog my day morning went trip hotel food friends",
    "gaming": "game level player boss play playing health weapon quest map controller",
    "sports": "team match goal score season coach players league win championship",
    "music": "song album music band guitar lyrics chorus sing track beat",
    "speech": "fellow citizens nation country freedom americans ladies gentlemen generation",
    "audiobook": "audiobook librivox chapter narrator",
}
TOPICAL = ("podcast", "vlog", "gaming", "sports", "music", "lecture")
READING = re.compile(r"\b(librivox|this (audio)?book|audiobook|public domain|read by|recording is in|"
                     r"chapter (one|two|three|\d+|[ivx]+))\b", re.IGNORECASE)
DEMONSTRATION = re.compile(r"\b(you can see|example|click|let me show|step by step|how to|on the (top|bottom) "
                           r"(left|right))\b", re.IGNORECASE)
ADDRESS = re.compile(r"\b(my fellow|fellow (americans|citizens)|ladies and gentlemen|our (nation|country)|"
                     r"your country|we shall)\b", re.IGNORECASE)
_vectors: dict = {}


def classify(units: list[dict]) -> tuple[str, float, dict]:
    """(content type, confidence 0..1, every type's score) of a transcript's sentences."""
    from workers.pipeline.llm.embeddings import embed

    texts = [u["text"].strip() for u in units if u["text"].strip()]
    if not texts:
        return "other", 0.5, {}
    names = list(DESCRIPTIONS)
    if "labels" not in _vectors:
        _vectors["labels"] = embed([DESCRIPTIONS[n] for n in names])
    mean = embed(texts).mean(axis=0)
    mean /= float((mean @ mean) ** 0.5) or 1.0
    similarity = dict(zip(names, (float(x) for x in _vectors["labels"] @ mean)))
    words = tokens(" ".join(texts))
    counts = Counter(words)
    total = max(1, len(words))
    lexicon = {k: sum(counts[w] for w in vocab.split()) / total for k, vocab in LEXICON.items()}
    scores = {}
    asked = questions_share(texts)
    for kind in names:
        # topical types need words of their own; an interview needs questions
        evidence = lexicon[kind] >= 0.02 if kind in TOPICAL else (asked >= 0.05 if kind == "interview" else True)
        meaning = similarity[kind] * (1.0 if evidence else 0.5)
        scores[kind] = meaning + 2.0 * lexicon.get(kind, 0.0)
    for kind, bonus in form(texts, asked).items():
        scores[kind] += bonus
    ranked = sorted(scores, key=lambda k: (-scores[k], k))
    best, runner_up = ranked[0], ranked[1]
    if scores[best] < 0.1:
        return "other", 0.5, scores
    margin = scores[best] - scores[runner_up]
    return best, round(min(0.95, 0.5 + margin * 2), 3), scores


def questions_share(texts: list[str]) -> float:
    return sum(t.endswith("?") for t in texts) / len(texts)


def form(texts: list[str], questions: float) -> dict[str, float]:
    """Bonuses for how the transcript is spoken (see the module docstring); ``questions`` is
    the share of its sentences that are questions."""
    n = len(texts)
    words_per = sum(len(t.split()) for t in texts) / n
    joined = " ".join(texts)
    out = Counter()
    if READING.search(joined):
        out["audiobook"] += 0.3
    if n >= 4 and questions >= 0.1 and words_per >= 7:
        out["interview"] += 0.1 + (0.1 if questions >= 0.15 else 0.0)  # questions, answered at length
    if n >= 4 and words_per < 7:
        out["film"] += 0.1 + (0.05 if questions >= 0.1 else 0.0)  # short lines traded quickly
    if ADDRESS.search(joined):
        out["speech"] += 0.15
    if DEMONSTRATION.search(joined):
        out["tutorial"] += 0.1
    return out
