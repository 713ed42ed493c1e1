"""URL validation and the SSRF guard, shared by the API and the download step.

``check_url`` returns the normalized URL (the identity used for idempotent enqueue) or
raises ``UrlRejected`` with a stable ``code`` and a message safe to show the client.
A host is refused unless every address it resolves to is globally routable: loopback,
private, link-local (cloud metadata lives at 169.254.169.254), CGNAT, multicast, reserved
and unspecified addresses are refused, including IPv4 hidden in IPv6 forms.
``allow_private`` (ALLOW_PRIVATE_URLS=1) lets such hosts through for tests and local use.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import urlsplit, urlunsplit

Resolver = Callable[[str, int], Iterable[str]]

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class UrlRejected(Exception):
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped:
        return addr.ipv4_mapped
    if addr.sixtofour:
        return addr.sixtofour
    if addr.teredo:
        return addr.teredo[1]
    # NAT64 well-known prefix 64:ff9b::/96
    if addr in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def is_public_address(text: str) -> bool:
    """True only for globally routable unicast addresses (IPv4 inside IPv6 included)."""
    addr = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        inner = _embedded_ipv4(addr)
        if inner is not None and not is_public_address(str(inner)):
            return False
    return addr.is_global and not addr.is_multicast


def _host_ascii(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UrlRejected("invalid_url", "the URL's host name is not a valid domain name") from None


def check_url(
    url: object,
    *,
    max_length: int = 2048,
    allow_private: bool = False,
    resolver: Resolver = system_resolver,
) -> str:
    """Validate ``url``; return its normalized form (lower-case scheme and host, IDNA host,
    default port and fragment dropped)."""
    if url is None:
        raise UrlRejected("missing_url", 'the request body needs a "url" field')
    if not isinstance(url, str):
        raise UrlRejected("invalid_url", '"url" must be a string')
    url = url.strip()
    if not url:
        raise UrlRejected("missing_url", '"url" is empty')
    if len(url) > max_length:
        raise UrlRejected("url_too_long", f"the URL is longer than {max_length} characters")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise UrlRejected("invalid_url", "the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise UrlRejected("invalid_url", "the URL could not be parsed (bad port or brackets)") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UrlRejected("unsupported_scheme", "only http:// and https:// URLs are accepted")
    if parts.username is not None or parts.password is not None:
        raise UrlRejected("credentials_in_url", "URLs with a user name or password are not accepted")
    if not host:
        raise UrlRejected("invalid_url", "the URL has no host")
    host_ascii = _host_ascii(host) if not _is_ip_literal(host) else host
    if not host_ascii or host_ascii.startswith(".") or ".." in host_ascii:
        raise UrlRejected("invalid_url", "the URL's host name is not a valid domain name")
    effective_port = port or DEFAULT_PORTS[scheme]
    _guard_host(host_ascii, effective_port, allow_private, resolver)

    netloc = f"[{host_ascii}]" if ":" in host_ascii else host_ascii
    if port and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return True
    except ValueError:
        return False


def _guard_host(host: str, port: int, allow_private: bool, resolver: Resolver) -> None:
    if _is_ip_literal(host):
        addresses = [host]
    else:
        if allow_private:
            return  # no need to resolve: whatever it resolves to is allowed
        try:
            addresses = list(resolver(host, port))
        except (OSError, UnicodeError):
            raise UrlRejected("unresolvable_host", "the URL's host name does not resolve") from None
        if not addresses:
            raise UrlRejected("unresolvable_host", "the URL's host name does not resolve")
    if allow_private:
        return
    for address in addresses:
        if not is_public_address(address):
            raise UrlRejected(
                "forbidden_host",
                "the URL points to a loopback, private, link-local or reserved address",
            )
