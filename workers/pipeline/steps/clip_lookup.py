"""clip_lookup: the most insightful moments, as clips on word edges.

The transcript is re-cut into sentences (``clips.sentences``), so every clip starts at a
sentence start and ends at a sentence end. The model cites sentences by id (and, the
OpenAI backend, quotes each clip's first and last words); ``clips.choosing`` maps citations
to word times, snaps and pads them, enforces the duration band (default 15-60 s; per request with the
``clip_min_seconds`` / ``clip_max_seconds`` options), drops overlaps, ranks and caps the
count (``max_clips``). Long transcripts are windowed (about 10 minutes each): every window
is asked for its best moments, so a 3-hour video fits and picks spread over the video.
No clip at all fails the video (cause ``no_clips``): never a "done" with zero clips.
"""
from __future__ import annotations

import json

from workers.pipeline.clips.choosing import Band, resolve, windows
from workers.pipeline.clips.rules import Rules, rules_for
from workers.pipeline.clips.sentences import split
from workers.queue.errors import PermanentError

STEP = "clip_lookup"
WINDOW_S = 600.0


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
            "windows": looked["windows"], "units": "sentences", "sentences": looked["sentences"],
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
    clips = resolve(looked["citations"], segments, band, transcript["duration"], count, rules, kind, refused)
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
    """Ask ``llm`` for the moments of ``units`` window by window: every citation, the raw
    replies, the tokens used and the number of windows. ``after_window(share done)`` runs
    between windows (the step reports progress and stops there when it must)."""
    parts = windows(units, WINDOW_S)
    per_window = count if len(parts) == 1 else max(1, min(3, -(-2 * count // len(parts))))
    citations, raw, usage = [], [], {"prompt_tokens": 0, "completion_tokens": 0}
    for n, part in enumerate(parts):
        answer = llm.find_clips(part, content_type=kind, min_s=band.min_s, max_s=band.max_s, count=per_window,
                                rules=rules or Rules())
        citations.extend(answer["result"].get("clips") or [])
        raw.append(answer["raw"])
        for k in usage:
            usage[k] += int((answer.get("usage") or {}).get(k) or 0)
        after_window((n + 1) / len(parts))
    return {"citations": citations, "raw": raw, "usage": usage, "windows": len(parts)}
