"""From a model's citations to clips on word edges. No model does timestamp arithmetic:
it cites units (sentences, from ``sentences.split``) by id, and may quote the clip's first
and last words; this module turns those into times.

* a quote, when given and found (``quotes.locate``, near the cited unit), decides the first
  or last unit: models copy words better than they keep ids;
* boilerplate units (disclaimers, subscribe reads) are trimmed off a clip's edges and never
  grown into; a clip that is nothing but boilerplate is dropped;

* start/end snap to the first/last word's edges, padded a little into the silence around
  them (never into a neighbouring word);
* the duration band is enforced by adding or dropping whole sentences, never by cutting
  inside a word; a single sentence longer than the band's maximum is cut at the last word
  (a sentence end if there is one) that fits; a clip that still misses the band (a video
  shorter than the minimum, a band no run of words can fill) says why in ``band_note``;
* overlapping picks are dropped (the better one stays), the rest ranked by score and capped.
"""
from __future__ import annotations

from dataclasses import dataclass

from workers.pipeline.clips.quotes import locate
from workers.pipeline.clips.sentences import is_boilerplate

PAD = 0.25  # seconds of silence kept before the first and after the last word, at most


@dataclass(frozen=True)
class Band:
    min_s: float = 15.0
    max_s: float = 60.0


def resolve(citations: list[dict], segments: list[dict], band: Band, duration: float, count: int) -> list[dict]:
    by_id = {s["id"]: n for n, s in enumerate(segments)}
    junk = [is_boilerplate(s["text"]) for s in segments]
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
        first, last = _fit_band(segments, first, last, band, junk)
        clip = _snap(segments, first, last, duration, band.max_s)
        clip["anchors"] = anchors
        note = _band_note(clip, band, duration)
        if note:
            clip["band_note"] = note
        clip.update({k: cite.get(k) for k in ("title", "hook", "reason")})
        clip["score"] = float(cite.get("score") or 0.0)
        clips.append(clip)
    kept = []
    for clip in sorted(clips, key=lambda c: (-c["score"], c["start"])):
        if all(clip["end"] <= k["start"] or clip["start"] >= k["end"] for k in kept):
            kept.append(clip)
    kept = kept[:count]
    for rank, clip in enumerate(kept, 1):
        clip["rank"] = rank
    return kept


def join_words(words: list[dict]) -> str:
    """Words back into text, with spaces only where Whisper heard a word boundary."""
    return "".join((" " if w.get("space", True) else "") + w["word"] for w in words).strip()


def _length(segments, first, last) -> float:
    return segments[last]["end"] - segments[first]["start"]


def _fit_band(segments, first, last, band: Band, junk: list[bool]) -> tuple[int, int]:
    while _length(segments, first, last) > band.max_s and last > first:
        last -= 1
    while _length(segments, first, last) < band.min_s:
        grow_end = (last + 1 < len(segments) and not junk[last + 1]
                    and _length(segments, first, last + 1) <= band.max_s)
        grow_start = first > 0 and not junk[first - 1] and _length(segments, first - 1, last) <= band.max_s
        if grow_end:
            last += 1
        elif grow_start:
            first -= 1
        else:
            break
    return first, last


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


def _snap(segments, first, last, duration: float, max_s: float | None = None) -> dict:
    whole = [w for s in segments[first:last + 1] for w in s["words"]]
    words = _fit_words(whole, max_s)
    before = segments[first - 1]["words"][-1]["end"] if first > 0 and segments[first - 1]["words"] else 0.0
    if len(words) < len(whole):
        after = whole[len(words)]["start"]
    else:
        after = (segments[last + 1]["words"][0]["start"]
                 if last + 1 < len(segments) and segments[last + 1]["words"] else duration)
    # Pad into the silence around the clip, but never into a neighbour's word, and never
    # inside the clip's own first or last word (Whisper's word times may overlap).
    pad = PAD if max_s is None else max(0.0, min(PAD, (max_s - (words[-1]["end"] - words[0]["start"])) / 2))
    start = max(0.0, min(words[0]["start"], max(before, words[0]["start"] - pad)))
    end = min(duration, max(words[-1]["end"], min(after, words[-1]["end"] + pad)))
    return {
        "start": round(start, 3),
        "end": round(end, 3),
        "duration": round(end - start, 3),
        "start_segment": segments[first]["id"],
        "end_segment": segments[last]["id"],
        "text": join_words(words),
        "words": [{"word": w["word"], "start": w["start"], "end": w["end"], "space": w.get("space", True)}
                  for w in words],
    }


def windows(segments: list[dict], size_s: float = 600.0, overlap_s: float = 60.0) -> list[list[dict]]:
    """Consecutive, overlapping spans of about ``size_s`` seconds: long transcripts are
    looked at window by window, so a 3-hour video fits any context and picks are not
    bunched at the start."""
    if not segments:
        return []
    out, start = [], 0
    while start < len(segments):
        t0 = segments[start]["start"]
        end = start
        while end + 1 < len(segments) and segments[end + 1]["end"] - t0 <= size_s:
            end += 1
        out.append(segments[start:end + 1])
        if end + 1 >= len(segments):
            break
        nxt = end + 1
        while nxt - 1 > start and segments[end]["end"] - segments[nxt - 1]["start"] < overlap_s:
            nxt -= 1
        start = max(start + 1, nxt)
    return out
