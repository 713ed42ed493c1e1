"""One webhook POST through the guarded connection factory, under one total deadline.

The connection comes from ``fetcher.connections.GuardedConnections``, the factory every
download uses: the host is resolved once, every address is checked by the guard, and the
socket connects to an address that was checked (TLS still verifies the host name).
Redirects are not followed: a receiver answers where it was registered.

``timeout`` bounds the whole exchange -- connect, send the body, read the status line and
headers -- not each read: at the deadline the attempt's sockets are shut
(``GuardedConnections.abort``), so a receiver that trickles a byte every few seconds is cut
there. The answer's body is not read (its status is the outcome). A DNS lookup in progress
at the deadline is bounded by the guard's resolver (CLIPQUEUE_DNS_TIMEOUT_S), not cut.
"""
from __future__ import annotations

import http.client
import ssl
import threading
from urllib.parse import urlsplit

from workers.pipeline.fetcher.connections import GuardedConnections, GuardRefused
from workers.pipeline.fetcher.guard import Guard, UrlRejected


class DeliveryTimeout(TimeoutError):
    """The receiver did not answer within the attempt's total deadline."""


def post(url: str, body: bytes, headers: dict[str, str], *, guard: Guard, timeout: float) -> int:
    """POST ``body``; returns the HTTP status. Raises ``UrlRejected`` (refused address, before
    any connection), ``DeliveryTimeout`` (no status line and headers within ``timeout``) or
    ``OSError`` / ``http.client.HTTPException`` (the receiver is unreachable)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRejected("unsupported_scheme", "only http:// and https:// callback URLs are accepted")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connections = GuardedConnections(guard)
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, port, timeout=timeout,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    connection._create_connection = connections.create_connection  # http.client's connect() calls this
    deadline = threading.Timer(timeout, connections.abort)
    deadline.daemon = True
    deadline.start()
    try:
        connection.request("POST", path, body=body, headers={
            **headers, "Content-Type": "application/json", "User-Agent": "ClipQueue-Webhooks/1.0"})
        return connection.getresponse().status
    except GuardRefused as exc:
        raise UrlRejected(exc.code, exc.message) from None
    except (OSError, http.client.HTTPException) as exc:
        if connections.aborted:
            raise DeliveryTimeout(f"no answer within {timeout:g} s (CLIPQUEUE_WEBHOOK_TIMEOUT_S)") from None
        raise exc
    finally:
        deadline.cancel()
        connection.close()
