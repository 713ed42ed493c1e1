"""How well vertical clips frame the speaker, judged frame by frame on composed footage.

    .venv/bin/python -m bench.framing [--width 1280 --height 720] [--short] [--keep DIR]

``bench.faces`` composes a talk from two portraits (close-ups at different places, a cut
every few seconds, the same speaker moving, a wide shot where no face is big enough to
follow) and knows every frame's face boxes. The whole composition is rendered as one
``9:16`` clip by the product's ``clip_generation`` step, then every frame of the clip is
judged twice:

* **ground truth**: where the clip's window sits in the source is found by matching the
  picture against the source frame (a quarter-size search over every x; or the whole frame
  fitted over a fill, the blurred layout); the frame passes when the speaker's whole face
  box is inside that window (for a wide shot: when the whole frame is shown);
* **a different detector**: MediaPipe's BlazeFace (``bench.faces.BlazeFace``; the product uses
  a Haar cascade) finds a whole face inside the clip's picture.

Reported: the share of close-up frames whose whole face is in the picture (target >= 98 %),
the frames of empty background around each change of shot, from 0.5 s before it to 1 s
after (target <= 2), and the share of
wide-shot frames shown whole.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import faces  # noqa: E402
from workers.pipeline.media import ffmpeg_binary, probe  # noqa: E402

TOLERANCE = 4  # px of the source: the quarter-size search's precision


def render(source: Path, seconds: float, width: int, height: int, work: Path, aspect: str = "9:16",
           captions: str = "none", **settings) -> Path:
    """The product's clip_generation on ``source``: one clip of the whole file."""
    from workers.pipeline.steps import clip_generation
    from workers.pipeline.storage import LocalStorage, video_key
    from workers.queue.context import StepContext, Subject
    from workers.settings import Settings

    storage = LocalStorage(work / "storage")
    storage.put_file(video_key(1, "download", "source"), source)
    words = [{"word": f"word{i}", "start": i * 0.5, "end": i * 0.5 + 0.4, "space": True}
             for i in range(int(seconds / 0.5))]
    checkpoints = {"download": {"output": {"key": video_key(1, "download", "source"), "video_codec": "h264",
                                           "width": width, "height": height, "duration": seconds}},
                   "clip_lookup": {"output": {"clips": [{"rank": 1, "start": 0.0, "end": seconds,
                                                         "duration": seconds, "text": "x", "words": words}]}}}
    options = {"aspect": aspect, "captions": captions}
    video = Subject(1, "http://127.0.0.1/x", options, {s: c["output"] for s, c in checkpoints.items()})
    ctx = StepContext(step="clip_generation", checkpoints=checkpoints, options=options,
                      settings=Settings.from_env({}).replace(data_dir=work / "data", **settings),
                      services={"storage": storage})
    [clip] = clip_generation.run(video, ctx)["clips"]
    return storage.local_path(clip["files"]["media"])


def _frames(path: Path, width: int, height: int):
    """The clip's frames, BGR, ``width`` x ``height``, one at a time."""
    import numpy as np

    proc = subprocess.Popen([ffmpeg_binary(), "-loglevel", "error", "-i", str(path), "-vf",
                             f"scale={width}:{height}", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
                            stdout=subprocess.PIPE)
    size = width * height * 3
    try:
        while len(chunk := proc.stdout.read(size)) == size:
            yield np.frombuffer(chunk, np.uint8).reshape(height, width, 3)
    finally:
        proc.stdout.close()
        proc.wait()


def judge(clip: Path, width: int, height: int, fps: int, shots, crop_w: int) -> dict:
    """Judge every frame of ``clip`` (the whole composition, 9:16) against the truth."""
    import cv2
    import numpy as np

    info = probe(clip)
    view_h = 640
    view_w = int(round(info.width * view_h / info.height / 2)) * 2
    q_w, q_h, q_crop = width // 4, height // 4, max(1, round(crop_w / 4))
    band = int(round(view_w * height / width))
    detector = faces.BlazeFace()
    starts, n = [], 0
    for shot in shots:
        starts.append(n)
        n += int(round(shot.seconds * fps))
    shot_of = [i for i, shot in enumerate(shots) for _ in range(int(round(shot.seconds * fps)))]
    rows = []
    for k, (picture, (source, truth)) in enumerate(zip(_frames(clip, view_w, view_h),
                                                       faces.frames(width, height, fps, shots))):
        grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY).astype(np.int16)
        src = cv2.resize(cv2.cvtColor(source, cv2.COLOR_BGR2GRAY), (q_w, q_h), interpolation=cv2.INTER_AREA)
        src = src.astype(np.int16)
        window = cv2.resize(grey.astype(np.uint8), (q_crop, q_h), interpolation=cv2.INTER_AREA).astype(np.int16)
        errors = np.abs(np.lib.stride_tricks.sliding_window_view(src, (q_h, q_crop))[0] - window).mean(axis=(1, 2))
        top = (view_h - band) // 2
        fitted = cv2.resize(grey[top:top + band].astype(np.uint8), (q_w, q_h), interpolation=cv2.INTER_AREA)
        blur_error = float(np.abs(fitted.astype(np.int16) - src).mean())
        x = int(errors.argmin()) * 4
        layout = "blur" if blur_error < float(errors.min()) else "crop"
        shot = shots[shot_of[k]]
        if shot.wide:
            ok = layout == "blur"
        else:
            x0, _, x1, _ = truth[0][1]
            ok = layout == "blur" or (x0 >= x - TOLERANCE and x1 <= x + crop_w + TOLERANCE)
        # empty: no face even half in the window (captions over nothing)
        empty = layout == "crop" and not any(min(b[2], x + crop_w) - max(b[0], x) >= (b[2] - b[0]) / 2
                                             for _, b in truth)
        whole = any(b[0] >= 0 and b[1] >= 0 and b[2] <= view_w and b[3] <= view_h for b in detector.faces(picture))
        rows.append({"shot": shot_of[k], "wide": shot.wide, "layout": layout, "x": x, "ok": ok, "empty": empty,
                     "detected": whole})
    close = [r for r in rows if not r["wide"]]
    wide = [r for r in rows if r["wide"]]
    # around each change: from half a second before the cut (a window that leaves early) to
    # a second after it
    empty = [sum(r["empty"] for r in rows[max(0, b - fps // 2):b + fps]) for b in starts[1:]]
    return {"frames": len(rows), "expected_frames": n,
            "face_inside": sum(r["ok"] for r in close) / max(1, len(close)),
            "detected_inside": sum(r["detected"] for r in close) / max(1, len(close)),
            "wide_whole": sum(r["ok"] for r in wide) / max(1, len(wide)) if wide else None,
            "empty_after_change": empty, "rows": rows}


def measure(work: Path, width: int = 1280, height: int = 720, fps: int = 25, shots=faces.SHOTS,
            **settings) -> dict:
    """Compose, render as the product does, judge."""
    from workers.pipeline.clips.framing import frame_for

    source = work / "talk.mp4"
    faces.compose(source, width, height, fps, shots)
    seconds = sum(s.seconds for s in shots)
    clip = render(source, seconds, width, height, work, **settings)
    result = judge(clip, width, height, fps, shots, frame_for("9:16", width, height).crop_w)
    result["clip"] = clip
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--short", action="store_true", help="the CI-size composition")
    parser.add_argument("--keep", type=Path, help="keep the source and the clip in this folder")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="clipqueue-framing-"))
    work.mkdir(parents=True, exist_ok=True)
    shots = faces.SHORT if args.short else faces.SHOTS
    r = measure(work, args.width, args.height, shots=shots)
    print(f"{len(shots)} shots, {r['frames']} frames ({r['expected_frames']} composed), "
          f"{args.width}x{args.height} -> 9:16 ({r['clip']})")
    print(f"  whole face inside the picture (ground truth)   {100 * r['face_inside']:6.2f} %  (target >= 98 %)")
    print(f"  whole face found inside by BlazeFace           {100 * r['detected_inside']:6.2f} %")
    if r["wide_whole"] is not None:
        print(f"  wide-shot frames shown whole                   {100 * r['wide_whole']:6.2f} %")
    print(f"  frames of empty background at each change     {r['empty_after_change']}  "
          f"(max {max(r['empty_after_change'])}, target <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
