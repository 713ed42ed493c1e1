"""The guarded downloader: yt-dlp as a library, every connection through the SSRF guard.

* Probe first: a HEAD (through yt-dlp's networking, so each redirect hop is guarded) finds
  direct media files; anything else goes through ``extract_info(download=False)``. Live
  streams, playlists, unsupported protocols and media over the duration or size caps fail
  permanently before a byte of media is fetched; so does a disk without room for it
  (``disk_full``, transient).
* Resume: the output path is stable per video, with ``.part`` files, so a retried download
  (yt-dlp's own retries, or a later job-level retry) continues with an HTTP Range request.
* Every connection -- the HEAD probe, each redirect hop, extractor pages, the GET, HLS/DASH
  manifests and segments -- goes through the guard at connect time (``connections``), to
  the very address that was checked; yt-dlp's native downloaders only: a stream it would hand
  to an external ffmpeg, aria2c, curl... (HLS with SAMPLE-AES, say) fails permanently
  (``programs``), whether or not that program is installed.
  yt-dlp follows redirects itself; the guard sees every hop because every hop connects.
* A deadline: the download must receive CLIPQUEUE_DOWNLOAD_MIN_RATE_KBPS over every
  CLIPQUEUE_DOWNLOAD_STALL_S window; past it (or on cancellation or a lost lease) its
  sockets are shut and it stops with ``step_timeout`` (or is cancelled).
* Errors are classified (``classify``): unsupported URL, 404/410, 401/403, private/removed,
  not media -> permanent; connection drops, timeouts, 5xx, 429 -> transient.
"""
from __future__ import annotations

import logging
from pathlib import Path

from workers.pipeline.fetcher.classify import classify
from workers.pipeline.fetcher.connections import GuardedConnections, guard_error, install
from workers.pipeline.fetcher.guard import Guard, UrlRejected, guard_for
from workers.pipeline.fetcher.programs import JS_RUNTIMES
from workers.queue.errors import PermanentError, TransientError

log = logging.getLogger(__name__)


def check_free_space(work: Path, size: int | None, settings) -> None:
    """Refuse to start a download the disk cannot take: ``disk_full``, retried later (space
    may be freed by then), before a byte is fetched."""
    import shutil

    free = shutil.disk_usage(work).free
    needed = (size or 0) + settings.min_free_mb * 1024 * 1024
    if free < needed:
        raise TransientError("disk_full", "the server is short of disk space; retrying later",
                             details={"free_bytes": free, "needed_bytes": needed, "path": str(work)})


def check_duration(duration: float | None, settings) -> None:
    if duration and duration > settings.max_duration_s:
        raise PermanentError("too_long", f"the video is {duration / 60:.0f} min long; the limit is "
                                         f"{settings.max_duration_s / 60:.0f} min")


def fetch(url: str, work: Path, settings, ctx) -> tuple[Path, str | None]:
    """Download ``url`` into ``work`` (resuming a ``.part`` file there); return the path.
    Every connection goes through the guard (``ytdlp_net``); a stalled, cancelled or
    lease-less download is broken off by ``ctx.abort`` within a heartbeat tick."""
    import yt_dlp  # heavy: imported where needed
    from yt_dlp.networking.exceptions import RequestError

    guard = guard_for(settings, ctx.services)
    # Again at download time (DNS may have changed since the URL was submitted): a clear
    # error before any connection. The authoritative check is at each connection.
    _guard(url, guard)

    max_bytes = int(settings.max_filesize_mb * 1024 * 1024)
    window = settings.download_stall_s
    need = settings.download_min_rate_kbps * 1024 * window
    stall = (f"it received less than {settings.download_min_rate_kbps:g} KB/s over {window:g} s "
             f"(CLIPQUEUE_DOWNLOAD_MIN_RATE_KBPS, CLIPQUEUE_DOWNLOAD_STALL_S)")
    ctx.set_deadline(window, stall)
    mark = [0]

    def progress(d):
        got = d.get("downloaded_bytes") or 0
        if got - mark[0] >= need or d.get("status") == "finished":
            mark[0] = got  # enough bytes in this window: the deadline moves on
            ctx.set_deadline(window, stall)
        total = d.get("total_bytes") or d.get("total_bytes_estimate")
        if d.get("status") == "downloading" and total:
            ctx.report_progress(min(0.99, got / total))
        ctx.raise_if_cancelled()

    options = {
        "outtmpl": str(work / "media.%(ext)s"),
        "continuedl": True,                  # resume .part files with Range
        # A fixed read block: a dropped connection loses at most one partial block, so a
        # resumed download re-fetches at most 32 KB (yt-dlp's adaptive blocks reach 4 MB).
        "buffersize": 32 * 1024,
        "noresizebuffer": True,
        "retries": settings.download_retries,  # yt-dlp as a library defaults to 0
        "fragment_retries": settings.download_retries,
        "file_access_retries": 3,
        "socket_timeout": 30,
        "noplaylist": True,
        "max_filesize": max_bytes,
        "format": "bv*[height<=1080]+ba/b[height<=1080]/b",
        "merge_output_format": "mp4",
        # yt-dlp's own downloaders for every protocol: an external ffmpeg (its default for
        # some HLS) would open connections the guard never sees. ffmpeg only merges files.
        # Where yt-dlp would fall back to one anyway, ``programs.seal`` refuses it.
        "external_downloader": {"default": "native"},
        "hls_prefer_native": True,
        "js_runtimes": JS_RUNTIMES,   # YouTube's JS challenge: deno, without network access
        "remote_components": [],
        "proxy": "",
        "progress_hooks": [progress],
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _YtLogger(),
    }
    connections = GuardedConnections(guard)
    remove = ctx.on_abort(connections.abort)
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            install(ydl, connections)
            try:
                # A direct media file needs no extractor: its HEAD (redirects followed, each
                # hop guarded) was the probe. Anything else goes through yt-dlp's extractors.
                info = _probe_direct(ydl, url, max_bytes, settings) or ydl.extract_info(url, download=False)
                _check_probe(info, settings, max_bytes)
                check_free_space(work, info.get("filesize") or info.get("filesize_approx"), settings)
                info = ydl.process_ie_result(info, download=True)
            except (yt_dlp.utils.YoutubeDLError, RequestError, OSError) as exc:
                ctx.raise_if_cancelled()
                raise classify(exc, connections) from None
    finally:
        remove()
    ctx.raise_if_cancelled()
    downloads = info.get("requested_downloads") or []
    path = Path(downloads[0]["filepath"]) if downloads else None
    if path is None or not path.is_file():
        raise PermanentError("too_large", f"the file is larger than {settings.max_filesize_mb:.0f} MB")
    return path, info.get("title") if info.get("extractor") not in ("generic", "direct") else None


MEDIA_TYPES = ("video/", "audio/")
EXTENSIONS = {"video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov", "video/x-matroska": "mkv",
              "audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/flac": "flac", "audio/x-flac": "flac",
              "audio/wav": "wav", "audio/x-wav": "wav", "audio/ogg": "ogg", "audio/webm": "webm"}
# Protocols yt-dlp downloads itself, through the guarded handler; anything else is refused.
NATIVE_PROTOCOLS = {"http", "https", "m3u8_native", "m3u8", "http_dash_segments"}


def _guard(url: str, guard: Guard) -> None:
    """The SSRF guard, as a step error: a refused URL fails the video permanently."""
    try:
        guard.check_url(url)
    except UrlRejected as exc:
        raise PermanentError(exc.code, exc.message) from None


def _probe_direct(ydl, url: str, max_bytes: int, settings) -> dict | None:
    """HEAD the URL through yt-dlp's (guarded) networking, redirects followed. When it
    answers video/* or audio/*, a yt-dlp info dict for the final URL (after the size cap);
    otherwise None (a page for the extractors, or a server that does not answer HEAD). A
    refused hop or a redirect loop raises (``classify`` makes it ``forbidden_host`` or
    ``too_many_redirects``)."""
    from yt_dlp.networking import HEADRequest
    from yt_dlp.networking.exceptions import HTTPError, TransportError

    try:
        with ydl.urlopen(HEADRequest(url, headers={"User-Agent": "ClipQueue/1.0"})) as response:
            final = response.url or url
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            length = response.headers.get("Content-Length")
    except HTTPError as exc:
        if getattr(exc, "redirect_loop", False):
            raise
        return None  # 405 and friends: let the extractors try with GET
    except TransportError as exc:
        if guard_error(exc) is not None:
            raise
        return None
    return _direct_info(final, content_type, length, max_bytes, settings)


def _direct_info(url: str, content_type: str, length: str | None, max_bytes: int, settings) -> dict | None:
    if not content_type.startswith(MEDIA_TYPES):
        return None
    if length and length.isdigit() and int(length) > max_bytes:
        raise PermanentError("too_large", f"the file is {int(length) / 1e6:.0f} MB; the limit is "
                                          f"{settings.max_filesize_mb:.0f} MB")
    ext = EXTENSIONS.get(content_type) or Path(url.split("?")[0]).suffix.lstrip(".") or "bin"
    return {"id": "source", "title": None, "url": url, "ext": ext, "extractor": "direct",
            "extractor_key": "Direct", "webpage_url": url,
            "filesize": int(length) if length and length.isdigit() else None}


def _check_probe(info: dict, settings, max_bytes: int) -> None:
    if info.get("_type") in ("playlist", "multi_video") or info.get("entries") is not None:
        raise PermanentError("playlist", "the URL is a playlist; submit one video at a time")
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming", "post_live"):
        raise PermanentError("live_stream", "live streams cannot be processed; submit the recording")
    check_duration(info.get("duration"), settings)
    protocol = info.get("protocol")
    for part in (protocol or "").split("+"):
        if part and part not in NATIVE_PROTOCOLS:
            raise PermanentError("unsupported_protocol", f"videos served over {part} cannot be downloaded")
    size = info.get("filesize") or info.get("filesize_approx")
    if size and size > max_bytes:
        raise PermanentError("too_large", f"the file is {size / 1e6:.0f} MB; the limit is "
                                          f"{settings.max_filesize_mb:.0f} MB")


class _YtLogger:
    """yt-dlp's messages go to our log, not to stdout."""

    def debug(self, msg):
        log.debug("yt-dlp: %s", msg)

    info = debug

    def warning(self, msg):
        log.info("yt-dlp: %s", msg)

    def error(self, msg):
        log.info("yt-dlp: %s", msg)
