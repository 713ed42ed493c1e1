"""Questions about one video, answered from its transcript, with the seconds they rest on.

1. Retrieve: the question's best sentences in the video (``query.rank_in_video``: any of
   its words, and its meaning), each widened to a passage with a sentence of context on either side; passages
   that touch are merged, and the best ``PASSAGES`` kept, most relevant first.
2. Answer:
   * the OpenAI backend (or any compatible server) answers from those passages only and
     cites them by id with a quote; each citation is checked: its passage must be one of
     those given and its quote must be in that passage (words in order, case and
     punctuation aside). An answer with no citation that holds is not shown: the passages
     are quoted instead, with a note saying so;
   * the local backend answers extractively: the best passages, quoted, with their times.
3. Nothing in the transcript matches: the answer says so, with no citation.
"""
from __future__ import annotations

from workers.pipeline.clips.quotes import best_ratio
from workers.pipeline.search import query, store

MAX_QUESTION = 500   # characters
PASSAGES = 4
CONTEXT = 1          # sentences of context on either side of a hit
QUOTED = 3           # passages quoted by an extractive answer


def passages(conn, video_id: int, config: str | None, question: str) -> list[dict]:
    hits = [seq for seq, _, _ in query.rank_in_video(conn, video_id, config, question, PASSAGES, any_word=True)]
    if not hits:
        return []
    order = {seq: n for n, seq in enumerate(hits)}
    runs: list[dict] = []
    for row in store.neighbours(conn, video_id, hits, CONTEXT):
        if runs and row["seq"] == runs[-1]["last"] + 1:
            run = runs[-1]
            run.update(last=row["seq"], end=row["end_s"], text=f"{run['text']} {row['text']}")
        else:
            runs.append({"first": row["seq"], "last": row["seq"], "start": row["start_s"], "end": row["end_s"],
                         "text": row["text"]})
    for run in runs:
        run["relevance"] = min((order[s] for s in range(run["first"], run["last"] + 1) if s in order), default=99)
    runs.sort(key=lambda r: (r["relevance"], r["start"]))
    return [{"id": f"P{n}", "start": round(r["start"], 3), "end": round(r["end"], 3), "text": r["text"]}
            for n, r in enumerate(runs[:PASSAGES], 1)]


def quoted_in(quote: str, text: str) -> bool:
    """Whether ``quote`` is in ``text``: its words in order, case and punctuation aside
    (one misheard word in ten allowed)."""
    return best_ratio(quote, text) >= 0.9


def answer(llm, question: str, found: list[dict], budget_s: float | None = None) -> dict:
    """The answer to ``question`` from the passages ``found``; the model's call (retries and
    waits included) within ``budget_s`` when given."""
    if not found:
        return {"answer": "Nothing in this video's transcript matches the question.", "citations": [],
                "mode": "none", "backend": llm.name}
    if llm.name == "local" or not hasattr(llm, "answer_question"):
        return extractive(found, llm.name)
    reply = (llm.answer_question(question, found) if budget_s is None
             else llm.answer_question(question, found, budget_s=budget_s))["result"]
    by_id = {p["id"]: p for p in found}
    citations = [{"start": by_id[c["passage"]]["start"], "end": by_id[c["passage"]]["end"],
                  "text": by_id[c["passage"]]["text"], "quote": c["quote"]}
                 for c in reply["citations"] if c["passage"] in by_id and quoted_in(c["quote"], by_id[c["passage"]]["text"])]
    if not citations:
        out = extractive(found, llm.name)
        out["note"] = "the model's answer cited nothing that is in the video, so the passages are quoted instead"
        return out
    return {"answer": reply["answer"], "citations": citations, "mode": "generative", "backend": llm.name,
            "model": getattr(llm, "model", None)}


def extractive(found: list[dict], backend: str) -> dict:
    chosen = found[:QUOTED]
    text = " ".join(f"\u201c{p['text']}\u201d ({_clock(p['start'])})" for p in chosen)
    return {"answer": text, "citations": [{"start": p["start"], "end": p["end"], "text": p["text"], "quote": p["text"]}
                                          for p in chosen], "mode": "extractive", "backend": backend}


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
