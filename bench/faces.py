"""Talking-head footage for the framing measure, composed at run time, and a second face
detector to judge the result by.

* **Footage.** Two public-domain portraits ship in ``tests/media/faces/`` (Eileen Collins,
  NASA, from scikit-image's data; Grace Hopper, US Navy, from matplotlib's sample data; see
  ``tests/media/SOURCES.md``). ``compose`` cuts them out with a soft oval, places them on a
  studio backdrop shot by shot (a close-up of one speaker at a given place, the same speaker
  moving, a wide shot where both are too small to follow), and encodes the result with a
  tone as H.264 + AAC. Since we place the faces, every frame's face boxes are known: the
  ground truth comes back with the file.
* **Judge.** ``BlazeFace``: MediaPipe's short-range face detector (a small CNN, Apache-2.0),
  its weights taken from the ``mediapipe`` 0.10.21 wheel into ``tests/data/blazeface/``, run
  by OpenCV's DNN module (its TFLite reader). The product follows faces with a Haar cascade;
  the judge shares nothing with it.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from workers.pipeline.media import ffmpeg_binary

REPO = Path(__file__).resolve().parent.parent
FACES = REPO / "tests" / "media" / "faces"
BLAZEFACE = REPO / "tests" / "data" / "blazeface" / "face_detection_short_range.tflite"


@dataclass(frozen=True)
class Person:
    file: str
    face: tuple[int, int, int, int]  # the whole face (hair line to chin, ear to ear) in the file's pixels


PEOPLE = {"collins": Person("astronaut.jpg", (70, 52, 180, 168)), "hopper": Person("hopper.jpg", (42, 60, 262, 292))}


@dataclass(frozen=True)
class Shot:
    seconds: float
    people: tuple[tuple[str, float, float], ...]  # (who, face centre x as 0..1 of the width, face height 0..1)
    drift: float = 0.0                            # the faces' move, in widths per second

    @property
    def wide(self) -> bool:
        return all(height < 0.12 for _, _, height in self.people)


CLOSE = 0.34  # a close-up's face height, of the frame's
WIDE = 0.07   # a wide shot's: too small to follow
SHOTS = (
    Shot(3.0, (("collins", 0.25, CLOSE),)),
    Shot(3.0, (("hopper", 0.74, CLOSE),)),                      # another speaker, far right
    Shot(2.5, (("collins", 0.62, CLOSE),)),                     # back, at another place
    Shot(4.0, (("collins", 0.62, CLOSE),), drift=-0.08),        # the same speaker walks left: a pan
    Shot(3.0, (("collins", 0.3, WIDE), ("hopper", 0.7, WIDE))),  # wide: both too small
    Shot(3.0, (("hopper", 0.5, CLOSE),)),
    Shot(3.0, (("hopper", 0.15, CLOSE),)),                      # the same speaker, a jump of 0.35
    Shot(3.0, (("collins", 0.8, CLOSE),)),
)
SHORT = (SHOTS[0], SHOTS[1], SHOTS[4], SHOTS[6], SHOTS[7])      # the CI-size composition


Truth = list[list[tuple[str, tuple[float, float, float, float]]]]  # per frame: (who, face box in px)


def _backdrop(width: int, height: int):
    import numpy as np

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 70 + 60 * (y / height)[..., None] * np.array([0.6, 0.8, 1.0], np.float32)
    blobs = 25 * np.sin(x / width * 7.0)[..., None] * np.cos(y / height * 3.0)[..., None] * np.array([1, 0.7, 0.4])
    return np.clip(base + blobs, 0, 255).astype(np.float32)


def _cutout(person: Person, face_height: float, height: int):
    """The portrait scaled so its face is ``face_height`` of the frame, with a soft oval
    alpha; and the face box in the scaled portrait's pixels."""
    import cv2
    import numpy as np

    image = cv2.imread(str(FACES / person.file))
    x0, y0, x1, y1 = person.face
    scale = face_height * height / (y1 - y0)
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA).astype(np.float32)
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h * 0.45) / (h * 0.55)) ** 2
    alpha = np.clip((1.0 - r) / 0.15, 0.0, 1.0)[..., None]
    return image, alpha, (x0 * scale, y0 * scale, x1 * scale, y1 * scale)


def frames(width: int, height: int, fps: int, shots=SHOTS):
    """(frame as BGR uint8, [(who, face box)]) for each frame of the composition, in order."""
    import numpy as np

    backdrop = _backdrop(width, height)
    for shot in shots:
        cutouts = [(who, cx, *_cutout(PEOPLE[who], fh, height)) for who, cx, fh in shot.people]
        for k in range(int(round(shot.seconds * fps))):
            picture, truth = backdrop.copy(), []
            for who, cx, image, alpha, (fx0, fy0, fx1, fy1) in cutouts:
                centre_x = (cx + shot.drift * k / fps) * width
                left = int(round(centre_x - (fx0 + fx1) / 2))
                top = int(round(0.42 * height - (fy0 + fy1) / 2))
                h, w = image.shape[:2]
                a0, b0 = max(0, -top), max(0, -left)
                a1, b1 = min(h, height - top), min(w, width - left)
                region = picture[top + a0:top + a1, left + b0:left + b1]
                mask = alpha[a0:a1, b0:b1]
                region[:] = region * (1 - mask) + image[a0:a1, b0:b1] * mask
                truth.append((who, (left + fx0, top + fy0, left + fx1, top + fy1)))
            yield picture.astype(np.uint8), truth


def compose(out: Path, width: int = 1280, height: int = 720, fps: int = 25, shots=SHOTS) -> Truth:
    """Encode the composition to ``out`` (H.264 + AAC, a 2 s GOP as many downloads have) and
    return its ground truth: each frame's faces."""
    seconds = sum(s.seconds for s in shots)
    proc = subprocess.Popen([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
                             "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
                             "-f", "lavfi", "-i", f"sine=f=220:d={seconds}", "-c:v", "libx264", "-preset", "veryfast",
                             "-crf", "20", "-g", str(2 * fps), "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                             str(out)], stdin=subprocess.PIPE)
    truth: Truth = []
    try:
        for picture, faces in frames(width, height, fps, shots):
            proc.stdin.write(picture.tobytes())
            truth.append(faces)
    finally:
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError("ffmpeg could not encode the composition")
    return truth


class BlazeFace:
    """MediaPipe's short-range BlazeFace through OpenCV's DNN: ``faces(bgr)`` gives boxes
    (x0, y0, x1, y1, score) in the picture's pixels, score > 0.5, overlaps suppressed."""

    def __init__(self, path: Path = BLAZEFACE):
        import cv2
        import numpy as np

        self.net = cv2.dnn.readNetFromTFLite(str(path))
        centres = []
        for stride, per_cell in ((8, 2), (16, 6)):  # the model's SSD anchors: 16x16x2 + 8x8x6 = 896
            cells = 128 // stride
            centres += [((x + 0.5) / cells, (y + 0.5) / cells)
                        for y in range(cells) for x in range(cells) for _ in range(per_cell)]
        self.anchors = np.array(centres, dtype=np.float32)

    def faces(self, bgr) -> list[tuple[float, float, float, float, float]]:
        import cv2
        import numpy as np

        h, w = bgr.shape[:2]
        side = max(h, w)  # letterboxed to a square, as MediaPipe does
        square = np.zeros((side, side, 3), np.uint8)
        oy, ox = (side - h) // 2, (side - w) // 2
        square[oy:oy + h, ox:ox + w] = bgr
        rgb = cv2.cvtColor(cv2.resize(square, (128, 128), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        self.net.setInput((rgb.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None].copy())
        logits, boxes = self.net.forward(["classificators", "regressors"])
        scores = 1 / (1 + np.exp(-np.clip(logits.reshape(-1), -80, 80)))
        boxes = boxes.reshape(-1, 16)
        found: list[tuple[float, float, float, float, float]] = []
        for i in sorted(np.nonzero(scores > 0.5)[0], key=lambda i: -scores[i]):
            cx, cy = boxes[i, 0] / 128 + self.anchors[i, 0], boxes[i, 1] / 128 + self.anchors[i, 1]
            bw, bh = boxes[i, 2] / 128, boxes[i, 3] / 128
            box = ((cx - bw / 2) * side - ox, (cy - bh / 2) * side - oy, (cx + bw / 2) * side - ox,
                   (cy + bh / 2) * side - oy, float(scores[i]))
            if all(_overlap(box, other) < 0.3 for other in found):
                found.append(box)
        return found


def _overlap(a, b) -> float:
    """Intersection over the area of ``a``."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return iw * ih / max(1e-9, (a[2] - a[0]) * (a[3] - a[1]))
