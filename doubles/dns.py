"""A DNS double for the SSRF guard: DNS is a network boundary we do not own, and this
machine has no resolver for public names. Numeric host forms go through inet_aton, as the
system resolver would."""
from __future__ import annotations

import socket
import threading

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


# "A public host" in tests: a loopback alias. Servers that play a public site listen on it,
# "localhost" and "public.test" resolve to it, and ``pretend_public`` counts it -- and only
# it -- as public. So the guard is exercised for real at connect time while no connection
# can ever leave this machine: every other address, really public or not, is refused
# before a socket is opened.
PUBLIC_ALIAS = "127.0.0.2"


def public_localhost(host: str, port: int) -> list[str]:
    """Like fake_resolver, except that "localhost" and "public.test" resolve to the public
    alias; redirect targets (127.0.0.1, 169.254.169.254, ...) are judged as usual."""
    return [PUBLIC_ALIAS] if host in ("localhost", "public.test") else fake_resolver(host, port)


def pretend_public(address: str) -> bool:
    """The address policy of the tests: the public alias is the only "public" address."""
    return address == PUBLIC_ALIAS


class Flipping:
    """A resolver that answers a public address first and a private one afterwards (DNS
    rebinding): the first lookup is the submit-time check, later ones are connections."""

    def __init__(self, private: str = "127.0.0.1"):
        self.private, self.calls = private, 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return [PUBLIC_ALIAS] if self.calls == 1 else [self.private]


class Unanswered:
    """A black-holed DNS: lookups get no answer (they wait, as a real resolver would) until
    ``answer()``; from then on every name resolves as ``fallback`` does. ``calls`` counts
    the lookups."""

    def __init__(self, fallback=public_localhost, longest: float = 60.0):
        self.fallback, self.longest = fallback, longest
        self.answering = threading.Event()
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        if not self.answering.wait(self.longest):
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return self.fallback(host, port)

    def answer(self) -> None:
        self.answering.set()
