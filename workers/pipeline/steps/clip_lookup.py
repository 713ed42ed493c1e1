"""clip_lookup: the moments an editor would post, as clips on word edges.

The transcript is re-cut into sentences (``clips.sentences``: at sentence ends, pauses and
changes of voice), so every clip starts at a sentence start and ends at a sentence end.
The model cites sentences by id (and, the OpenAI backend, quotes each clip's first and last
words); ``clips.choosing`` maps citations to word times, keeps the editor's rules
(``clips.repair``: a question with its answer, no dead air, a thought to its end; the speech
rules per content type from the settings), snaps and pads, enforces the duration band
(default 15-60 s; per request with the ``clip_min_seconds`` / ``clip_max_seconds``
options), drops overlaps, ranks, caps the count (``max_clips``) and titles each clip.
The offline backend reads the whole transcript in one pass (a 2-hour talk in about a
second); a model reads one up to ``LONG_S`` whole, and a longer one in two passes
(``llm.shortlist``), so a 3-hour video fits, costs few tokens and its picks spread over it.
When a model's every clip is refused, the offline picks stand in. No clip at all fails the
video (cause ``no_clips``): never a "done" with zero clips.
"""
from __future__ import annotations

import json

from workers.pipeline.clips.choosing import Band, resolve
from workers.pipeline.clips.rules import Rules, rules_for
from workers.pipeline.clips.sentences import split
from workers.pipeline.llm.shortlist import shortlist
from workers.queue.errors import PermanentError

STEP = "clip_lookup"
LONG_S = 600.0    # a model reads a transcript up to this long whole; a longer one in two passes
PER_WINDOW = 2    # clips asked of the model in each shortlisted window


def band_and_count(options, settings) -> tuple[Band, int]:
    band = Band(float(options.get("clip_min_seconds") or settings.clip_min_s),
                float(options.get("clip_max_seconds") or settings.clip_max_s))
    return band, int(options.get("max_clips") or settings.max_clips)


def run(video, ctx) -> dict:
    storage, llm = ctx.services["storage"], ctx.services["llm"]
    transcript = json.loads(storage.get_bytes(ctx.output_of("transcript")["key"]))
    kind = ctx.output_of("content_type")["content_type"]
    band, count = band_and_count(video.options, ctx.settings)

    def after_window(done: float) -> None:
        ctx.report_progress(done)
        ctx.raise_if_cancelled()

    looked = choose(llm, transcript, kind, band, count, after_window, rules_for(kind, ctx.settings))
    if not looked["clips"]:
        raise PermanentError("no_clips", "no moment of the video fits the requested clip length")
    return {"clips": looked["clips"], "content_type": kind, "band": [band.min_s, band.max_s],
            "windows": looked["windows"], "calls": looked["calls"], "units": "sentences",
            "sentences": looked["sentences"],
            "backend": llm.name, "model": llm.model, "raw": looked["raw"], "usage": looked["usage"],
            "refused": looked["refused"], "fallback": looked["fallback"]}


def choose(llm, transcript: dict, kind: str, band: Band, count: int, after_window=lambda done: None,
           rules: Rules | None = None) -> dict:
    """The clips of ``transcript`` (Whisper's, as stored), with what the lookup cost: what
    the step does, without storage or context (the benchmarks call it too). Citations that
    no repair can save are listed in ``refused``; when a model's every citation is refused,
    the offline picks stand in (``fallback``)."""
    rules = rules or rules_for(kind)
    segments = split(transcript["segments"])
    looked = look_up(llm, segments, kind, band, count, after_window, rules)
    refused: list = []
    clips = resolve(looked["citations"], segments, band, transcript["duration"], count, rules, kind, refused,
                    spread=looked["calls"] > 1)
    fallback = None
    if not clips and llm.name != "local" and segments:
        from workers.pipeline.llm.local import LocalLLM

        offline = LocalLLM().find_clips(segments, content_type=kind, min_s=band.min_s, max_s=band.max_s,
                                        count=count, rules=rules)
        clips = resolve(offline["result"]["clips"], segments, band, transcript["duration"], count, rules, kind)
        fallback = "offline: the model's every clip was refused" if clips else None
    return {**looked, "clips": clips, "sentences": len(segments), "refused": refused, "fallback": fallback}


def look_up(llm, units: list[dict], kind: str, band: Band, count: int, after_window=lambda done: None,
            rules: Rules | None = None) -> dict:
    """Ask ``llm`` for the moments of ``units``: every citation, the raw replies, the tokens
    used, the calls made and the windows read. The offline backend and a transcript up to
    ``LONG_S`` are read whole, in one call; a longer one in two passes (``llm.shortlist``:
    windows scored offline, then the model asked about the best of them, ``PER_WINDOW``
    clips each, its scores weighed by the window's). ``after_window(share done)`` runs
    between calls (the step reports progress and stops there when it must)."""
    rules = rules or Rules()
    whole = llm.name == "local" or not units or units[-1]["end"] - units[0]["start"] <= LONG_S
    parts = [(0, len(units) - 1, 1.0)] if whole else shortlist(units, min_s=band.min_s, max_s=band.max_s,
                                                                count=count, rules=rules)
    citations, raw, usage = [], [], {"prompt_tokens": 0, "completion_tokens": 0}
    for n, (first, last, worth) in enumerate(parts):
        answer = llm.find_clips(units[first:last + 1], content_type=kind, min_s=band.min_s, max_s=band.max_s,
                                count=count if whole else PER_WINDOW, rules=rules)
        for cite in answer["result"].get("clips") or []:
            citations.append({**cite, "score": float(cite.get("score") or 0.0) * (0.5 + 0.5 * worth)})
        raw.append(answer["raw"])
        for k in usage:
            usage[k] += int((answer.get("usage") or {}).get(k) or 0)
        after_window((n + 1) / len(parts))
    return {"citations": citations, "raw": raw, "usage": usage, "calls": len(parts),
            "windows": [[units[a]["start"], units[b]["end"]] for a, b, _ in parts] if not whole else 1}
