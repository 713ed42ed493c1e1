"""Reframing that follows the speaker and cuts with them: for each frame of a clip, where a
tall (or square) window sits, or whether the frame is shown whole.

* **Analyse** (``analyse``): one decode of the clip's stretch of the source, on the clip's
  timeline (``media.video_timeline``), with two outputs: grey frames ``DETECT_WIDTH`` wide
  at ``SAMPLE_FPS``, where faces are found with OpenCV's Haar cascade (shipped in
  ``opencv-python-headless``; no download), and tiny grey frames at the clip's full frame
  rate, whose differences put every change of shot on its exact frame.
* **Plan** (``plan``): the clip is split into stretches at every hard cut, and wherever the
  followed face changes between two samples: another face takes over, or it jumps more than
  ``JUMP`` of the width (then the change goes on the frame that differs most from the one
  before it, between those samples). A stretch whose face was seen in at least a third of
  its samples is a crop that starts on that face and moves only to follow the same person:
  when they leave a dead zone, at a bounded speed. A stretch with no face big enough to
  follow (a wide shot, an audience, slides) is shown whole, over a blurred fill
  (``framing.Frame.over_blur``), or centred, per ``CLIPQUEUE_NO_SUBJECT_FRAME``.
* The detector is a parameter, so a test can follow a synthetic target.
"""
from __future__ import annotations

import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

SAMPLE_FPS = 2.0
DETECT_WIDTH = 320    # frames are scaled to this width for detection (the smallest face: 24 px of it)
TINY_WIDTH = 64       # frames are scaled to this width to find changes of shot
DEAD_ZONE = 0.25      # of the window's width: a face closer than this to its centre does not move it
MAX_SPEED = 0.35      # of the source width per second
JUMP = 1 / 3          # of the source width: a move larger than this between two samples is a cut
CUT_MIN = 6.0         # mean grey difference (0-255) a cut makes at least ...
CUT_RATIO = 4.0       # ... and this many times the differences around it (fast motion is not a cut)
TAKEOVER = 1.5        # another face must be this much larger to take over from the followed one

Box = tuple[float, float]                  # a face: centre x and width, fractions of the frame's width
Detector = Callable[["object"], list[Box]]  # grey frame (numpy, DETECT_WIDTH wide) -> faces


@dataclass(frozen=True)
class Sample:
    t: float                 # seconds from the clip's start
    faces: tuple[Box, ...]
    sharpness: float = 0.0   # variance of the Laplacian: low for a blurred or flat frame
    mean: float = 128.0      # brightness, 0-255: a fade or a black frame is dark
    spread: float = 64.0     # standard deviation of the grey levels


@dataclass
class Analysis:
    samples: list[Sample]
    diffs: list[float]       # per frame: mean grey difference from the frame before (0 for the first)
    fps: float

    @property
    def frames(self) -> int:
        return len(self.diffs)


@dataclass(frozen=True)
class Stretch:
    first: int                          # its first frame
    end: int                            # one past its last frame
    lefts: tuple[float, ...] | None     # the window's left edge on each frame (0..1 of the width); None: whole


def haar_faces() -> Detector:
    """Faces with OpenCV's bundled frontal-face cascade, largest first."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def detect(grey) -> list[Box]:
        found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        width = grey.shape[1]
        return [((x + w / 2) / width, w / width) for x, _, w, _ in sorted(found, key=lambda f: -f[2] * f[3])]
    return detect


def analyse(ffmpeg: str, src, start: float, duration: float, width: int, height: int, detector: Detector,
            work: Path, on_abort=None) -> Analysis:
    """Decode the clip's frames once (``media.run_tool``: dies with the worker, killed by
    ``on_abort`` when the step must stop): detect faces at ``SAMPLE_FPS``, and measure each
    frame's difference from the one before at the clip's frame rate."""
    import cv2
    import numpy as np

    from workers.pipeline.media import run_tool, timeline, video_input, video_timeline

    line = timeline(src)
    dh = max(2, int(round(height * DETECT_WIDTH / width / 2)) * 2)
    th = max(2, int(round(height * TINY_WIDTH / width)))
    tiny = work / "frames.raw"
    graph = (f"[0:v:0]{video_timeline(line)},split=2[a][b];[a]fps={SAMPLE_FPS},scale={DETECT_WIDTH}:{dh},"
             f"format=gray[d];[b]scale={TINY_WIDTH}:{th}:flags=area,format=gray[c]")
    length = f"{duration:.6f}"
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *video_input(src, start), "-filter_complex", graph,
            "-map", "[d]", "-t", length, "-f", "rawvideo", "-", "-map", "[c]", "-t", length, "-f", "rawvideo",
            str(tiny)]
    decoded = run_tool(args, timeout=600, on_abort=on_abort, text=False)
    if decoded.returncode != 0:
        raise subprocess.CalledProcessError(decoded.returncode, args, decoded.stdout, decoded.stderr)
    size = DETECT_WIDTH * dh
    samples = []
    for n in range(len(decoded.stdout) // size):
        grey = np.frombuffer(decoded.stdout, np.uint8, size, n * size).reshape(dh, DETECT_WIDTH)
        samples.append(Sample(n / SAMPLE_FPS, tuple(detector(grey)), float(cv2.Laplacian(grey, cv2.CV_64F).var()),
                              float(grey.mean()), float(grey.std())))
    small = np.fromfile(tiny, np.uint8)
    small = small[:len(small) // (TINY_WIDTH * th) * TINY_WIDTH * th].reshape(-1, th, TINY_WIDTH).astype(np.int16)
    diffs = [0.0] + [float(d) for d in np.abs(np.diff(small, axis=0)).mean(axis=(1, 2))] if len(small) else []
    return Analysis(samples, diffs, line.frame_rate)


def hard_cuts(diffs: Sequence[float]) -> list[int]:
    """Frames that start a new shot: a difference from the frame before that is large, and
    large against the differences around it."""
    cuts = []
    for k in range(1, len(diffs)):
        around = list(diffs[max(1, k - 6):k]) + list(diffs[k + 1:k + 7])
        level = statistics.median(around) if around else 0.0
        if diffs[k] >= CUT_MIN and diffs[k] >= CUT_RATIO * (level + 1.0):
            cuts.append(k)
    return cuts


def _choose(faces: Sequence[Box], followed: Box | None) -> Box | None:
    """The face to follow: the one followed so far while it is there (near where it was) and
    no other is ``TAKEOVER`` times larger; else the largest."""
    if not faces:
        return None
    largest = max(faces, key=lambda f: f[1])
    if followed is None:
        return largest
    near = min(faces, key=lambda f: abs(f[0] - followed[0]))
    if abs(near[0] - followed[0]) <= max(near[1], followed[1]) and largest[1] < TAKEOVER * near[1]:
        return near
    return largest


def plan(analysis: Analysis, crop_fraction: float) -> list[Stretch]:
    """The clip as stretches of frames, each a followed crop or shown whole."""
    fps, frames, samples = analysis.fps, analysis.frames, analysis.samples
    if frames == 0:
        return []
    cuts = hard_cuts(analysis.diffs)
    starts, followed, current, prev = {0, *cuts}, [], None, 0
    for s in samples:
        at = min(frames - 1, int(round(s.t * fps)))
        if any(prev < k <= at for k in cuts):
            current = None  # a new shot: whoever is biggest now
        face = _choose(s.faces, current)
        moved = abs(face[0] - current[0]) if face is not None and current is not None else 0.0
        if moved and moved > min(JUMP, 2 * max(face[1], current[1])):
            # another face (not where the followed one was), or a jump: cut, on the frame
            # that changed most since the last sample
            between = range(prev + 1, at + 1)
            starts.add(max(between, key=lambda k: analysis.diffs[k]) if len(between) else at)
        followed.append((at, face))
        current, prev = face or current, at
    bounds = sorted(starts) + [frames]
    stretches = []
    for first, end in zip(bounds, bounds[1:]):
        inside = [(at, face) for at, face in followed if first <= at < end]
        if not inside and stretches:  # too short to hold a sample: part of the stretch before
            last = stretches.pop()
            stretches.append(Stretch(last.first, end, None if last.lefts is None else
                                     last.lefts + (last.lefts[-1],) * (end - last.end)))
            continue
        seen = [(at, face) for at, face in inside if face is not None]
        if not seen or len(seen) * 3 < len(inside):
            stretches.append(Stretch(first, end, None))
            continue
        stretches.append(Stretch(first, end, _follow(seen, first, end, fps, crop_fraction)))
    return stretches


def _follow(seen: list[tuple[int, Box]], first: int, end: int, fps: float, crop: float) -> tuple[float, ...]:
    """The window's left edge on each frame of ``first``..``end``: on the face from the
    first frame, moving only when it leaves the dead zone, at most ``MAX_SPEED``."""
    hi = max(0.0, 1.0 - crop)

    def clamp(centre: float) -> float:
        return min(hi, max(0.0, centre - crop / 2))
    room = max(0.0, (crop - max(w for _, (_, w) in seen)) / 2)  # how far off centre a face stays whole
    zone = max(0.01, min(DEAD_ZONE * crop, room * 0.75))
    current, last_at, points = clamp(seen[0][1][0]), seen[0][0], []
    for at, (x, _) in seen:
        target = clamp(x)
        if abs(target - current) > zone:
            step = MAX_SPEED * (at - last_at) / fps
            current += max(-step, min(step, target - current))
        points.append((at, current))
        last_at = at
    lefts, j = [], 0
    for k in range(first, end):
        while j + 1 < len(points) and points[j + 1][0] <= k:
            j += 1
        (a0, l0) = points[j]
        if j + 1 < len(points) and k > a0:
            a1, l1 = points[j + 1]
            lefts.append(l0 + (l1 - l0) * (k - a0) / (a1 - a0))
        else:
            lefts.append(l0)
    return tuple(lefts)


def commands(stretch: Stretch, fps: float, source_width: int, crop_width: int, target: str = "crop") -> str:
    """A ``sendcmd`` script setting ``target``'s (a crop's) x on each frame of ``stretch``
    where it changes (half a frame early, so it lands on that frame whatever the rounding)."""
    lines, last = [], None
    span = max(0, source_width - crop_width)
    for k, left in zip(range(stretch.first, stretch.end), stretch.lefts or ()):
        x = min(span, int(round(left * source_width)))
        if x != last:
            lines.append(f"{max(0.0, (k - 0.5) / fps):.4f} {target} x {x};")
            last = x
    return "\n".join(lines) + "\n"
