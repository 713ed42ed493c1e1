"""Offline content-type accuracy on a labelled set made from ../shared/media, transcribed
here and now by the bundled Whisper tiny.en (as the pipeline would).

    .venv/bin/python -m bench.content_types [--write-fixture]

The set (target: at least 5 of 6 right): an audiobook reading (the Manifesto), a
two-person interview (our own, tests/media/interview_radio.opus), film dialogue and a news broadcast (Night of the
Living Dead), a speech (JFK) and a tutorial-style demo (the auto-editor example). A held-out
set of seven more film-dialogue clips, never used to tune the classifier, shows how far it
generalizes. Also prints how often the answer matches with the transcript fixture the
tests use, and the classifier's time per video.

``--write-fixture [NAME ...]`` stores the transcripts (only the named ones, when names are
given) as ``tests/data/content_types.json`` (words with their times and voice prints, as
the transcript step stores them), so the tests classify the same text without running
Whisper. The interview's entry was written with ``--write-fixture interview_radio.opus``;
the others predate voice prints (and a Whisper run today punctuates the Manifesto
differently, which the tests' quotes depend on).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.talk import MEDIA  # noqa: E402

FIXTURE = REPO / "tests" / "data" / "content_types.json"
LABELLED = {
    "manifesto.mp4": "audiobook",
    "interview_radio.opus": "interview",
    "notld_1968/119s_theres_supposed_to_be_another_broadcast.wav": "film",
    "notld_1968/20s_no_authentic_way_for_us_to_say.wav": "news",
    "jfk.flac": "speech",
    "autoeditor_example.mp4": "tutorial",
}
HELD_OUT = {f"notld_1968/{name}.wav": "film" for name in (
    "15s_donnie_asked_me_if_i_were_afraid", "15s_there_are_two_of_them_out_there", "30s_i_wont_open_this_door_again",
    "31s_hes_wrong_you_know", "45s_dont_be_afraid_of_me", "45s_right_through_the_billboard",
    "89s_ill_come_back_down_as_soon_as")}


def source(name: str) -> Path:
    """Where a labelled file lies: the repository's own media first, else ../shared/media."""
    ours = REPO / "tests" / "media" / name
    return ours if ours.exists() else MEDIA / name


def transcribe(path: Path) -> list[dict]:
    from workers.pipeline.clips.voice import annotate
    from workers.pipeline.media import decode_audio_range, ffmpeg_binary
    from workers.pipeline.whisper.engines import transcribe_chunk
    from workers.pipeline.whisper.models import load_model
    from workers.settings import Settings

    engine, _name = load_model(Settings.from_env({}))
    audio = decode_audio_range(path, 0.0, None, ffmpeg=ffmpeg_binary())
    segments = annotate(transcribe_chunk(engine, audio, 0.0, lambda _done: None), audio, 0.0)
    return [{"id": n, "start": s["start"], "end": s["end"], "text": s["text"],
             "words": [{k: w[k] for k in ("word", "start", "end", "space", "voice") if k in w} for w in s["words"]]}
            for n, s in enumerate(segments)]


def evaluate(items: dict[str, str], transcripts: dict[str, list[dict]]) -> tuple[int, list[str], float]:
    from workers.pipeline.clips.sentences import split
    from workers.pipeline.llm.classify import classify

    right, lines, spent = 0, [], 0.0
    for name, label in items.items():
        started = time.perf_counter()
        kind, confidence, _scores = classify(split(transcripts[name]))
        spent += time.perf_counter() - started
        right += kind == label
        lines.append(f"  {'ok ' if kind == label else 'BAD'} {name:58s} {label:10s} -> {kind:10s} ({confidence:.2f})")
    return right, lines, spent / max(1, len(items))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-fixture", nargs="*", metavar="NAME",
                        help=f"store the transcripts in {FIXTURE} (only those named, when names are given)")
    args = parser.parse_args(argv)
    everything = {**LABELLED, **HELD_OUT}
    started = time.perf_counter()
    live = {name: transcribe(source(name)) for name in everything}
    print(f"transcribed {len(live)} files with Whisper tiny.en in {time.perf_counter() - started:.1f} s")
    for title, items in (("labelled set (target >= 5 of 6)", LABELLED), ("held-out film dialogue", HELD_OUT)):
        right, lines, per = evaluate(items, live)
        print(f"{title}: {right} of {len(items)} right ({per * 1000:.0f} ms per video to classify)")
        print("\n".join(lines))
    if FIXTURE.exists() and args.write_fixture is None:
        stored = json.loads(FIXTURE.read_text())
        right, _lines, _per = evaluate(LABELLED, {k: v["segments"] for k, v in stored.items()})
        print(f"on the tests' fixture transcripts: {right} of {len(LABELLED)} right")
    if args.write_fixture is not None:
        stored = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {}
        fresh = set(args.write_fixture or everything)
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(json.dumps({name: {"label": label, "held_out": name in HELD_OUT,
                                              "segments": live[name] if name in fresh or name not in stored
                                              else stored[name]["segments"]}
                                       for name, label in everything.items()}, indent=None, separators=(",", ":")))
        print(f"wrote {FIXTURE.relative_to(REPO)} ({FIXTURE.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
