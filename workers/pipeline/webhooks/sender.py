"""One webhook POST through the SSRF guard: the host is resolved once, every address is
checked (``fetcher.guard.Guard.addresses``), and the connection goes to an address that was
checked (TLS still verifies the host name). Redirects are not followed: a receiver answers
where it was registered."""
from __future__ import annotations

import http.client
import socket
import ssl
from urllib.parse import urlsplit

from workers.pipeline.fetcher.guard import Guard, UrlRejected


class _Pinned(http.client.HTTPConnection):
    """Plain HTTP to one checked address, with the URL's host in the Host header."""

    def __init__(self, host: str, port: int, *, ip: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self):
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """HTTPS to one checked address; the certificate is verified for the URL's host."""

    def __init__(self, host: str, port: int, *, ip: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self):
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], *, guard: Guard, timeout: float) -> int:
    """POST ``body``; returns the HTTP status. Raises ``UrlRejected`` (refused address, before
    any connection) or ``OSError`` / ``http.client.HTTPException`` (the receiver is unreachable)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRejected("unsupported_scheme", "only http:// and https:// callback URLs are accepted")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = guard.addresses(parts.hostname, port)
    kind = _PinnedTLS if parts.scheme == "https" else _Pinned
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    error: Exception | None = None
    for ip in addresses:
        connection = kind(parts.hostname, port, ip=ip, timeout=timeout)
        try:
            connection.request("POST", path, body=body, headers={
                **headers, "Content-Type": "application/json", "User-Agent": "ClipQueue-Webhooks/1.0"})
            response = connection.getresponse()
            response.read(64 * 1024)  # drain a little; the answer's body is not used
            return response.status
        except OSError as exc:
            error = exc
        finally:
            connection.close()
    raise error or OSError("no address to connect to")
