"""Output framing: the crop and size a clip gets for the requested aspect.

``original`` keeps the source frame. ``9:16``, ``1:1`` and ``4:5`` crop the largest window of
that shape out of the source (centred), then scale it so that the short side is usable on a
phone: the output height is the source height, kept between 720 and 1920 pixels.
Dimensions are even (H.264 with yuv420p needs it).
"""
from __future__ import annotations

from dataclasses import dataclass

ASPECTS = {"original": None, "9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5)}
CAPTIONS = ("files", "burned", "none")


@dataclass(frozen=True)
class Frame:
    crop_w: int
    crop_h: int
    crop_x: int
    crop_y: int
    out_w: int
    out_h: int

    def filter(self) -> str:
        """The ffmpeg filter that makes this frame from the source (centre crop, then scale)."""
        return f"crop={self.crop_w}:{self.crop_h}:{self.crop_x}:{self.crop_y},scale={self.out_w}:{self.out_h}"

    def over_blur(self) -> str:
        """The ffmpeg filter that fits the whole source into this frame over a blurred,
        zoomed copy of itself filling it (for a crop that has no subject to follow and
        would otherwise cut away what is on screen). The fill is blurred at a quarter of
        the size, then scaled up: the same softness for a fraction of the work."""
        w, h = self.out_w, self.out_h
        qw, qh = _even(w / 4), _even(h / 4)
        return (f"split=2[fill][fit];"
                f"[fill]scale={qw}:{qh}:force_original_aspect_ratio=increase,crop={qw}:{qh},boxblur=6:2,"
                f"scale={w}:{h}[blurred];"
                f"[fit]scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[whole];"
                f"[blurred][whole]overlay=(W-w)/2:(H-h)/2")


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def frame_for(aspect: str, width: int, height: int) -> Frame:
    """The crop and output size for ``aspect`` from a ``width`` x ``height`` source."""
    ratio = ASPECTS[aspect]
    if ratio is None:
        return Frame(width, height, 0, 0, _even(width), _even(height))
    rw, rh = ratio
    if width * rh >= height * rw:  # the source is wider than the target: crop its sides
        crop_h, crop_w = height, _even(height * rw / rh)
    else:  # taller: crop top and bottom
        crop_w, crop_h = width, _even(width * rh / rw)
    crop_w, crop_h = min(crop_w, width - width % 2), min(crop_h, height - height % 2)
    out_h = _even(min(1920, max(720, height)))
    out_w = _even(out_h * rw / rh)
    return Frame(crop_w, crop_h, (width - crop_w) // 2, (height - crop_h) // 2, out_w, out_h)
