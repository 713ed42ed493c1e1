"""URL normalization (RFC 3986 section 6): the forms of one URL that mean the same resource
map to one string, the identity used for idempotent submission.

Scheme and host in lower case; the host through UTS 46 / IDNA 2008 (so "faß" stays "faß",
as xn--fa-hia, instead of IDNA 2003's "fass"), without a trailing dot; IP literals in their
canonical form ("[2606:2800:0220::]" and "[2606:2800:220::]" are one host); percent-escapes
of unreserved characters decoded and the others in upper case; dot-segments removed; an
empty path is "/". The query is kept as sent (its order can matter to the host).
"""
from __future__ import annotations

import ipaddress
import re
import string

UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"  # no label starts or ends with "-"
_HOST_CHARS = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def normalize_escapes(text: str) -> str:
    def fix(match: re.Match) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in UNRESERVED else "%" + match.group(1).upper()
    return _ESCAPE.sub(fix, text)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4."""
    out: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./"):
            path = path[2:]
        elif path.startswith("/./"):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if out:
                out.pop()
        elif path == "/..":
            path = "/"
            if out:
                out.pop()
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            cut = path.find("/", start)
            cut = len(path) if cut == -1 else cut
            out.append(path[:cut])
            path = path[cut:]
    return "".join(out)


def normalize_path(path: str) -> str:
    return remove_dot_segments(normalize_escapes(path)) or "/"


def ip_literal(host: str) -> str | None:
    """The canonical text of an IP literal host, or None if ``host`` is a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).compressed
    except ValueError:
        return None


def normalize_host(host: str) -> str:
    """A host name in its ASCII, lower-case form; raises ValueError when it is not a
    valid domain name (or a label cannot be encoded)."""
    literal = ip_literal(host)
    if literal is not None:
        return literal
    host = normalize_escapes(host)
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]  # the absolute form of the same name
    if host.isascii():
        ascii_host = host.lower()
    else:
        import idna

        try:
            ascii_host = idna.encode(host, uts46=True, transitional=False).decode("ascii").lower()
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(str(exc)) from None
    if not _HOST_CHARS.fullmatch(ascii_host):
        raise ValueError("not a valid domain name")
    return ascii_host
