"""URL validation and the SSRF guard, shared by the API and the download step.

``check_url`` returns the normalized URL (the identity used for idempotent enqueue) or
raises ``UrlRejected`` with a stable ``code`` and a message safe to show the client.
A host is refused unless every address it resolves to is globally routable: loopback,
private, link-local (cloud metadata lives at 169.254.169.254), CGNAT, multicast, reserved
and unspecified addresses are refused, including IPv4 hidden in IPv6 forms.
``allow_private`` (ALLOW_PRIVATE_URLS=1) lets such hosts through for tests and local use.

``Guard`` is the same rule for a connection about to be opened: ``addresses`` resolves the
host once and returns only addresses that passed, so the connection goes to the very
address that was checked (no DNS rebinding between check and connect). ``allowed`` is what
counts as a public address (tests map a loopback alias to "public"; nothing else does).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

from workers.pipeline.fetcher.dns import (CachedResolver, ResolveTimeout, Resolver, TimedResolver,  # noqa: F401
                                          connect_lookups, system_resolver)
from workers.pipeline.fetcher.urlnorm import normalize_escapes, normalize_host, normalize_path

AddressPolicy = Callable[[str], bool]

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class UrlRejected(Exception):
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


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
        return normalize_host(host)
    except ValueError:
        raise UrlRejected("invalid_url", "the URL's host name is not a valid domain name") from None


def check_url(
    url: object,
    *,
    max_length: int = 2048,
    allow_private: bool = False,
    resolver: Resolver = system_resolver,
    allowed: AddressPolicy = None,
) -> str:
    """Validate ``url``; return its normalized form (``workers.urlnorm``: RFC 3986 section 6,
    UTS 46 host; default port and fragment dropped)."""
    if url is None:
        raise UrlRejected("missing_url", 'the request body needs a "url" field')
    if not isinstance(url, str):
        raise UrlRejected("invalid_url", '"url" must be a string')
    url = url.strip()
    if not url:
        raise UrlRejected("missing_url", '"url" is empty')
    if len(url) > max_length:
        raise UrlRejected("url_too_long", f"the URL is longer than {max_length} characters")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") that JSON let through
        raise UrlRejected("invalid_url", "the URL contains characters that are not valid Unicode") from None
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
    host_ascii = _host_ascii(host)
    effective_port = port or DEFAULT_PORTS[scheme]
    _guard_host(host_ascii, effective_port, allow_private, resolver, allowed or is_public_address)

    netloc = f"[{host_ascii}]" if ":" in host_ascii else host_ascii
    if port and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, normalize_path(parts.path), normalize_escapes(parts.query), ""))


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return True
    except ValueError:
        return False


def _guard_host(host: str, port: int, allow_private: bool, resolver: Resolver, allowed: AddressPolicy) -> None:
    if _is_ip_literal(host):
        addresses = [host]
    else:
        if allow_private:
            return  # no need to resolve: whatever it resolves to is allowed
        try:
            addresses = _resolve(host, port, resolver)
        except ResolveTimeout:
            # A slow DNS must not hold a request: the name is checked again, authoritatively,
            # when the worker connects (Guard), and refused there if it points inward.
            return
    if not allow_private:
        _check_addresses(addresses, allowed)


def _check_addresses(addresses: list[str], allowed: AddressPolicy) -> None:
    for address in addresses:
        if not _allowed(address, allowed):
            raise UrlRejected(
                "forbidden_host",
                "the URL points to a loopback, private, link-local or reserved address",
            )


def _resolve(host: str, port: int, resolver: Resolver) -> list[str]:
    try:
        addresses = list(resolver(host, port))
    except ResolveTimeout:
        raise
    except (OSError, UnicodeError):
        raise UrlRejected("unresolvable_host", "the URL's host name does not resolve") from None
    if not addresses:
        raise UrlRejected("unresolvable_host", "the URL's host name does not resolve")
    return addresses


def _allowed(address: str, allowed: AddressPolicy) -> bool:
    try:
        return bool(allowed(address))
    except ValueError:  # not an address at all
        return False


@dataclass(frozen=True)
class Guard:
    """The SSRF rule at connect time (see the module docstring)."""

    allow_private: bool = False
    resolver: Resolver = system_resolver
    allowed: AddressPolicy = is_public_address

    def check_url(self, url: object, **kw) -> str:
        return check_url(url, allow_private=self.allow_private, resolver=self.resolver, allowed=self.allowed, **kw)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses a connection to ``host:port`` may use (resolved once, every one
        checked); raises ``UrlRejected`` when any is refused or the name does not resolve
        (``dns_timeout`` when the resolver did not answer within its bound)."""
        host = host.strip("[]")
        try:
            addresses = [host] if _is_ip_literal(host) else _resolve(_host_ascii(host), port, self.resolver)
        except ResolveTimeout as exc:
            raise UrlRejected("dns_timeout", f"the host name did not resolve in time ({exc})") from None
        if not self.allow_private:
            _check_addresses(addresses, self.allowed)
        return addresses


def guard_for(settings, services) -> Guard:
    """The SSRF guard of a worker's downloads and of the webhook dispatcher: resolver and
    address policy are injectable services; every lookup waits at most
    CLIPQUEUE_DNS_TIMEOUT_S (``dns.TimedResolver``), as the API's do."""
    resolver = services.get("resolver") or system_resolver
    return Guard(allow_private=settings.allow_private_urls,
                 resolver=TimedResolver(resolver, connect_lookups(settings.dns_timeout_s)),
                 allowed=services.get("address_policy") or is_public_address)
