"""Are the offline picks the moments an editor would post? Measured on the repository's media.

    .venv/bin/python -m bench.picks [--before REF] [--write-clips]

Every file of tests/media with speech (our interview, the Manifesto reading, JFK, the MIT
licence reading, the auto-editor sample, ten Night of the Living Dead scenes) is
transcribed by the bundled Whisper tiny.en as the transcript step does it (cached in
bench/out/transcripts, keyed by the file's SHA-256; voice prints included), its content type
and clips are looked up as the content_type and clip_lookup steps do (local backend, the
default 15-60 s band and 5 clips), and the clips are judged:

* against the moments an editor labelled in ``bench/labels/picks.json`` (the best 1-5 per
  file, written from the transcripts before the picker was tuned): a moment is covered
  when one clip holds at least 60 % of it;
* against the rules (``bench/_picks_judge.py``, which shares no code with the picker):
  dead air, speech share, stand-alone start, question and answer kept together; and the
  titles against theirs (3-10 words, complete, no filler, no likely mishearing).

Targets: >= 60 % of the moments covered, 0 clips that break a rule. The reference, run in
the same process tree on the same transcripts, is ClipQueue at ``--before REF`` (default:
the commit before this picker), from a temporary git worktree and its own interpreter.
``--write-clips`` writes every clip (times, title, hook, reason, text) to bench/out/picks/.
It also measures the speaker-turn cue (``bench/_picks_turns.py``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import _picks_judge as judge  # noqa: E402

MEDIA = REPO / "tests" / "media"
OUT = REPO / "bench" / "out"
LABELS = json.loads((REPO / "bench" / "labels" / "picks.json").read_text())
BEFORE = "0972a6e"  # the last commit before this picker
BAND, COUNT = (15.0, 60.0), 5
REFERENCE = """
import json, sys, time
from workers.pipeline.clips.choosing import Band, resolve
from workers.pipeline.clips.sentences import split
from workers.pipeline.llm.local import LocalLLM
from workers.pipeline.steps.clip_lookup import look_up
from workers.pipeline.steps.content_type import sample
out = {}
for name, job in json.load(sys.stdin).items():
    began = time.perf_counter()
    units, llm, band = split(job["segments"]), LocalLLM(), Band(15.0, 60.0)
    kind = llm.content_type(sample(units))["result"]["content_type"]
    clips = resolve(look_up(llm, units, kind, band, 5)["citations"], units, band, job["duration"], 5)
    out[name] = {"kind": kind, "clips": clips, "seconds": time.perf_counter() - began}
print(json.dumps(out))
"""


def transcript(name: str, media: Path = MEDIA) -> dict:
    """The Whisper tiny.en transcript of ``media/name`` with voice prints, as the
    transcript step makes it (Whisper's part cached under bench/out/transcripts; the voice
    prints, cheap, made afresh from the decoded audio)."""
    from workers.pipeline.clips import scenes, voice
    from workers.pipeline.media import decode_audio_range, ffmpeg_binary

    path = media / name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    cache = OUT / "transcripts" / f"{name.replace('/', '__')}.{digest}.json"
    audio = decode_audio_range(path, 0.0, None, ffmpeg=ffmpeg_binary())
    if cache.exists():
        result = json.loads(cache.read_text())
    else:
        from workers.pipeline.whisper.engines import transcribe_chunk
        from workers.pipeline.whisper.models import load_model
        from workers.settings import Settings

        engine, _name = load_model(Settings.from_env({}))
        segments = transcribe_chunk(engine, audio, 0.0, lambda _done: None)
        for number, segment in enumerate(segments):
            segment["id"] = number
            for word in segment["words"]:
                word.pop("voice", None)
                word.pop("scene", None)
        result = {"duration": round(len(audio) / 16000, 3), "segments": segments}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(result))
    voice.annotate(result["segments"], audio, 0.0)
    scenes.annotate(result["segments"], audio, 0.0)
    if path.suffix == ".mp4":
        scenes.mark_video_cuts(result["segments"], scenes.video_cuts(path, ffmpeg_binary()))
    return result


def pick_now(item: dict) -> dict:
    """Content type and clips as the content_type and clip_lookup steps make them offline
    (and how long that took)."""
    from workers.pipeline.clips.choosing import Band
    from workers.pipeline.clips.sentences import split
    from workers.pipeline.llm.local import LocalLLM
    from workers.pipeline.steps.clip_lookup import choose
    from workers.pipeline.steps.content_type import sample

    began = time.perf_counter()
    llm = LocalLLM()
    kind = llm.content_type(sample(split(item["segments"])))["result"]["content_type"]
    clips = choose(llm, item, kind, Band(*BAND), COUNT)["clips"]
    return {"kind": kind, "clips": clips, "seconds": time.perf_counter() - began}


def two_hours(items: dict[str, dict]) -> dict:
    """The files' transcripts one after another, 2 s apart, until two hours are full."""
    segments, t = [], 0.0
    while t < 7200:
        for item in items.values():
            for s in item["segments"]:
                words = [{**w, "start": round(w["start"] + t, 3), "end": round(w["end"] + t, 3)} for w in s["words"]]
                segments.append({**s, "id": len(segments), "start": words[0]["start"], "end": words[-1]["end"],
                                 "words": words})
            t += item["duration"] + 2.0
    return {"duration": round(t, 3), "segments": segments}


def pick_before(ref: str, items: dict[str, dict]) -> dict[str, dict]:
    with tempfile.TemporaryDirectory(prefix="clipqueue-picks-") as work:
        tree = Path(work) / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), ref], check=True,
                       capture_output=True)
        try:
            done = subprocess.run([sys.executable, "-c", REFERENCE], cwd=tree, capture_output=True, text=True,
                                  check=True, input=json.dumps(items))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
    return json.loads(done.stdout)


def score(name: str, item: dict, picked: dict, labels: list[dict] | None = None) -> dict:
    words = [w for s in item["segments"] for w in s["words"]]
    labels = LABELS.get(name, []) if labels is None else labels
    clips = picked["clips"]
    breaks = [judge.rule_breaks(c, words) for c in clips]
    titles = [judge.title_breaks(c, words) for c in clips]
    return {"kind": picked["kind"], "labels": len(labels), "covered": sum(judge.covered(x, clips) for x in labels),
            "clips": len(clips), "breaking": sum(bool(b) for b in breaks), "bad_titles": sum(bool(t) for t in titles),
            "why": [b for b in breaks if b], "titles": [t for t in titles if t]}


def table(rows: dict[str, dict[str, dict]], before: str | None) -> None:
    head = (f"{'file':46s} {'type':>9s} {'moments':>7s} {'covered':>7s} {'clips':>5s} {'break':>5s} {'titles':>6s} "
            f"{'editor':>6s}")
    print(head + (f"   | at {before}: covered, clips, break, titles, editor" if before else ""))
    total = {k: [0, 0, 0, 0, 0] for k in ("now", "before")}
    marks: dict[str, list] = {"now": [], "before": []}
    for name, row in rows.items():
        now = row["now"]
        line = (f"{name[-46:]:46s} {now['kind']:>9s} {now['labels']:7d} {now['covered']:7d} {now['clips']:5d} "
                f"{now['breaking']:5d} {now['bad_titles']:6d} {_mean(now.get('editor')):>6s}")
        for key in row:
            r = row[key]
            marks[key] += (r.get("editor") or {}).get("scores", [])
            total[key] = [a + b for a, b in zip(total[key], (r["labels"], r["covered"], r["clips"], r["breaking"],
                                                              r["bad_titles"]))]
        if before:
            b = row["before"]
            line += (f"   | {b['covered']:2d} {b['clips']:2d} {b['breaking']:2d} {b['bad_titles']:2d} "
                     f"{_mean(b.get('editor'))}")
        print(line)
    for key in ("now", "before") if before else ("now",):
        labels, hit, clips, broke, titles = total[key]
        print(f"{key if key == 'now' else before:8s} covered {hit}/{labels} = {hit / labels:.0%} of the moments; "
              f"{broke}/{clips} = {broke / max(1, clips):.0%} of the clips break a rule; "
              f"{titles}/{clips} = {titles / max(1, clips):.0%} of the titles do"
              + (f"; editor's mean {sum(marks[key]) / len(marks[key]):.2f}/5 over {len(marks[key])} scored clips"
                 if marks[key] else ""))
    labels, hit, clips, broke, _ = total["now"]
    print(f"targets (>= 60 % covered, 0 clips breaking a rule): "
          f"{'met' if hit / labels >= 0.6 and broke == 0 else 'NOT met'}")


def _mean(editor: dict | None) -> str:
    """An editor's mean score for a file's clips ("3.5", "3.5+2?" with 2 clips unscored)."""
    if not editor or not (editor["scores"] or editor["unscored"]):
        return "-"
    mean = f"{sum(editor['scores']) / len(editor['scores']):.1f}" if editor["scores"] else "?"
    return mean + (f"+{editor['unscored']}?" if editor["unscored"] else "")


def write_clips(name: str, item: dict, picked: dict, sub: str = "") -> str:
    folder = OUT / "picks" / sub
    folder.mkdir(parents=True, exist_ok=True)
    clips = [{k: c.get(k) for k in ("start", "end", "title", "hook", "reason", "text", "band_note")}
             for c in picked["clips"]]
    (folder / f"{name.replace('/', '__')}.json").write_text(json.dumps({"content_type": picked["kind"],
                                                                        "clips": clips}, indent=1))
    lines = [f"## {name} ({picked['kind']}){' ' + sub if sub else ''}"]
    for c in clips:
        lines += [f"- **{c['title']}** ({c['start']:.1f}-{c['end']:.1f} s, {c['end'] - c['start']:.1f} s)",
                  f"  - key: `{judge.clip_key(c)}`", f"  - hook: {c['hook']}",
                  f"  - reason: {c['reason']}", f"  - text: {c['text']}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="the reference: ClipQueue at this git ref ('' for none)")
    parser.add_argument("--write-clips", action="store_true", help="write the clips to bench/out/picks/")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    began = time.perf_counter()
    items = {name: transcript(name) for name in LABELS}
    print(f"(transcripts ready in {time.perf_counter() - began:.0f} s)")
    began = time.perf_counter()
    now = {name: pick_now(item) for name, item in items.items()}
    print(f"(picked in {time.perf_counter() - began:.1f} s)")
    long = two_hours(items)
    long_now = pick_now(long)
    old = pick_before(args.before, {**items, "two hours": long}) if args.before else {}
    marks = judge.editor_scores()
    rows = {name: {"now": {**score(name, items[name], now[name]),
                           "editor": judge.editor_mean(marks, name, now[name]["clips"])},
                   **({"before": {**score(name, items[name], old[name]),
                                  "editor": judge.editor_mean(marks, name, old[name]["clips"])}} if old else {})}
            for name in items}
    table(rows, args.before or None)
    fifths = len({int(c["start"] // (long["duration"] / 5)) for c in long_now["clips"]})
    line = (f"a 2-hour transcript ({len(long['segments'])} segments): content type and clip lookup "
            f"{long_now['seconds']:.1f} s, clips in {fifths} of its 5 fifths")
    if old:
        before_fifths = len({int(c["start"] // (long["duration"] / 5)) for c in old["two hours"]["clips"]})
        line += (f"; at {args.before}: {old['two hours']['seconds']:.1f} s, {before_fifths} of 5 fifths "
                 f"(now / before: {long_now['seconds'] / old['two hours']['seconds']:.2f}x the time)")
    print(line)
    for name, row in rows.items():
        for why in row["now"]["why"] + row["now"]["titles"]:
            print(f"  {name}: {why}")
    if args.write_clips:
        summary = [write_clips(name, items[name], now[name]) for name in items]
        (OUT / "picks" / "clips.md").write_text("# Clips picked offline\n\n" + "\n\n".join(summary) + "\n")
        print(f"wrote the clips to {(OUT / 'picks').relative_to(REPO)}/")
    from bench._picks_turns import report

    report(items)
    name = "interview_radio.opus"
    deaf = {"duration": items[name]["duration"],
            "segments": [{**s, "words": [{k: v for k, v in w.items() if k != "voice"} for w in s["words"]]}
                         for s in items[name]["segments"]]}
    heard = score(name, items[name], pick_now(deaf))
    print(f"  the interview's picks without voice prints (pauses and punctuation alone): covered "
          f"{heard['covered']}/{heard['labels']}, {heard['breaking']} of {heard['clips']} clips break a rule "
          f"(with them: {rows[name]['now']['covered']}/{heard['labels']}, {rows[name]['now']['breaking']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
