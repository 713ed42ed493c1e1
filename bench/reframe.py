"""The cost of vertical clips that follow the speaker, with burned-in captions, against a
plain re-encode of the same clip, in one run.

    .venv/bin/python -m bench.reframe [--rounds 3] [--height 360]

On the benchmark talk video (a moving test pattern with speech; ``bench.talk``), scaled to
``--height`` (360: 640x360, as before; 1080: 1920x1080, a common download), a 30 s clip:

* "plain": the clip as ``aspect=original, captions=files`` renders it (a re-encode at the
  source's size);
* "following": ``aspect=9:16, captions=burned``, the crop moved on every frame by sendcmd
  along a sweep (the pattern has no face, so the path is made up; its cost is the same),
  the ASS captions, one ffmpeg pass; at 1080x1920 (the default) and at the window's own
  pixels (``CLIPQUEUE_CLIP_SIZE=native``);
* "whole over blur": the frame fitted over a blurred fill, captions;
* "three stretches": a crop, the whole frame over blur, a crop again: the per-stretch
  layout (split, trim and concat in the one pass);
* the analysis alone (faces at 2 fps, changes of shot at the full frame rate), per minute.

Rounds alternate their order; medians are reported, as ratios to "plain" of the same run,
of wall time and of CPU time (ffmpeg's user + system): on a machine shared with other work,
the CPU time is the steadier of the two.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.talk import talk_video  # noqa: E402
from workers.pipeline.clips import tracking  # noqa: E402
from workers.pipeline.clips.framing import frame_for  # noqa: E402
from workers.pipeline.media import ffmpeg_binary, timeline  # noqa: E402
from workers.pipeline.steps.clip_generation import _video_filter, cut  # noqa: E402


def source(work: Path, height: int) -> tuple[Path, int, int]:
    src = talk_video(work / "talk.mp4", 90)
    if height == 360:
        return src, 640, 360
    width = height * 16 // 9
    scaled = work / f"talk-{height}.mp4"
    subprocess.run([ffmpeg_binary(), "-loglevel", "error", "-y", "-i", str(src), "-vf", f"scale={width}:{height}",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "250", "-c:a", "copy",
                    str(scaled)], check=True)
    return scaled, width, height


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--height", type=int, default=360, choices=(360, 720, 1080))
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="clipqueue-reframe-"))
    src, width, height = source(work, args.height)
    ffmpeg, line = ffmpeg_binary(), timeline(src)
    start, length = 40.0, args.seconds
    clip = {"start": start, "duration": length,
            "words": [{"word": f"word{i}", "start": start + i * 0.4, "end": start + i * 0.4 + 0.35}
                      for i in range(int(length / 0.4))]}
    frames = int(round(length * line.frame_rate))
    third = frames // 3

    def sweep(first: int, end: int) -> tracking.Stretch:
        return tracking.Stretch(first, end, tuple(0.66 * k / frames for k in range(first, end)))

    plans = {"following": [sweep(0, frames)], "whole over blur": [tracking.Stretch(0, frames, None)],
             "three stretches": [sweep(0, third), tracking.Stretch(third, 2 * third, None), sweep(2 * third, frames)]}
    renders = {"plain": None}
    for size in ("1080", "native"):
        frame = frame_for("9:16", width, height, size)
        for name, stretches in plans.items():
            if size == "native" and name != "following":
                continue
            folder = work / f"{name}-{size}".replace(" ", "-")
            folder.mkdir()
            renders[f"{name} ({frame.out_w}x{frame.out_h})"] = _video_filter(
                clip, frame, "burned", folder, stretches, line.frame_rate, width)
    times: dict[str, list[float]] = {name: [] for name in renders}
    cpu: dict[str, list[float]] = {name: [] for name in renders}
    for round_ in range(args.rounds):
        for name in (list(renders) if round_ % 2 == 0 else list(reversed(renders))):
            began, used = time.perf_counter(), _children_cpu()
            cut(ffmpeg, src, start, length, work / "out.mp4", True, video_filter=renders[name], line=line)
            times[name].append(time.perf_counter() - began)
            cpu[name].append(_children_cpu() - used)
    began = time.perf_counter()
    tracking.analyse(ffmpeg, src, 0.0, 60.0, width, height, tracking.haar_faces(), work)
    analysis = time.perf_counter() - began
    plain, plain_cpu = statistics.median(times["plain"]), statistics.median(cpu["plain"])
    print(f"{length:.0f} s clip, {width}x{height} source, median of {args.rounds}:")
    for name in times:
        value, used = statistics.median(times[name]), statistics.median(cpu[name])
        print(f"  {name:34s} wall {value:6.2f} s ({value / plain:5.2f}x)   cpu {used:6.2f} s ({used / plain_cpu:5.2f}x)")
    print(f"  analysis (faces at 2 fps, changes of shot per frame): {analysis:.2f} s per minute of video")
    return 0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
