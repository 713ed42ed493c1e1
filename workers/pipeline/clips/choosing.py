"""From a model's citations to clips on word edges. No model does timestamp arithmetic:
it cites units (sentences, from ``sentences.split``) by id, and may quote the clip's first
and last words; this module turns those into times, for every backend alike.

* a quote, when given and found (``quotes.locate``, near the cited unit), decides the first
  or last unit: models copy words better than they keep ids;
* boilerplate units (disclaimers, subscribe reads) are trimmed off a clip's edges and never
  grown into; a clip that is nothing but boilerplate is dropped;
* the editor's rules are kept (``repair``): the question an answer needs is taken in, a
  question's answer too, a thought that goes on is completed, a clip is cut at dead air and
  its band met by whole sentences; a clip with too little speech is refused. Where the band
  makes a rule give way, the clip's ``reason`` says so;
* a leading connective or interjection ("And so", "Yes,", "Um,") is cut off: the clip
  starts on the next word;
* start/end snap to the first/last word's edges, padded a little into the silence around
  them (at most half way to the neighbouring word, so two clips side by side never share
  a moment); a single sentence longer than the band's maximum
  is cut at the last word (a sentence end if there is one) that fits; a clip that still
  misses the band (a video shorter than the minimum, a band no run of words can fill) says
  why in ``band_note`` and in its reason;
* a clip with under ``POSTABLE_S`` of speech (a film scene's single line) is dropped where
  the video gives a longer one, unless it ends on a punchline ("…!"); where it gives none,
  the best short one stays and its reason says why (never "done, 0 clips" with no word why);
* overlapping picks are dropped (the better one stays), the rest ranked by score and capped;
  each gets a headline and a hook (``llm.titles``: the model's when they are well formed
  and grounded in the clip, else made from the clip's own words).
"""
from __future__ import annotations

from dataclasses import dataclass

from workers.pipeline.clips.quotes import locate
from workers.pipeline.clips.rules import Rules
from workers.pipeline.clips.sentences import is_boilerplate

PAD = 0.25  # seconds of silence kept before the first and after the last word, at most
POSTABLE_S = 6.0  # an editor posts no clip with less speech than this, unless it ends on a punchline ("…!")


@dataclass(frozen=True)
class Band:
    min_s: float = 15.0
    max_s: float = 60.0


def resolve(citations: list[dict], segments: list[dict], band: Band, duration: float, count: int,
            rules: Rules = Rules(), kind: str | None = None, refused: list | None = None,
            spread: bool = False) -> list[dict]:
    """Clips from citations: placed, repaired to keep the rules (``repair``), snapped to word
    edges, titled, de-overlapped, ranked and capped (with ``spread``, the best of each region
    of the video first: citations gathered window by window). A citation no repair can save
    is left out, with why, in ``refused`` (when given)."""
    from workers.pipeline.clips.meaning import Structure
    from workers.pipeline.clips.repair import Refused, repair
    from workers.pipeline.clips.rules import Speech

    by_id = {s["id"]: n for n, s in enumerate(segments)}
    junk = [is_boilerplate(s["text"]) for s in segments]
    shape, speech = Structure(segments), Speech(segments)
    clips = []
    for cite in citations:
        first, last = by_id.get(cite.get("start_segment")), by_id.get(cite.get("end_segment"))
        quoted_first = locate(cite.get("first_words"), segments, first, "first")
        quoted_last = locate(cite.get("last_words"), segments, last if last is not None else quoted_first, "last")
        anchors = {"start": "quote" if quoted_first is not None else "id",
                   "end": "quote" if quoted_last is not None else "id"}
        first = quoted_first if quoted_first is not None else first
        last = quoted_last if quoted_last is not None else last
        if first is None or last is None:
            continue
        if last < first:
            first, last = last, first
        while first < last and junk[first]:
            first += 1
        while last > first and junk[last]:
            last -= 1
        if junk[first]:
            continue  # nothing but boilerplate
        try:
            first, last, repairs, waived = repair(first, last, segments, shape, speech, rules, band.min_s,
                                                  band.max_s, junk)
        except Refused as exc:
            if refused is not None:
                refused.append({"start_segment": cite.get("start_segment"), "end_segment": cite.get("end_segment"),
                                "why": str(exc)})
            continue
        lean = shape.leaning[first]
        clip = _snap(segments, first, last, duration, band.max_s, skip=lean[1] if lean and lean[0] == "trim" else 0)
        clip["anchors"] = anchors
        note = _band_note(clip, band, duration)
        if note:
            clip["band_note"] = note
        reason = str(cite.get("reason") or "").strip() or "picked by the model"
        clip["reason"] = "; ".join([reason, *waived] + ([note] if note and note not in reason else []))
        if repairs:
            clip["repairs"] = repairs
        clip.update({"question": shape.question[first], "exchange": shape.exchange(first, last)})
        clip["score"] = float(cite.get("score") or 0.0)
        clip["_cite"] = (cite.get("title"), cite.get("hook"))
        clips.append(clip)
    clips = _postable(clips, refused)
    kept = _select(clips, count, (segments[0]["start"], segments[-1]["end"]) if spread and segments else None)
    _titles(kept, segments, kind)
    for rank, clip in enumerate(kept, 1):
        clip["rank"] = rank
    return kept


def speech_s(words: list[dict]) -> float:
    """Seconds of speech in a clip's words: their span less every gap of ``rules.GAP_S`` or more."""
    from workers.pipeline.clips.rules import GAP_S

    if not words:
        return 0.0
    gaps = [b["start"] - a["end"] for a, b in zip(words, words[1:])]
    return words[-1]["end"] - words[0]["start"] - sum(g for g in gaps if g >= GAP_S)


def _postable(clips: list[dict], refused: list | None) -> list[dict]:
    """No clip with under ``POSTABLE_S`` of speech (a single line of a film scene) where the
    source gives anything longer, unless it ends on a punchline (an exclamation); where it
    gives nothing longer, only the best short one is kept, and its reason says why: a
    video never ends with no clips and no word why."""
    short = [c for c in clips if speech_s(c["words"]) < POSTABLE_S and not c["text"].rstrip("\"')").endswith("!")]
    if not short:
        return clips
    if len(short) == len(clips):
        best = max(clips, key=lambda c: (c["score"], speech_s(c["words"])))
        best["reason"] += (f"; only {speech_s(best['words']):.1f} s of speech, under the {POSTABLE_S:g} s an editor "
                           "posts: kept as this video's best, as nothing longer here keeps the rules")
        short, clips = [c for c in clips if c is not best], [best]
    else:
        clips = [c for c in clips if not any(c is x for x in short)]
    if refused is not None:
        refused += [{"start_segment": c["start_segment"], "end_segment": c["end_segment"],
                     "why": f"only {speech_s(c['words']):.1f} s of speech (under {POSTABLE_S:g} s) where the video "
                            "has a longer clip"} for c in short]
    return clips


def _select(clips: list[dict], count: int, span: tuple[float, float] | None) -> list[dict]:
    ranked = sorted(clips, key=lambda c: (-c["score"], c["start"]))
    kept: list[dict] = []

    def take(clip) -> None:
        if len(kept) < count and all(clip["end"] <= k["start"] or clip["start"] >= k["end"] for k in kept):
            kept.append(clip)

    if span:
        width = (span[1] - span[0]) / max(1, count) or 1.0
        for region in range(count):
            lo = span[0] + region * width
            for clip in ranked:
                if lo <= (clip["start"] + clip["end"]) / 2 < lo + width or region == count - 1 and \
                        (clip["start"] + clip["end"]) / 2 >= lo:
                    before = len(kept)
                    take(clip)
                    if len(kept) > before:
                        break
    for clip in ranked:
        take(clip)
    return sorted(kept, key=lambda c: (-c["score"], c["start"]))


def _titles(clips: list[dict], segments: list[dict], kind: str | None) -> None:
    from workers.pipeline.clips.quotes import normal
    from workers.pipeline.llm.classify import LEXICON
    from workers.pipeline.llm.titles import settle

    counts: dict[str, int] = {}
    for s in segments:
        for t in normal(s["text"]):
            counts[t] = counts.get(t, 0) + 1
    vocabulary = set(LEXICON.get(kind or "", "").split())
    for clip in clips:
        (title, hook), exchange, question = clip.pop("_cite"), clip.pop("exchange"), clip.pop("question")
        settle(clip, title, hook, counts, vocabulary, prefer_question=exchange and question, exchange=exchange)


def join_words(words: list[dict]) -> str:
    """Words back into text, with spaces only where Whisper heard a word boundary."""
    return "".join((" " if w.get("space", True) else "") + w["word"] for w in words).strip()


def _band_note(clip: dict, band: Band, duration: float) -> str | None:
    length = clip["duration"]
    if band.min_s - 0.05 <= length <= band.max_s + 0.05:
        return None
    if length < band.min_s and duration < band.min_s:
        return f"the video is only {duration:.1f} s long, shorter than the {band.min_s:g} s minimum"
    if length < band.min_s:
        return (f"{length:.1f} s: no run of whole words here fills the {band.min_s:g}-{band.max_s:g} s band "
                "(it is cut at word edges, never inside a word)")
    return f"{length:.1f} s: the padding into silence around its words runs past the {band.max_s:g} s maximum"


def _fit_words(words: list[dict], max_s: float | None) -> list[dict]:
    """The longest opening run of ``words`` within ``max_s``, ending at a sentence end when
    one fits (only needed when a single sentence is longer than the band)."""
    if max_s is None or words[-1]["end"] - words[0]["start"] <= max_s:
        return words
    fitting = [n for n, w in enumerate(words) if w["end"] - words[0]["start"] <= max_s] or [0]
    ends = [n for n in fitting if words[n]["word"].rstrip('"\')').endswith((".", "?", "!"))]
    return words[:(ends or fitting)[-1] + 1]


def _snap(segments, first, last, duration: float, max_s: float | None = None, skip: int = 0) -> dict:
    """The clip of units first..last on word edges; ``skip`` leading words left out (a
    connective: "And so, my fellow Americans" starts at "my")."""
    whole = [w for s in segments[first:last + 1] for w in s["words"]]
    skip = skip if skip < len(whole) else 0
    cut, whole = whole[:skip], whole[skip:]
    words = _fit_words(whole, max_s)
    before = (cut[-1]["end"] if cut else
              segments[first - 1]["words"][-1]["end"] if first > 0 and segments[first - 1]["words"] else 0.0)
    if len(words) < len(whole):
        after = whole[len(words)]["start"]
    else:
        after = (segments[last + 1]["words"][0]["start"]
                 if last + 1 < len(segments) and segments[last + 1]["words"] else duration)
    # Pad into the silence around the clip, but never into a neighbour's word, and never
    # inside the clip's own first or last word (Whisper's word times may overlap).
    pad = PAD if max_s is None else max(0.0, min(PAD, (max_s - (words[-1]["end"] - words[0]["start"])) / 2))
    # At most half way into the silence on either side: the clip next door may pad into it too.
    start = max(0.0, min(words[0]["start"], max((before + words[0]["start"]) / 2, words[0]["start"] - pad)))
    end = min(duration, max(words[-1]["end"], min((after + words[-1]["end"]) / 2, words[-1]["end"] + pad)))
    return {
        "start": round(start, 3),
        "end": round(end, 3),
        "duration": round(end - start, 3),
        "start_segment": segments[first]["id"],
        "end_segment": segments[last]["id"],
        "text": join_words(words),
        "words": [{"word": w["word"], "start": w["start"], "end": w["end"], "space": w.get("space", True),
                   **({"probability": w["probability"]} if "probability" in w else {})} for w in words],
    }
