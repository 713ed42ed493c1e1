"""Media facts from PyAV (the imageio-ffmpeg binary ships no ffprobe), and the ffmpeg binary."""
from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

from workers.queue.errors import PermanentError


@dataclass(frozen=True)
class MediaInfo:
    container: str
    duration: float
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None

    def as_dict(self) -> dict:
        return asdict(self)


NOT_MEDIA = "the URL did not lead to a playable audio or video file"
NOT_MEDIA_FILE = "the file is not a playable audio or video file"  # a local file or an upload: no URL


def probe(path: Path, *, not_media: str = NOT_MEDIA) -> MediaInfo:
    """Open ``path`` as media and read it to the end of its audio, so that a truncated or
    corrupt file fails here, with a clear cause, and not in a later step. ``not_media`` is
    what a file that is not media is called (``NOT_MEDIA_FILE`` for a local file or an upload)."""
    import av  # heavy: imported where needed

    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            if audio is None:
                raise PermanentError("no_audio", "the media has no audio track to transcribe")
            duration = _duration(container, audio)
            # A truncated file declares more audio than it holds. Compare with the audio
            # stream's own declared length: a video may rightly run longer than its sound.
            declared = float(audio.duration * audio.time_base) if audio.duration and audio.time_base else duration
            last = 0.0
            for packet in container.demux(audio):
                if packet.pts is not None and packet.time_base is not None:
                    last = max(last, float(packet.pts * packet.time_base))
            if declared > 5 and last < declared - max(2.0, 0.02 * declared):
                raise PermanentError("corrupt_media",
                                     f"the media file is truncated: audio stops at {last:.1f} s of {declared:.1f} s")
            return MediaInfo(
                container=container.format.name,
                duration=round(duration, 3),
                video_codec=video.codec_context.name if video else None,
                audio_codec=audio.codec_context.name,
                width=video.codec_context.width if video else None,
                height=video.codec_context.height if video else None,
            )
    except PermanentError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, IndexError, ValueError) as exc:
        raise PermanentError("not_media", not_media, details={"probe_error": str(exc)[:500]}) from None


def _duration(container, audio) -> float:
    if container.duration:
        return container.duration / 1_000_000
    if audio.duration and audio.time_base:
        return float(audio.duration * audio.time_base)
    return 0.0


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ffmpeg_binary(configured: str | None = None) -> str:
    """The configured ffmpeg (``settings.ffmpeg``, from CLIPQUEUE_FFMPEG), else the static
    one from imageio-ffmpeg."""
    if configured:
        return configured
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_tool(args: list[str], *, timeout: float, on_abort=None, text: bool = True):
    """Run an external tool (ffmpeg) so that it dies with this worker: on Linux the child
    asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG). A SIGKILLed worker
    would otherwise leave an orphan rendering a clip nobody will publish, competing for
    the CPU with the worker that took the job over.

    ``on_abort`` (a step's ``ctx.on_abort``): when the step must stop (cancelled, lease
    lost, past its deadline) the tool is terminated at once instead of running to its end.
    Returns a ``CompletedProcess``; raises ``subprocess.TimeoutExpired`` past ``timeout``."""
    import subprocess

    prctl = _prctl()  # looked up in the parent: the forked child only makes the call

    def die_with_parent() -> None:  # runs between fork and exec: keep it tiny
        prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL

    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text,
                            preexec_fn=die_with_parent if prctl is not None else None)

    def stop() -> None:
        if proc.poll() is None:
            proc.kill()  # ffmpeg's partial output is a temporary file: nothing to flush

    remove = on_abort(stop) if on_abort is not None else (lambda: None)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    finally:
        remove()
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def decode_audio_range(path: Path, start_s: float, end_s: float | None, *, ffmpeg: str,
                       sample_rate: int = 16_000, on_abort=None):
    """Mono float32 samples of ``path`` from ``start_s`` to ``end_s`` (None: to the end),
    decoded and resampled by ffmpeg: memory for this range only, however long the file.
    Sample 0 is ``start_s`` on the file's timeline (``audio_input``), so the transcript's
    times are the times the clips are cut at, whatever stream starts first."""
    import numpy as np

    inputs, chain = audio_input(path, start_s, timeline(path))
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", *inputs, "-af", chain]
    if end_s is not None:
        args += ["-t", f"{max(0.0, end_s - start_s):.6f}"]
    args += ["-vn", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"]
    result = run_tool(args, timeout=3600, on_abort=on_abort, text=False)
    if result.returncode != 0:
        raise PermanentError("not_media", "the audio could not be decoded",
                             details={"stderr": result.stderr.decode(errors="replace")[-2000:]})
    return np.frombuffer(result.stdout, dtype=np.float32).copy()  # writable, as the engines expect


@dataclass(frozen=True)
class Timeline:
    """Where a file's streams start on its timeline, the one ffmpeg cuts by (0 is the
    container's start; edit lists already applied), and the video's frame rate."""
    video_start: float | None
    audio_start: float | None
    fps: str = "30"  # exact, as ffmpeg reads it ("30000/1001")

    @property
    def frame_rate(self) -> float:
        num, _, den = self.fps.partition("/")
        return float(num) / float(den or 1)


def timeline(path: Path) -> Timeline:
    """The streams' start times and the frame rate, from the container's headers (no decode)."""
    import av

    def start(stream, base: float) -> float | None:
        if stream is None or stream.start_time is None or stream.time_base is None:
            return None
        return max(0.0, float(stream.start_time * stream.time_base) - base)

    with av.open(str(path)) as container:
        base = container.start_time / 1_000_000 if container.start_time else 0.0
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = (video.average_rate or video.guessed_rate) if video is not None else None
        fps = f"{rate.numerator}/{rate.denominator}" if rate and 1 <= float(rate) <= 120 else "30"
        return Timeline(start(video, base), start(audio, base), fps)


def video_input(path: Path, start: float) -> list[str]:
    """ffmpeg input options for the video from ``start``: its frames come out from 0;
    ``video_timeline`` puts them on the clip's timeline."""
    return ["-ss", f"{start:.6f}", "-an", "-sn", "-dn", "-i", str(path)]


def video_timeline(line: Timeline) -> str:
    """Filters that put a video input (``video_input``) on the clip's timeline: constant
    frame rate from 0, the first frame repeated while the video has not begun (a video that
    starts after its audio), the last one held if the video ends before the clip does."""
    return f"fps=fps={line.fps}:start_time=0,tpad=stop=-1:stop_mode=clone"


SEEK_MARGIN = 0.5  # s: before the video's first frame + this, the audio is not sought by input seek


def audio_input(path: Path, start: float, line: Timeline) -> tuple[list[str], str]:
    """(ffmpeg input options, audio filter) for the audio from ``start`` on the file's
    timeline, its first sample at 0, silence where the audio has not begun.

    Input seeking is fast but, in MP4, it seeks every stream to the video's keyframe: from
    before the video's first frame (a video that starts 0.85 s after its audio), it would
    drop the audio up to there. There, the audio is decoded from the file's start and
    trimmed instead (at most the first second or so of a file)."""
    pad = "aresample=async=1:first_pts=0"
    if line.video_start is None or start >= line.video_start + SEEK_MARGIN:
        return ["-ss", f"{start:.6f}", "-vn", "-sn", "-dn", "-i", str(path)], pad
    return ["-vn", "-sn", "-dn", "-i", str(path)], f"atrim=start={start:.6f},asetpts=PTS-{start:.6f}/TB,{pad}"


@functools.lru_cache(maxsize=1)
def _prctl():
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
