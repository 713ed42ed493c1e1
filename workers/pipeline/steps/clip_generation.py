"""clip_generation: exact cuts with ffmpeg, plus captions and a thumbnail per clip.

* Input seek + re-encode (H.264 + AAC, ``+faststart``): frame-exact starts and no A/V
  desync, unlike stream copy or moviepy. Video and audio are sought on separate inputs and
  put on the clip's timeline (``media.video_input`` / ``audio_input``), so both begin at the
  claimed time and last the claimed length, whichever stream starts first in the file.
  Audio-only sources give AAC (.m4a) clips.
* Clips render in parallel, up to CLIPQUEUE_RENDER_PARALLEL at once; each file is written
  under a temporary name and published atomically by the storage.
* Per-file checkpoints: each file is published to storage as soon as it is made, and only
  missing files are made, so a crash after clip 3 of 5 renders only clips 4 and 5, and a
  crash between a clip's cut and its thumbnail does not cut it again.
* Captions: SRT and WebVTT from the word timestamps, re-based to the clip's start
  (``workers.pipeline.clips.captions``); ``captions: burned`` also draws them into the
  picture (ASS, the spoken word highlighted), ``none`` makes no caption files.
* Aspect: ``original``, or ``9:16`` / ``1:1`` / ``4:5`` 1080 px wide (or the window's own
  pixels, CLIPQUEUE_CLIP_SIZE=native; ``clips.framing``). A window that cuts the sides
  follows the speaker and cuts with them, stretch by stretch; a stretch with no face big
  enough to follow is the whole frame over a blurred fill (CLIPQUEUE_NO_SUBJECT_FRAME=blur,
  the default) or a centre crop (``centre``) (``clips.tracking``), all in the same single
  ffmpeg pass as the cut and the captions.
* Thumbnail: a frame of the rendered clip, chosen from the analysis (``clips.thumbnails``).
* Deadline: 120 s + CLIPQUEUE_RENDER_TIMEOUT_FACTOR x the clips' total length. Past it, or
  on cancellation or a lost lease, the running ffmpeg is killed and nothing more is published.
"""
from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from workers.pipeline.clips.captions import FONTS, ass, srt, vtt
from workers.pipeline.clips import framing, thumbnails, tracking
from workers.pipeline.clips.framing import frame_for
from workers.queue.errors import PermanentError
from workers.pipeline.media import (Timeline, audio_input, ffmpeg_binary, run_tool, timeline, video_input,
                                    video_timeline)
from workers.pipeline.storage import video_key

STEP = "clip_generation"


def run(video, ctx) -> dict:
    settings, storage = ctx.settings, ctx.services["storage"]
    source = ctx.output_of("download")
    clips = ctx.output_of("clip_lookup")["clips"]
    has_video = bool(source.get("video_codec"))
    aspect = video.options.get("aspect", "original")
    captions = video.options.get("captions", "files")
    size = settings.clip_size
    frame = frame_for(aspect, source["width"], source["height"], size) if has_video and source.get("width") else None
    src_path = storage.local_path(source["key"])
    ffmpeg = ffmpeg_binary(settings.ffmpeg)
    line = timeline(src_path)
    done = [0]
    total = sum(c["duration"] for c in clips)
    ctx.set_deadline(120 + settings.render_timeout_factor * total,
                     f"rendering {total:.0f} s of clips took over 120 s + {settings.render_timeout_factor:g} x that")

    def render(clip: dict) -> dict:
        # The render options are in the name (defaults aside), so a video made again with
        # other ones (process, rerun_from) never takes a file made with the old ones for done.
        stem = f"clip-{clip['rank']:02d}-{int(clip['start'] * 1000)}-{int(clip['end'] * 1000)}" + "".join(
            tag for tag, on in ((f"-{aspect.replace(':', 'x')}", has_video and aspect != "original"),
                                ("-burned", has_video and captions == "burned")) if on)
        keys = {"media": video_key(video.id, STEP, stem + (".mp4" if has_video else ".m4a"))}
        if captions != "none":
            keys["srt"] = video_key(video.id, STEP, stem + ".srt")
            keys["vtt"] = video_key(video.id, STEP, stem + ".vtt")
        if has_video:
            keys["thumbnail"] = video_key(video.id, STEP, stem + ".jpg")
        rendered = False
        if not all(storage.exists(k) for k in keys.values()):
            # Each file is published as soon as it exists, and only missing ones are made:
            # a crash between two files never throws a finished render away.
            with tempfile.TemporaryDirectory(prefix="clip-") as tmp:
                work = Path(tmp)
                have_media = storage.exists(keys["media"])
                need_thumb = has_video and not storage.exists(keys["thumbnail"])
                analysis = _analyse(ffmpeg, src_path, clip, source, ctx, work) if frame is not None and (
                    need_thumb or not have_media) else None
                out = work / Path(keys["media"]).name
                if not have_media:
                    stretches = _stretches(analysis, frame, source.get("width") or 0)
                    chain = _video_filter(clip, frame, captions, work, stretches, analysis.fps if analysis else 25.0,
                                          source.get("width") or 0, settings.no_subject_frame)
                    cut(ffmpeg, src_path, clip["start"], clip["duration"], out, has_video, ctx, chain, line)
                    ctx.raise_if_cancelled()  # a stopped attempt publishes nothing more
                    storage.put_file(keys["media"], out)
                    rendered = True
                if need_thumb:
                    thumb = work / "thumb.jpg"
                    at = thumbnails.best_time(analysis, clip["duration"])
                    thumbnail(ffmpeg, out if rendered else storage.local_path(keys["media"]), at, thumb, ctx)
                    ctx.raise_if_cancelled()
                    storage.put_file(keys["thumbnail"], thumb)
                if captions != "none":
                    storage.put_bytes(keys["srt"], srt(clip).encode())
                    storage.put_bytes(keys["vtt"], vtt(clip).encode())
        done[0] += 1
        ctx.report_progress(done[0] / len(clips))
        return {"rank": clip["rank"], "start": clip["start"], "end": clip["end"], "duration": clip["duration"],
                "title": clip.get("title"), "hook": clip.get("hook"), "reason": clip.get("reason"),
                "score": clip.get("score"), "text": clip["text"], "files": keys, "rendered_now": rendered,
                **({"band_note": clip["band_note"]} if clip.get("band_note") else {})}

    with ThreadPoolExecutor(max_workers=max(1, settings.render_parallel)) as pool:
        results = list(pool.map(render, clips))
    keys = [k for r in results for k in r["files"].values()]
    public = [{k: v for k, v in r.items() if k != "rendered_now"} for r in results]
    return {"clips": results, "rendered": sum(r["rendered_now"] for r in results), "storage_keys": keys,
            "result": {"clips": public}}


def _analyse(ffmpeg: str, src: Path, clip: dict, source: dict, ctx, work: Path) -> tracking.Analysis:
    """The clip's faces, changes of shot and frame qualities (``clips.tracking.analyse``)."""
    detector = ctx.services.get("subject_detector") or tracking.haar_faces()
    analysis = tracking.analyse(ffmpeg, src, clip["start"], clip["duration"], source["width"], source["height"],
                                detector, work, on_abort=ctx.on_abort)
    ctx.raise_if_cancelled()
    return analysis


def _stretches(analysis, frame, source_width: int) -> list | None:
    """For a window that cuts the sides: the clip's stretches (``tracking.plan``), each a
    crop that follows and cuts with the speaker, or the whole frame."""
    if analysis is None or frame is None or frame.crop_w >= source_width - 1:
        return None
    return tracking.plan(analysis, frame.crop_w / source_width) or None


def _video_filter(clip: dict, frame, captions: str, work: Path, stretches=None, fps: float = 25.0,
                  source_width: int = 0, whole: str = "blur") -> str | None:
    """The one ffmpeg filter chain of a clip: the window, stretch by stretch when it follows
    the speaker (``framing.chain``; ``whole``: a stretch without a face over a blurred fill,
    or centred), else fixed; then the captions burned in (ASS, the font from
    ``clips/fonts``)."""
    if frame is None:
        return None
    chain = [] if frame.crop_w == frame.out_w and frame.crop_x == 0 and frame.crop_y == 0 else [frame.filter()]
    if stretches:
        chain = [framing.chain(frame, stretches, fps, source_width, work, whole)]
    if captions == "burned":
        script = work / "captions.ass"
        script.write_text(ass(clip, frame.out_w, frame.out_h))
        chain.append(f"ass={framing.escape(script)}:fontsdir={framing.escape(FONTS)}")
    return ",".join(chain) or None


def cut(ffmpeg: str, src: Path, start: float, duration: float, out: Path, has_video: bool, ctx=None,
        video_filter: str | None = None, line: Timeline | None = None) -> None:
    """Cut ``duration`` s from ``start`` (on the file's timeline, the transcript's) and
    encode it: audio and video both begin at ``start`` and last ``duration``, whichever
    stream starts first in the file (``media.video_input`` / ``audio_input``)."""
    line = line or timeline(src)
    audio_args, audio_chain = audio_input(src, start, line)
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y"]
    if has_video:
        chain = video_timeline(line) + (f",{video_filter}" if video_filter else "")
        args += [*video_input(src, start), *audio_args, "-filter_complex",
                 f"[0:v:0]{chain}[v];[1:a:0]{audio_chain},apad[a]", "-map", "[v]", "-map", "[a]",
                 "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
    else:
        args += [*audio_args, "-filter_complex", f"[0:a:0]{audio_chain},apad[a]", "-map", "[a]"]
    args += ["-t", f"{duration:.6f}", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(out)]
    _ffmpeg(args, ctx)


def thumbnail(ffmpeg: str, clip: Path, at: float, out: Path, ctx=None) -> None:
    """The clip's frame at ``at`` s as a JPEG: its own aspect and size, as it plays."""
    _ffmpeg([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{at:.3f}", "-i", str(clip),
             "-frames:v", "1", "-q:v", "3", str(out)], ctx)


def _ffmpeg(args: list[str], ctx=None) -> None:
    """Run ffmpeg; with a step's ``ctx``, not once the step must stop, and killed if it must
    stop meanwhile (then the stop's reason is raised, not ffmpeg's exit status)."""
    if ctx is not None:
        ctx.raise_if_cancelled()
    result = run_tool(args, timeout=3600, on_abort=ctx.on_abort if ctx is not None else None)
    if ctx is not None:
        ctx.raise_if_cancelled()
    if result.returncode != 0:
        raise PermanentError("render_failed", "ffmpeg could not cut a clip from the media",
                             details={"stderr": result.stderr[-2000:], "args": args[1:]})
