"""Output framing: the window and size a clip gets for the requested aspect, and the ffmpeg
filter that makes it, stretch by stretch.

``original`` keeps the source frame. ``9:16``, ``1:1`` and ``4:5`` take the largest window of
that shape from the source and scale it, with lanczos, to the size the platforms expect:
1080 px wide (1080x1920, 1080x1080, 1080x1350; ``CLIPQUEUE_CLIP_SIZE=1080``, the default),
or keep the window's own pixels (``native``: 608x1080 from a 1080p source). Dimensions are
even (H.264 with yuv420p needs it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASPECTS = {"original": None, "9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5)}
CAPTIONS = ("files", "burned", "none")
SIZES = ("1080", "native")
WIDTH = 1080  # the platforms' width for tall and square clips (Shorts, Reels, TikTok)


@dataclass(frozen=True)
class Frame:
    crop_w: int
    crop_h: int
    crop_x: int
    crop_y: int
    out_w: int
    out_h: int

    def filter(self, x: int | None = None, name: str = "") -> str:
        """Crop (at ``x``, else centred; ``name``: the crop's instance name, which a
        ``sendcmd`` addresses) and scale to the output size."""
        x = self.crop_x if x is None else x
        # exact: an odd x stays odd (by default ffmpeg rounds it down to the chroma grid: one
        # pixel off centre)
        crop = f"crop{'@' + name if name else ''}={self.crop_w}:{self.crop_h}:{x}:{self.crop_y}:exact=1"
        if (self.out_w, self.out_h) == (self.crop_w, self.crop_h):
            return crop
        return f"{crop},scale={self.out_w}:{self.out_h}:flags=lanczos"

    def over_blur(self, tag: str = "") -> str:
        """The ffmpeg filter that fits the whole source into this frame over a blurred,
        zoomed copy of itself filling it (for a stretch with no face to follow, where a crop
        would cut away what is on screen). The fill is blurred at a quarter of the size, then
        scaled up: the same softness for a fraction of the work. ``tag`` keeps the labels
        apart when several stretches are blurred in one graph."""
        w, h = self.out_w, self.out_h
        qw, qh = _even(w / 4), _even(h / 4)
        return (f"split=2[fill{tag}][fit{tag}];"
                f"[fill{tag}]scale={qw}:{qh}:force_original_aspect_ratio=increase,crop={qw}:{qh},boxblur=6:2,"
                f"scale={w}:{h}[blurred{tag}];"
                f"[fit{tag}]scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=lanczos,"
                f"setsar=1[whole{tag}];[blurred{tag}][whole{tag}]overlay=(W-w)/2:(H-h)/2")


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def frame_for(aspect: str, width: int, height: int, size: str = "1080") -> Frame:
    """The window and output size for ``aspect`` from a ``width`` x ``height`` source."""
    ratio = ASPECTS[aspect]
    if ratio is None:
        return Frame(width, height, 0, 0, _even(width), _even(height))
    rw, rh = ratio
    if width * rh >= height * rw:  # the source is wider than the target: crop its sides
        crop_h, crop_w = height, _even(height * rw / rh)
    else:  # taller: crop top and bottom
        crop_w, crop_h = width, _even(width * rh / rw)
    crop_w, crop_h = min(crop_w, width - width % 2), min(crop_h, height - height % 2)
    out_w, out_h = (crop_w, crop_h) if size == "native" else (WIDTH, _even(WIDTH * rh / rw))
    return Frame(crop_w, crop_h, (width - crop_w) // 2, (height - crop_h) // 2, out_w, out_h)


def chain(frame: Frame, stretches, fps: float, source_width: int, work: Path, whole: str = "blur") -> str:
    """The filter for a clip made of ``stretches`` (``tracking.plan``): each a crop moved by
    a ``sendcmd`` script written into ``work``, or the whole frame (``whole``: ``blur``, over
    a blurred fill; ``centre``, a centred crop). Several stretches are cut apart by frame
    number and joined again (``trim`` / ``concat``), so each frame goes through its own
    stretch's filter only, in the clip's one ffmpeg pass."""
    from workers.pipeline.clips.tracking import commands

    def one(n: int, stretch) -> str:
        if stretch.lefts is None:
            return (frame.over_blur(str(n)) if whole == "blur" else frame.filter()) + ",setsar=1"
        xs = {min(source_width - frame.crop_w, int(round(x * source_width))) for x in stretch.lefts}
        if len(xs) == 1:
            return frame.filter(xs.pop()) + ",setsar=1"
        script = work / f"follow-{n}.cmd"
        script.write_text(commands(stretch, fps, source_width, frame.crop_w, f"crop@follow{n}"))
        first = min(source_width - frame.crop_w, int(round(stretch.lefts[0] * source_width)))
        return f"sendcmd=f={escape(script)},{frame.filter(first, f'follow{n}')},setsar=1"

    if len(stretches) == 1:
        return one(0, stretches[0])
    parts = [f"split={len(stretches)}" + "".join(f"[s{n}]" for n in range(len(stretches)))]
    for n, s in enumerate(stretches):
        end = f":end_frame={s.end}" if n + 1 < len(stretches) else ""
        parts.append(f"[s{n}]trim=start_frame={s.first}{end},{one(n, s)},setpts=PTS-STARTPTS[o{n}]")
    return ";".join(parts) + ";" + "".join(f"[o{n}]" for n in range(len(stretches))) + \
        f"concat=n={len(stretches)}:v=1:a=0"


def escape(path: Path) -> str:
    """A path as one ffmpeg filter argument."""
    return str(path).replace("\\", "/").replace(":", "\\:").replace("'", "\\'").replace(",", "\\,")
