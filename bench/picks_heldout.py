"""The offline picks on media the picker was not tuned on (issue 18: "judged on held-out
media you do not have, as an editor would").

    .venv/bin/python -m bench.picks_heldout [--before REF] [--write-clips]

Reads ``../shared/media`` (the Arakawa interview, 1990, which has no licence and so never
enters the repository, and the Night of the Living Dead scenes that are not in tests/media);
without it, it says so and stops. Every file is transcribed by the bundled tiny.en as
``bench.picks`` does (cached in bench/out/transcripts), picked offline (15-60 s, 5 clips)
and judged by ``bench/_picks_judge.py`` against the moments in
``bench/labels/heldout.json`` (committed before the picker ran on these files).

A **film** is also made at bench time: eleven scenes joined end to end with no gap (3.6
min, bench/out/heldout/film.wav), so the scene changes are known to the sample. A clip
that spans a scene change (by more than 0.3 s on both sides) breaks a rule: it glues two
scenes. The film's moments are its scenes' (from heldout.json, or bench/labels/picks.json
for the three scenes that are in tests/media), moved by each scene's offset.

The editor's scores (1-5, one line why; read aloud from bench/out/picks, see
docs/benchmarks.md) are in ``bench/labels/editor_scores.json``; a clip not scored there is
counted as unscored.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import _picks_judge as judge  # noqa: E402
from bench import picks  # noqa: E402

SHARED = next((p for p in (REPO.parent / "shared" / "media", REPO.parent.parent / "shared" / "media")
               if p.is_dir()), None)
OUT = REPO / "bench" / "out"
LABELS = {k: v for k, v in json.loads((REPO / "bench" / "labels" / "heldout.json").read_text()).items()
          if not k.startswith("_")}
BEFORE = "57586de"  # main before round 2 of the picks
FILM = ["15s_there_are_two_of_them_out_there", "8s_do_you_live_here", "45s_right_through_the_billboard",
        "10s_back_down_the_road", "12s_if_anything_should_try_to_break_in", "60s_i_dont_want_anyones_life_on_my_hands",
        "15s_donnie_asked_me_if_i_were_afraid", "10s_im_taking_the_girl_with_me", "30s_i_wont_open_this_door_again",
        "7s_theyre_afraid_of_fire", "5s_dont_worry_about_him"]
TOLERANCE_S = 0.3  # a clip's padding may reach past a scene change this far


def film() -> tuple[Path, list[tuple[str, float]], list[dict]]:
    """The film's wav, its scenes (name, offset) and its moments."""
    import numpy as np

    repo_labels = json.loads((REPO / "bench" / "labels" / "picks.json").read_text())
    parts, scenes, moments, t = [], [], [], 0.0
    for name in FILM:
        with wave.open(str(SHARED / "notld_1968" / f"{name}.wav")) as w:
            assert w.getframerate() == 16000 and w.getnchannels() == 1
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        labels = LABELS.get(f"notld_1968/{name}.wav", repo_labels.get(f"notld_1968/{name}.opus", []))
        moments += [{**x, "start": round(x["start"] + t, 2), "end": round(x["end"] + t, 2),
                     "why": f"{name}: {x['why']}"} for x in labels]
        parts.append(samples)
        scenes.append((name, t))
        t += len(samples) / 16000
    path = OUT / "heldout" / "film.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.concatenate(parts).tobytes())
    return path, scenes, moments


def glued(clip: dict, cuts: list[float]) -> list[str]:
    return [f"spans the scene change at {c:.1f} s" for c in cuts
            if clip["start"] < c - TOLERANCE_S and clip["end"] > c + TOLERANCE_S]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="the reference: ClipQueue at this git ref ('' for none)")
    parser.add_argument("--write-clips", action="store_true", help="write the clips to bench/out/picks/heldout/")
    args = parser.parse_args(argv)
    if SHARED is None:
        print("held-out picks: skipped (no ../shared/media beside the repository: the held-out media is not "
              "shipped)")
        return 0
    logging.disable(logging.INFO)
    path, scenes, moments = film()
    items = {name: picks.transcript(name, SHARED) for name in LABELS}
    items["film"] = picks.transcript(path.name, path.parent)
    labels = {**LABELS, "film": moments}
    cuts = [offset for _, offset in scenes[1:]]
    began = time.perf_counter()
    now = {name: picks.pick_now(item) for name, item in items.items()}
    print(f"(picked in {time.perf_counter() - began:.1f} s)")
    old = picks.pick_before(args.before, items) if args.before else {}
    scores = judge.editor_scores()
    rows = {}
    for name, item in items.items():
        rows[name] = {}
        for key, picked in (("now", now[name]), *((("before", old[name]),) if old else ())):
            row = picks.score(name, item, picked, labels[name])
            if name == "film":
                glue = [g for c in picked["clips"] for g in glued(c, cuts)]
                broken = sum(bool(glued(c, cuts) or judge.rule_breaks(c, [w for s in item["segments"]
                                                                          for w in s["words"]]))
                             for c in picked["clips"])
                row.update(breaking=broken, why=row["why"] + glue)
            row["editor"] = judge.editor_mean(scores, name, picked["clips"])
            rows[name][key] = row
    picks.table(rows, args.before or None)
    for name, row in rows.items():
        for why in row["now"]["why"] + row["now"]["titles"]:
            print(f"  {name}: {why}")
    if args.write_clips:
        summary = [picks.write_clips(name, items[name], now[name], "heldout") for name in items]
        if old:
            summary += [picks.write_clips(name, items[name], old[name], "heldout-before") for name in items]
        (OUT / "picks" / "heldout.md").write_text("# Held-out clips picked offline\n\n" + "\n\n".join(summary) + "\n")
        print(f"wrote the clips to {(OUT / 'picks').relative_to(REPO)}/heldout.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
