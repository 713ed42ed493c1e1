"""Reframing that follows the speaker: where a tall (or square) crop window should be, moment
by moment, and the ffmpeg commands that move it.

* Detect: frames are decoded at ``SAMPLE_FPS`` (scaled down, grey) by ffmpeg, and the main
  face of each is found with OpenCV's Haar cascade (shipped in ``opencv-python-headless``
  4.x, loaded from the package: no download). The detector is a parameter, so a test can
  follow a synthetic target.
* Smooth: the window's centre moves only when the subject leaves a dead zone around it, and
  then at a bounded speed; it jumps only at a scene change (a large difference between two
  samples). No subject: it holds where it was, or stays centred if there never was one.
* Render: ``sendcmd`` feeds the crop's ``x`` ten times a second, interpolated between
  samples, inside the clip's one ffmpeg pass (``commands``).
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Callable, Sequence

SAMPLE_FPS = 2.0
DETECT_WIDTH = 320           # frames are scaled to this width for detection
DEAD_ZONE = 0.08             # of the source width: closer than this, the window stays
MAX_SPEED = 0.35             # of the source width per second
SCENE_CHANGE = 28.0          # mean absolute grey difference between samples that counts as a cut
COMMAND_HZ = 10.0

Detector = Callable[["object"], float | None]  # grey frame (numpy, DETECT_WIDTH wide) -> centre x in 0..1


@dataclass(frozen=True)
class Sample:
    t: float                 # seconds from the clip's start
    centre: float | None     # the subject's centre, 0..1 of the width, None when none was found
    cut: bool                # a scene change since the previous sample


def haar_faces() -> Detector:
    """The main (largest) face's centre, with OpenCV's bundled frontal-face cascade."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def detect(grey) -> float | None:
        faces = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        if len(faces) == 0:
            return None
        x, _, w, _ = max(faces, key=lambda f: f[2] * f[3])
        return (x + w / 2) / grey.shape[1]
    return detect


def sample(ffmpeg: str, src, start: float, duration: float, width: int, height: int,
           detector: Detector, fps: float = SAMPLE_FPS, on_abort=None) -> list[Sample]:
    """Decode the clip's frames at ``fps`` (grey, ``DETECT_WIDTH`` wide) and detect. The
    decode runs like every ffmpeg of a step (``media.run_tool``): it dies with the worker,
    and ``on_abort`` (a step's ``ctx.on_abort``) kills it when the step must stop."""
    import numpy as np

    from workers.pipeline.media import run_tool, timeline, video_input, video_timeline

    h = max(2, int(round(height * DETECT_WIDTH / width / 2)) * 2)
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", *video_input(src, start), "-t", f"{duration:.3f}",
            "-vf", f"{video_timeline(timeline(src))},fps={fps},scale={DETECT_WIDTH}:{h}", "-f", "rawvideo",
            "-pix_fmt", "gray", "-"]
    decoded = run_tool(args, timeout=600, on_abort=on_abort, text=False)
    if decoded.returncode != 0:
        raise subprocess.CalledProcessError(decoded.returncode, args, decoded.stdout, decoded.stderr)
    raw = decoded.stdout
    size = DETECT_WIDTH * h
    frames = [np.frombuffer(raw[i:i + size], dtype=np.uint8).reshape(h, DETECT_WIDTH)
              for i in range(0, len(raw) - size + 1, size)]
    samples, previous = [], None
    for n, frame in enumerate(frames):
        cut = previous is not None and float(np.abs(frame.astype(np.int16) - previous).mean()) > SCENE_CHANGE
        samples.append(Sample(n / fps, detector(frame), cut))
        previous = frame.astype(np.int16)
    return samples


def path(samples: Sequence[Sample], crop_fraction: float) -> list[tuple[float, float]]:
    """(t, left edge as a fraction of the width) for each sample: the smoothed window."""
    if not samples:
        return []
    lo, hi = 0.0, max(0.0, 1.0 - crop_fraction)
    clamp = lambda centre: min(hi, max(lo, centre - crop_fraction / 2))  # noqa: E731
    first = next((s.centre for s in samples if s.centre is not None), None)
    current = clamp(first if first is not None else 0.5)
    out, last_t = [], samples[0].t
    for s in samples:
        target = current if s.centre is None else clamp(s.centre)
        if s.cut:
            current = target  # a new shot: go there at once
        elif abs(target - current) > DEAD_ZONE:
            step = MAX_SPEED * (s.t - last_t)
            current += max(-step, min(step, target - current))
        out.append((s.t, current))
        last_t = s.t
    return out


def commands(points: Sequence[tuple[float, float]], source_width: int, crop_width: int,
             hz: float = COMMAND_HZ) -> str:
    """A ``sendcmd`` script moving the crop's x along ``points`` (linear between them)."""
    if not points:
        return ""
    span = max(0, source_width - crop_width)
    lines, end = [], points[-1][0]
    steps = int(end * hz) + 1
    j = 0
    for k in range(steps):
        t = k / hz
        while j + 1 < len(points) and points[j + 1][0] <= t:
            j += 1
        if j + 1 < len(points):
            (t0, a), (t1, b) = points[j], points[j + 1]
            left = a + (b - a) * (t - t0) / (t1 - t0) if t1 > t0 else b
        else:
            left = points[j][1]
        lines.append(f"{t:.2f} crop x {int(round(left * source_width)) if span else 0};")
    return "\n".join(lines) + "\n"
