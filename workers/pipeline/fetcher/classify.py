"""How a failed download reads: yt-dlp's errors (and the guard's refusals, and a full disk)
turned into a ``PermanentError`` or a ``TransientError`` with a stable cause.

Permanent: unsupported URL, 404/410, 401/403, other 4xx, private/removed, an empty file, a
refused address, a redirect loop, a stream that needs an external program (``programs``) or
is DRM-protected. Transient: connection drops, time-outs, 5xx, 429 (with
the host's Retry-After), a full disk, a DNS that did not answer within CLIPQUEUE_DNS_TIMEOUT_S. The yt-dlp text stays in ``details`` for operators.
"""
from __future__ import annotations

from workers.queue.errors import PermanentError, TransientError
from workers.queue.retry import parse_retry_after
from workers.pipeline.fetcher.connections import MAX_REDIRECTS, GuardedConnections, exception_chain, guard_error
from workers.pipeline.fetcher.programs import ExternalProgramRefused

# Statuses with a cause of their own (``http_<status>``); any other 5xx a host sends is
# ``http_other`` (the number stays in the message and details): the cause is a metric label
# (``clipqueue_retries``) and an overview column, so its values must be few.
KNOWN_STATUSES = frozenset({429, 500, 502, 503, 504})


def classify(exc, connections: GuardedConnections | None = None) -> Exception:
    """Turn a yt-dlp DownloadError (or a network error) into a PermanentError or a
    TransientError. A connection the guard refused anywhere in the download (a redirect, a
    manifest's segment) fails it permanently, whatever yt-dlp made of the error."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import ExtractorError, UnsupportedError

    cause = (exc.exc_info[1] if getattr(exc, "exc_info", None) else None) or exc
    text = str(exc).replace("ERROR: ", "")
    details = {"error": text[:1000], "error_type": type(cause).__name__ if cause else None}
    refused = guard_error(exc) or (connections.refused[0] if connections and connections.refused else None)
    if refused is not None and refused.code == "dns_timeout":
        return TransientError("dns_timeout", "the video host's name did not resolve in time; retrying later",
                              details={**details, "host": refused.host})
    if isinstance(refused, ExternalProgramRefused):
        return PermanentError(refused.code, refused.message, details={**details, "program": refused.program})
    if refused is not None:
        return PermanentError(refused.code, "the download was sent to a refused address: " + refused.message,
                              details={**details, "host": refused.host})
    if _no_space(exc) or "No space left on device" in text:
        return TransientError("disk_full", "the server ran out of disk space; retrying later", details=details)
    if "DRM protected" in text:
        return PermanentError("drm_protected", "the video is DRM-protected; it cannot be downloaded", details=details)
    if any(s in text.lower() for s in ("file is empty", "did not get any data blocks")):
        return PermanentError("empty_file", "the URL serves an empty file", details=details)
    if isinstance(cause, HTTPError) and getattr(cause, "redirect_loop", False):
        return PermanentError("too_many_redirects", f"the URL redirects more than {MAX_REDIRECTS} times",
                              details=details)
    if isinstance(cause, HTTPError):
        status = cause.status
        if status == 429 or status >= 500:
            retry_after = _retry_after(cause)
            cause = f"http_{status}" if status in KNOWN_STATUSES else "http_other"
            return TransientError(cause, f"the video host answered HTTP {status}; retrying later",
                                  retry_after=retry_after, details={**details, "http_status": status})
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


def _no_space(exc) -> bool:
    import errno

    return any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in exception_chain(exc))


def _retry_after(error) -> float | None:
    response = getattr(error, "response", None)
    return parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
