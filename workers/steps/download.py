"""download: fetch the media with yt-dlp (as a library) into storage.

* Probe first (``extract_info(download=False)``): live streams, playlists, and media over the
  duration or size caps fail permanently before a byte of media is fetched.
* Resume: the output path is stable per video, with ``.part`` files, so a retried download
  (yt-dlp's own retries, or a later job-level retry) continues with an HTTP Range request.
* Errors are classified: unsupported URL, 404/410, 401/403, private/removed, not media ->
  permanent; connection drops, timeouts, 5xx, 429 -> transient.
* The file lands in storage under ``videos/<id>/download/source``; size, duration, codecs and
  SHA-256 go into the checkpoint. If that key exists (a crash after the upload), the
  download is not repeated.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..errors import PermanentError, TransientError
from ..media import probe, sha256_file
from ..storage import video_key
from ..urlguard import UrlRejected, check_url, system_resolver

log = logging.getLogger(__name__)

STEP = "download"


def run(video, ctx) -> dict:
    settings, storage = ctx.settings, ctx.services["storage"]
    key = video_key(video.video_id, STEP, "source")
    title = None
    if not storage.exists(key):
        local_file = video.options.get("local_file")  # set by the operator CLI only, never by the API
        if local_file:
            path = Path(local_file)
            if not path.is_file():
                raise PermanentError("not_found", f"no such file: {path}")
        else:
            path, title = fetch(video.source_url, _work_dir(settings, video.video_id), settings, ctx)
        info = probe(path)  # not media / truncated -> permanent, before it reaches storage
        _check_duration(info.duration, settings)
        checksum, size = sha256_file(path), path.stat().st_size
        storage.put_file(key, path)
        if not local_file:
            path.unlink(missing_ok=True)
    else:
        path = storage.local_path(key)
        info = probe(path)
        checksum, size = sha256_file(path), storage.size(key)
    ctx.report_progress(1.0)
    return {"key": key, "size": size, "sha256": checksum, "title": title, **info.as_dict(),
            "storage_keys": [key]}


def _work_dir(settings, video_id: int) -> Path:
    path = Path(settings.data_dir) / "work" / str(video_id) / STEP
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_duration(duration: float | None, settings) -> None:
    if duration and duration > settings.max_duration_s:
        raise PermanentError("too_long", f"the video is {duration / 60:.0f} min long; the limit is "
                                         f"{settings.max_duration_s / 60:.0f} min")


def fetch(url: str, work: Path, settings, ctx) -> tuple[Path, str | None]:
    """Download ``url`` into ``work`` (resuming a ``.part`` file there); return the path."""
    import yt_dlp  # heavy: imported where needed

    resolver = ctx.services.get("resolver") or system_resolver
    # Again at download time: DNS may have changed since the URL was submitted.
    _guard(url, settings, resolver)

    max_bytes = int(settings.max_filesize_mb * 1024 * 1024)

    def progress(d):
        total = d.get("total_bytes") or d.get("total_bytes_estimate")
        if d.get("status") == "downloading" and total:
            ctx.report_progress(min(0.99, d.get("downloaded_bytes", 0) / total))

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
        "progress_hooks": [progress],
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _YtLogger(),
    }
    # Redirects are followed here, each hop through the guard, so that a public-looking
    # URL cannot bounce yt-dlp to a private address; yt-dlp gets the final URL.
    url, direct = _probe_direct(url, max_bytes, settings, resolver)
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            # A direct media file needs no extractor: its HEAD was the probe, so no body is
            # fetched twice. Anything else (a video page) goes through yt-dlp's extractors.
            info = direct or ydl.extract_info(url, download=False)
            _check_probe(info, settings, max_bytes)
            info = ydl.process_ie_result(info, download=True)
    except yt_dlp.utils.DownloadError as exc:
        raise classify(exc) from None
    downloads = info.get("requested_downloads") or []
    path = Path(downloads[0]["filepath"]) if downloads else None
    if path is None or not path.is_file():
        raise PermanentError("too_large", f"the file is larger than {settings.max_filesize_mb:.0f} MB")
    return path, info.get("title") if info.get("extractor") not in ("generic", "direct") else None


MEDIA_TYPES = ("video/", "audio/")
EXTENSIONS = {"video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov", "video/x-matroska": "mkv",
              "audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/flac": "flac", "audio/x-flac": "flac",
              "audio/wav": "wav", "audio/x-wav": "wav", "audio/ogg": "ogg", "audio/webm": "webm"}


MAX_REDIRECTS = 5


def _guard(url: str, settings, resolver, *, why: str = "") -> None:
    """The SSRF guard, as a step error: a refused URL fails the video permanently."""
    try:
        check_url(url, allow_private=settings.allow_private_urls, resolver=resolver)
    except UrlRejected as exc:
        raise PermanentError(exc.code, why + exc.message) from None


def _probe_direct(url: str, max_bytes: int, settings, resolver) -> tuple[str, dict | None]:
    """HEAD the URL, following redirects one hop at a time through the SSRF guard (a hop
    to a refused address fails permanently). Returns the final URL and, when it answers
    video/* or audio/*, a yt-dlp info dict for it (after the size cap); otherwise None
    (a page for yt-dlp's extractors, or a server that does not answer HEAD)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    for _hop in range(MAX_REDIRECTS + 1):
        request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "ClipQueue/1.0"})
        try:
            with _NO_REDIRECTS.open(request, timeout=30) as response:
                content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                length = response.headers.get("Content-Length")
            break
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location") if 300 <= exc.code < 400 else None
            if not location:
                return url, None
            url = urllib.parse.urljoin(url, location)
            _guard(url, settings, resolver, why="the URL redirects to a refused address: ")
        except (urllib.error.URLError, OSError, ValueError):
            return url, None
    else:
        raise PermanentError("too_many_redirects", f"the URL redirects more than {MAX_REDIRECTS} times")
    return url, _direct_info(url, content_type, length, max_bytes, settings)


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


class _NoRedirect:
    """A HEAD that reports redirects instead of following them (yt-dlp follows them later)."""

    def __init__(self):
        import urllib.request

        class Handler(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(Handler)

    def open(self, request, timeout):
        return self.opener.open(request, timeout=timeout)


_NO_REDIRECTS = _NoRedirect()


def _check_probe(info: dict, settings, max_bytes: int) -> None:
    if info.get("_type") in ("playlist", "multi_video") or info.get("entries") is not None:
        raise PermanentError("playlist", "the URL is a playlist; submit one video at a time")
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming", "post_live"):
        raise PermanentError("live_stream", "live streams cannot be processed; submit the recording")
    _check_duration(info.get("duration"), settings)
    size = info.get("filesize") or info.get("filesize_approx")
    if size and size > max_bytes:
        raise PermanentError("too_large", f"the file is {size / 1e6:.0f} MB; the limit is "
                                          f"{settings.max_filesize_mb:.0f} MB")


def classify(exc) -> Exception:
    """Turn a yt-dlp DownloadError into a PermanentError or a TransientError."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import ExtractorError, UnsupportedError

    cause = exc.exc_info[1] if exc.exc_info else None
    text = str(exc).replace("ERROR: ", "")
    details = {"error": text[:1000], "error_type": type(cause).__name__ if cause else None}
    if isinstance(cause, HTTPError):
        status = cause.status
        if status == 429 or status >= 500:
            retry_after = _retry_after(cause)
            return TransientError("http_" + str(status), f"the video host answered HTTP {status}; retrying later",
                                  retry_after=retry_after, details=details)
        if status in (404, 410):
            return PermanentError("not_found", f"the video was not found (HTTP {status})", details=details)
        if status in (401, 403):
            return PermanentError("forbidden", f"the video host refused access (HTTP {status})", details=details)
        return PermanentError("http_error", f"the video host answered HTTP {status}", details=details)
    if isinstance(cause, UnsupportedError) or "Unsupported URL" in text:
        return PermanentError("unsupported_url", "no video was found at that URL", details=details)
    if isinstance(cause, ExtractorError) and cause.expected:
        return PermanentError("unavailable", "the video is unavailable (private, removed or restricted)",
                              details=details)
    if isinstance(cause, (TransportError, TimeoutError, ConnectionError)) or any(
            s in text for s in ("timed out", "Connection", "IncompleteRead", "giving up after", "Read timed",
                                "bytes, expected", "Got error")):
        return TransientError("network", "the download was interrupted; it will resume", details=details)
    return TransientError("download_failed", "the download failed; retrying later", details=details)


def _retry_after(error) -> float | None:
    try:
        value = error.response.headers.get("Retry-After")
        return float(value) if value else None
    except (AttributeError, TypeError, ValueError):
        return None


class _YtLogger:
    """yt-dlp's messages go to our log, not to stdout."""

    def debug(self, msg):
        log.debug("yt-dlp: %s", msg)

    info = debug

    def warning(self, msg):
        log.info("yt-dlp: %s", msg)

    def error(self, msg):
        log.info("yt-dlp: %s", msg)
