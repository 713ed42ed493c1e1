"""A DNS double for the SSRF guard: DNS is a network boundary we do not own, and this
machine has no resolver for public names. Numeric host forms go through inet_aton, as the
system resolver would."""
from __future__ import annotations

import socket

RECORDS = {
    "example.com": ["93.184.216.34"],
    "cdn.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "xn--bcher-kva.example": ["93.184.216.35"],
    "localhost": ["127.0.0.1", "::1"],
    "internal.corp": ["10.0.0.5"],
    "metadata.google.internal": ["169.254.169.254"],
    "rebind.example": ["93.184.216.34", "127.0.0.1"],
    "v6-private.example": ["fd00::5"],
}


def fake_resolver(host: str, port: int) -> list[str]:
    if host in RECORDS:
        return RECORDS[host]
    try:
        return [socket.inet_ntoa(socket.inet_aton(host))]
    except OSError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


def public_localhost(host: str, port: int) -> list[str]:
    """Like fake_resolver, except that "localhost" passes for a public host: the local test
    servers stand in for a public site, while redirect targets are judged as usual."""
    return ["93.184.216.34"] if host == "localhost" else fake_resolver(host, port)
