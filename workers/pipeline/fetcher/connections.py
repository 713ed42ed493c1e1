"""The guarded connection factory: every connection of a download (inside yt-dlp) and of a
webhook delivery (``webhooks.sender``) goes through the SSRF guard here.

yt-dlp sends all its HTTP (the HEAD probe, extractor pages, redirects, the media GET, HLS and
DASH manifests and segments with its native downloaders) through one request director.
``install`` replaces that director with one handler, a yt-dlp ``UrllibRH`` whose connections
are opened by ``GuardedConnections.create_connection``: the host is resolved once with the
injected resolver, every address is checked by the ``Guard``, and the socket connects to
one of those very addresses (TLS still verifies the host name). So a redirect on the GET,
a manifest that points at a private address, or a name that re-resolves to one between the
check and the connection is refused before any byte is sent. No proxies (they would move
the connection out of the guard's sight), and only http/https.

yt-dlp's other ways out -- an external ffmpeg, aria2c, curl, rtmpdump or PhantomJS that would
open its own connections -- are refused for the same download (``programs``).

``abort`` (a step's ``ctx.on_abort``, a webhook attempt's deadline) shuts every open socket of
the download or delivery and refuses new ones: a host that trickles a byte every few seconds
cannot hold the step past its deadline or a cancellation, nor a delivery past its deadline.
"""
from __future__ import annotations

import functools
import http.client
import socket
import threading
import urllib.request

from workers.pipeline.fetcher.guard import Guard, UrlRejected

MAX_REDIRECTS = 5


class GuardRefused(OSError):
    """A connection the guard refused (``code``: forbidden_host, unresolvable_host...)."""

    def __init__(self, code: str, message: str, host: str):
        super().__init__(f"{code}: {message} ({host})")
        self.code, self.message, self.host = code, message, host


class ConnectionsAborted(OSError):
    """The download or delivery was told to stop (``abort``); no new connection is opened."""


class GuardedConnections:
    """The guarded connection factory of one download or one webhook delivery (thread-safe:
    HLS fetches fragments in threads). ``refused`` keeps what the guard refused."""

    def __init__(self, guard: Guard):
        self.guard = guard
        self.refused: list[GuardRefused] = []
        self._sockets: set[socket.socket] = set()
        self._aborted = False
        self._lock = threading.Lock()

    def create_connection(self, address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **_):
        host, port = address
        if self._aborted:
            raise ConnectionsAborted("stopped: no new connection")
        try:
            candidates = self.guard.addresses(host, port)
        except UrlRejected as exc:
            raise self.record(GuardRefused(exc.code, exc.message, host)) from None
        error: OSError | None = None
        for ip in candidates:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                with self._lock:
                    if self._aborted:
                        raise ConnectionsAborted("stopped: no new connection")
                    self._sockets.add(sock)
                sock.connect((ip, port))
                return sock
            except OSError as exc:
                self._forget(sock)
                sock.close()
                error = exc
                if isinstance(exc, ConnectionsAborted):
                    break
        raise error or OSError(f"no address to connect to for {host}")

    def record(self, refused: GuardRefused) -> GuardRefused:
        """Keep a refusal (yt-dlp may swallow the exception; ``classify`` finds it here)."""
        with self._lock:
            self.refused.append(refused)
        return refused

    @property
    def aborted(self) -> bool:
        return self._aborted

    def abort(self) -> None:
        """Shut every socket of this download or delivery (blocked reads and writes return at
        once) and refuse new ones."""
        with self._lock:
            self._aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


def install(ydl, connections: GuardedConnections) -> None:
    """Make ``connections`` the only way ``ydl`` reaches the network: its request director, and
    no external program that would connect by itself (``programs.seal``)."""
    from workers.pipeline.fetcher.programs import seal

    handler = _handler_class(connections)
    ydl.__dict__["_request_director"] = ydl.build_request_director([handler])
    seal(ydl, connections)


def _handler_class(connections: GuardedConnections):
    from yt_dlp.networking._urllib import HTTPHandler, RedirectHandler, UrllibRH

    def connection(conn_class, *args, **kwargs):
        conn = conn_class(*args, **kwargs)
        conn._create_connection = connections.create_connection  # http.client's connect() calls this
        return conn

    class GuardedHTTPHandler(HTTPHandler):
        def http_open(self, req):
            req.headers.pop("Ytdl-socks-proxy", None)
            return self.do_open(functools.partial(connection, http.client.HTTPConnection), req)

        def https_open(self, req):
            req.headers.pop("Ytdl-socks-proxy", None)
            return self.do_open(functools.partial(connection, http.client.HTTPSConnection), req,
                                context=self._context)

    class LimitedRedirects(RedirectHandler):
        max_redirections = MAX_REDIRECTS

    class GuardedRH(UrllibRH):
        RH_NAME = "clipqueue_guarded"
        _SUPPORTED_URL_SCHEMES = ("http", "https")

        def _create_instance(self, proxies, cookiejar, legacy_ssl_support=None):
            opener = urllib.request.OpenerDirector()
            for handler in (
                urllib.request.ProxyHandler({}),  # no proxies, from the environment or anywhere
                GuardedHTTPHandler(debuglevel=0, context=self._make_sslcontext(legacy_ssl_support=legacy_ssl_support)),
                urllib.request.HTTPCookieProcessor(cookiejar),
                urllib.request.UnknownHandler(),
                urllib.request.HTTPDefaultErrorHandler(),
                urllib.request.HTTPErrorProcessor(),
                LimitedRedirects(),
            ):
                opener.add_handler(handler)
            opener.addheaders = []
            return opener

    return GuardedRH


def exception_chain(exc: BaseException | None):
    """``exc`` and every exception behind it: Python's cause and context, yt-dlp's ``cause``
    and ``exc_info``, urllib's ``reason`` (yt-dlp wraps a socket error two or three deep)."""
    seen = set()
    while isinstance(exc, BaseException) and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        reason = getattr(exc, "reason", None)
        if isinstance(reason, BaseException):
            yield reason
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__ or \
            (getattr(exc, "exc_info", None) or (None, None))[1]


def guard_error(exc: BaseException | None) -> GuardRefused | None:
    """The ``GuardRefused`` somewhere in an exception's chain (yt-dlp wraps it in its own)."""
    return next((e for e in exception_chain(exc) if isinstance(e, GuardRefused)), None)
