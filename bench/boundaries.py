"""Boundary quality of the offline picks: do clips start at a sentence start and end at a
sentence end, and do they ever take in boilerplate?

    .venv/bin/python -m bench.boundaries

On the real speech in ../shared/media (every file with 40 s or more of it) and on a
composed 10-minute talk (the Manifesto reading with its LibriVox-style disclaimer, the
Arakawa interview, the longest Night of the Living Dead scenes, JFK), transcribed here by
the bundled Whisper tiny.en, clips are looked up as the clip_lookup step does (local
backend, the default 15-60 s band, 5 clips; windows of 10 minutes) and judged against the
transcript's own words, independently of how the picker cuts sentences:

* starts at a sentence start: the word before the clip closes a sentence (``. ! ?``), or
  1.5 s of silence precedes it, or it is the first word;
* ends at a sentence end: its last word closes a sentence, or 1.5 s of silence follows;
* takes in boilerplate: it overlaps a span marked by hand below (the recording's
  disclaimer and the web address read aloud).

Targets: >= 90 % and 0 %. The reference, measured in the same run on the same transcripts,
is ClipQueue as it was at git ``--before REF`` (default: the commit before issue 11, whose
picker cited Whisper's segments), checked out in a temporary worktree and run in its own
interpreter. The content type of each input is printed for both.
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.content_types import transcribe  # noqa: E402
from bench.talk import MEDIA, _run  # noqa: E402

TALK = ["manifesto.mp4", "arakawa_gameboy_interview_1990.mp3", "notld_1968/119s_theres_supposed_to_be_another_broadcast.wav",
        "notld_1968/89s_ill_come_back_down_as_soon_as.wav", "notld_1968/60s_i_dont_want_anyones_life_on_my_hands.wav",
        "jfk.flac"]
FILES = ["manifesto.mp4", "arakawa_gameboy_interview_1990.mp3", "autoeditor_example.mp4", "multilingual.mp3",
         "notld_1968/119s_theres_supposed_to_be_another_broadcast.wav", "notld_1968/89s_ill_come_back_down_as_soon_as.wav",
         "notld_1968/60s_i_dont_want_anyones_life_on_my_hands.wav", "notld_1968/45s_dont_be_afraid_of_me.wav",
         "notld_1968/45s_right_through_the_billboard.wav"]
# Boilerplate, marked by hand (seconds into the file): "This audiobook is in the public
# domain. You can find the text version of this audiobook at www.marxists.org."
BOILERPLATE = {"manifesto.mp4": [(1.0, 9.3)]}
PAUSE_S = 1.5
BEFORE = "1da591a"  # the last commit before issue 11
# What the clip_lookup and content_type steps did at the reference (read from stdin, write to stdout).
REFERENCE = """
import json, sys
from workers.pipeline.clips.choosing import Band, resolve, windows
from workers.pipeline.llm.local import LocalLLM
job = json.load(sys.stdin)
segments, llm, band, count = job["segments"], LocalLLM(), Band(15.0, 60.0), 5
kind = llm.content_type(segments[::max(1, len(segments) // 60)][:60])["result"]["content_type"]
parts = windows(segments, 600.0)
per = count if len(parts) == 1 else max(1, min(3, -(-2 * count // len(parts))))
cites = [c for p in parts for c in llm.find_clips(p, content_type=kind, min_s=15.0, max_s=60.0, count=per)["result"]["clips"]]
print(json.dumps({"kind": kind, "clips": resolve(cites, segments, band, job["duration"], count)}))
"""


def composed_talk(out: Path) -> tuple[Path, list[tuple[float, float]]]:
    """The talk as 16 kHz mono WAV, and its boilerplate spans (shifted by each part's offset)."""
    from workers.pipeline.media import probe

    spans, offset = [], 0.0
    for name in TALK:
        spans += [(offset + a, offset + b) for a, b in BOILERPLATE.get(name, [])]
        offset += float(probe(MEDIA / name).duration)
    if not out.exists():
        inputs = [arg for name in TALK for arg in ("-i", str(MEDIA / name))]
        chain = "".join(f"[{n}:a]aresample=16000,aformat=channel_layouts=mono[a{n}];" for n in range(len(TALK)))
        joined = "".join(f"[a{n}]" for n in range(len(TALK)))
        _run([*inputs, "-filter_complex", f"{chain}{joined}concat=n={len(TALK)}:v=0:a=1[out]", "-map", "[out]",
              "-ac", "1", "-ar", "16000", str(out)])
    return out, spans


def pick(segments: list[dict], duration: float) -> tuple[str, list[dict]]:
    """Content type and clips, as the content_type and clip_lookup steps make them with the
    local backend."""
    from workers.pipeline.clips.choosing import Band, resolve
    from workers.pipeline.clips.sentences import split
    from workers.pipeline.llm.local import LocalLLM
    from workers.pipeline.steps.clip_lookup import look_up
    from workers.pipeline.steps.content_type import sample

    units = split(segments)
    llm, band, count = LocalLLM(), Band(15.0, 60.0), 5
    kind = llm.content_type(sample(units))["result"]["content_type"]
    return kind, resolve(look_up(llm, units, kind, band, count)["citations"], units, band, duration, count)


def pick_before(tree: Path, segments: list[dict], duration: float) -> tuple[str, list[dict]]:
    done = subprocess.run([sys.executable, "-c", REFERENCE], cwd=tree, input=json.dumps(
        {"segments": segments, "duration": duration}), capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout)
    return answer["kind"], answer["clips"]


def judge(clips: list[dict], segments: list[dict], spans) -> tuple[int, int, int]:
    """(clips that start at a sentence start, that end at a sentence end, that touch boilerplate)."""
    from workers.pipeline.clips.sentences import ends_sentence

    words = [w for s in segments for w in s["words"]]
    starts = ends = junk = 0
    for clip in clips:
        first = next(n for n, w in enumerate(words) if w["start"] == clip["words"][0]["start"])
        last = next(n for n, w in enumerate(words) if w["end"] == clip["words"][-1]["end"] and n >= first)
        starts += first == 0 or ends_sentence(words[first - 1]["word"]) or \
            words[first]["start"] - words[first - 1]["end"] >= PAUSE_S
        ends += last == len(words) - 1 or ends_sentence(words[last]["word"]) or \
            words[last + 1]["start"] - words[last]["end"] >= PAUSE_S
        junk += any(clip["start"] < b and clip["end"] > a for a, b in spans)
    return starts, ends, junk


def main(argv=None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="the reference: ClipQueue at this git ref")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    work = Path(tempfile.mkdtemp(prefix="clipqueue-boundaries-"))
    tree = work / "before"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.before], check=True,
                   capture_output=True)
    try:
        return _compare(work, tree, args.before)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)


def _compare(work: Path, tree: Path, before: str) -> int:
    talk, talk_spans = composed_talk(work / "talk.wav")
    inputs = [(name, MEDIA / name, BOILERPLATE.get(name, [])) for name in FILES]
    inputs.append(("composed 10-minute talk", talk, talk_spans))
    began = time.perf_counter()
    totals = {"now": [0, 0, 0, 0], before: [0, 0, 0, 0]}
    print(f"{'input':44s} {'type':>10s} {'clips':>5s} {'start':>5s} {'end':>4s} {'junk':>4s}   | at {before}")
    for name, path, spans in inputs:
        segments = transcribe(path)
        duration = segments[-1]["end"] + 0.5
        row = {}
        for label, picker in (("now", pick), (before, lambda s, d: pick_before(tree, s, d))):
            kind, clips = picker(segments, duration)
            row[label] = (kind, len(clips), *judge(clips, segments, spans))
            totals[label] = [a + b for a, b in zip(totals[label], row[label][1:])]
        k, n, s, e, j = row["now"]
        rk, rn, rs, re_, rj = row[before]
        print(f"{name[-44:]:44s} {k:>10s} {n:5d} {s:5d} {e:4d} {j:4d}   | {rk:>10s} {rn:2d} clips, {rs} start, {re_} "
              f"end, {rj} junk")
    print(f"(transcribing and picking took {time.perf_counter() - began:.0f} s)")
    for label in ("now", before):
        n, s, e, j = totals[label]
        print(f"{label:8s} {n} clips: start at a sentence start {s / n * 100:.0f} %, end at a sentence end "
              f"{e / n * 100:.0f} %, touch boilerplate {j / n * 100:.0f} %")
    n, s, e, j = totals["now"]
    met = s / n >= 0.9 and e / n >= 0.9 and j == 0
    print(f"targets (>= 90 %, >= 90 %, 0 %): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
