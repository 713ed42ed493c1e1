"""The cost of vertical clips that follow the speaker, with burned-in captions, against
today's plain re-encode of the same clip, in one run.

    .venv/bin/python -m bench.reframe [--rounds 3]

On the benchmark talk video (640x360, a moving test pattern; ``bench.talk``), a 30 s clip:
"plain" is the clip as ``aspect=original, captions=files`` renders it; "following" is
``aspect=9:16, captions=burned`` with face detection at 2 fps (Haar, real) and the crop
moved by sendcmd along a path that sweeps the frame (the pattern has no face, so the path
is made up; its cost is the same), the ASS captions, one ffmpeg pass; "blur" is what the
same request renders for this face-less source: detection, then the whole frame over a
blurred fill. Rounds alternate; medians are reported, as ratios (target <= 2.5x). Also:
face detection time per minute of video.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.talk import talk_video  # noqa: E402
from workers.pipeline.clips import tracking  # noqa: E402
from workers.pipeline.clips.framing import frame_for  # noqa: E402
from workers.pipeline.media import ffmpeg_binary  # noqa: E402
from workers.pipeline.steps.clip_generation import NO_SUBJECT, _follow, _video_filter, cut  # noqa: E402


class _Ctx:
    """What ``_follow`` asks of a step's context: nothing to inject, nothing to stop."""
    services: dict = {}
    on_abort = None

    def raise_if_cancelled(self):
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="clipqueue-reframe-"))
    src = talk_video(work / "talk.mp4", 120)
    ffmpeg = ffmpeg_binary()
    start, length = 40.0, args.seconds
    clip = {"start": start, "duration": length,
            "words": [{"word": f"word{i}", "start": start + i * 0.4, "end": start + i * 0.4 + 0.35}
                      for i in range(int(length / 0.4))]}
    source = {"width": 640, "height": 360}
    frame = frame_for("9:16", 640, 360)
    sweep = work / "sweep.cmd"
    sweep.write_text(tracking.commands([(t, 0.66 * t / length) for t in range(int(length) + 1)], 640, frame.crop_w))
    times: dict[str, list[float]] = {"plain": [], "following": [], "blur": []}
    for round_ in range(args.rounds):
        order = list(times) if round_ % 2 == 0 else list(reversed(times))
        for kind in order:
            out = work / f"{kind}-{round_}.mp4"
            began = time.perf_counter()
            if kind == "plain":
                cut(ffmpeg, src, start, length, out, True)
            else:
                moves = _follow(ffmpeg, src, clip, frame, source, _Ctx(), work)
                assert moves is NO_SUBJECT  # the test pattern has no face
                chain = (_video_filter(clip, frame, "burned", work, sweep) if kind == "following"
                         else _video_filter(clip, frame, "burned", work, None, "blur"))
                cut(ffmpeg, src, start, length, out, True, video_filter=chain)
            times[kind].append(time.perf_counter() - began)
    began = time.perf_counter()
    tracking.sample(ffmpeg, src, 0.0, 60.0, 640, 360, tracking.haar_faces())
    detect = time.perf_counter() - began
    p, f, b = (statistics.median(times[k]) for k in ("plain", "following", "blur"))
    print(f"{length:.0f} s clip, 640x360 source, median of {args.rounds}:")
    print(f"  plain re-encode (original, caption files)              {p:6.2f} s")
    for label, value in (("9:16, following the face, captions burned in", f),
                         ("9:16, no face: whole frame over blur, captions", b)):
        print(f"  {label:54s} {value:6.2f} s   ratio {value / p:.2f}x "
              f"(target <= 2.5x: {'met' if value / p <= 2.5 else 'NOT met'})")
    print(f"  face detection (2 fps sampling): {detect:.2f} s per minute of video")
    return 0


if __name__ == "__main__":
    sys.exit(main())
