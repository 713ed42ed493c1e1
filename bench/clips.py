"""Clip rendering: ClipQueue's renderer (ffmpeg input seek + re-encode) vs moviepy's
``subclipped().write_videofile()`` on the same clips of the same source, in one run.

    .venv/bin/pip install -r requirements-bench.txt && .venv/bin/python -m bench.clips

Both encode H.264 + AAC with the same ffmpeg binary (imageio-ffmpeg), each at its own
defaults (ours: preset veryfast, CRF 23; moviepy: preset medium). Also reports how far
each output's duration is from the asked one. Target on the 2-core machine: ratio >= 1.7x.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.talk import MEDIA, talk_video  # noqa: E402
from workers.pipeline.media import ffmpeg_binary, probe  # noqa: E402
from workers.pipeline.steps.clip_generation import cut  # noqa: E402


def ours(src: Path, clips, out_dir: Path) -> list[Path]:
    outputs = []
    for n, (start, length) in enumerate(clips):
        out = out_dir / f"ours-{n}.mp4"
        cut(ffmpeg_binary(), src, start, length, out, has_video=True)
        outputs.append(out)
    return outputs


def moviepy(src: Path, clips, out_dir: Path) -> list[Path]:
    from moviepy import VideoFileClip

    outputs = []
    with VideoFileClip(str(src)) as video:
        for n, (start, length) in enumerate(clips):
            out = out_dir / f"moviepy-{n}.mp4"
            video.subclipped(start, start + length).write_videofile(
                str(out), codec="libx264", audio_codec="aac", logger=None)
            outputs.append(out)
    return outputs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=["autoeditor", "talk"], default="autoeditor",
                        help="autoeditor_example.mp4 (1280x720, real) or the generated 640x360 talk")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clipqueue-clips-") as tmp:
        tmp = Path(tmp)
        if args.source == "autoeditor":
            src = MEDIA / "autoeditor_example.mp4"
            clips = [(0.7, 8.0), (9.3, 7.5), (33.1, 9.0)]
        else:
            src = talk_video(tmp / "talk.mp4")
            clips = [(61.3, 30.0), (250.9, 30.0), (480.2, 30.0)]
        info = probe(src)
        print(f"source: {src.name}, {info.width}x{info.height}, {info.duration:.1f} s; "
              f"clips: {', '.join(f'{s:.1f}+{d:.1f}s' for s, d in clips)}")
        timings = {"clipqueue": [], "moviepy": []}
        outputs = {}
        for _ in range(args.rounds):  # alternate, so both see the same machine
            for name, render in (("clipqueue", ours), ("moviepy", moviepy)):
                started = time.perf_counter()
                outputs[name] = render(src, clips, tmp)
                timings[name].append(time.perf_counter() - started)
        best = {name: min(values) for name, values in timings.items()}
        print("\n| renderer | best of {} (s) | duration error (max, s) |\n|---|---|---|".format(args.rounds))
        for name in timings:
            error = max(abs(probe(p).duration - length) for p, (_, length) in zip(outputs[name], clips))
            print(f"| {name} | {best[name]:.2f} | {error:.3f} |")
        ratio = best["moviepy"] / best["clipqueue"]
        print(f"\nclipqueue is {ratio:.2f}x moviepy; target >= 1.7x: {'met' if ratio >= 1.7 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
