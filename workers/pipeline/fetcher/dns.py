"""DNS lookups with a bound, for the SSRF guard (``guard``).

A lookup of a black-holed name can take the system resolver 10 s or more. Every lookup
ClipQueue makes waits at most CLIPQUEUE_DNS_TIMEOUT_S and then raises ``ResolveTimeout``:

* ``CachedResolver``: the API's submit-time check (answers cached; a time-out lets the URL
  through to the authoritative check at connect time);
* ``TimedResolver``: the connect-time lookups of a worker's downloads and of the webhook
  dispatcher (never cached: the connection goes to the address just checked). They share
  one process-wide ``BoundedLookups`` per bound (``connect_lookups``).

``BoundedLookups`` runs each lookup on a daemon thread: at most ``workers`` outstanding (a
dead DNS holds that many threads, each until the system resolver gives up), and one asked
for beyond that fails at once instead of queueing.
"""
from __future__ import annotations

import functools
import socket
import threading
import time
from collections import OrderedDict
from typing import Callable, Iterable

Resolver = Callable[[str, int], Iterable[str]]
CONNECT_LOOKUPS = 16  # lookups outstanding at once per process, at connect time


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


class ResolveTimeout(OSError):
    """The lookup did not answer within the bound."""


class LookupsBusy(ResolveTimeout):
    """Every lookup slot is held by one that has not answered: refused without waiting."""


class BoundedLookups:
    """Lookups that wait at most ``timeout_s``, at most ``workers`` outstanding. Each runs on
    a daemon thread of its own: one the DNS never answers cannot delay a process's exit."""

    def __init__(self, *, timeout_s: float, workers: int):
        self.timeout_s, self.workers = timeout_s, workers
        self._lock = threading.Lock()
        self._outstanding = 0

    def __call__(self, resolver: Resolver, host: str, port: int) -> list[str]:
        """``resolver``'s answer for ``host``; ``ResolveTimeout`` past the bound, or at once
        (``LookupsBusy``) when ``workers`` lookups are outstanding already."""
        with self._lock:
            if self._outstanding >= self.workers:
                raise LookupsBusy("the DNS is not answering (all lookups outstanding)")
            self._outstanding += 1
        done, outcome = threading.Event(), {}

        def lookup():
            try:
                outcome["answer"] = list(resolver(host, port))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                outcome["error"] = exc
            finally:
                with self._lock:
                    self._outstanding -= 1
                done.set()

        threading.Thread(target=lookup, name="dns", daemon=True).start()
        if not done.wait(self.timeout_s):
            raise ResolveTimeout(f"no DNS answer for {host} within {self.timeout_s:g} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["answer"]


@functools.lru_cache(maxsize=None)
def connect_lookups(timeout_s: float) -> BoundedLookups:
    """The process's bounded lookups for connections (one per bound: settings rarely differ)."""
    return BoundedLookups(timeout_s=timeout_s, workers=CONNECT_LOOKUPS)


class TimedResolver:
    """``resolver`` with every lookup bounded by ``lookups`` (no cache)."""

    def __init__(self, resolver: Resolver, lookups: BoundedLookups):
        self.resolver, self.lookups = resolver, lookups

    def __call__(self, host: str, port: int) -> list[str]:
        return self.lookups(self.resolver, host, port)


class CachedResolver:
    """A resolver for request paths: a lookup waits at most ``timeout_s``; at most
    ``workers`` lookups are outstanding (a black-hole DNS holds them), and one asked for
    beyond that fails at once instead of queueing; answers are cached ``ttl_s`` (failures
    and time-outs ``negative_ttl_s``), at most ``max_entries`` names. Raises
    ``ResolveTimeout`` past the bound. So a dead DNS holds at most ``workers`` request
    threads, each for ``timeout_s``. The authoritative check is at connect time (``Guard``)."""

    def __init__(self, resolver: Resolver = system_resolver, *, timeout_s: float = 2.0, ttl_s: float = 60.0,
                 negative_ttl_s: float = 10.0, max_entries: int = 1024, workers: int = 1, clock=time.monotonic):
        self.resolver, self.ttl_s, self.negative_ttl_s = resolver, ttl_s, negative_ttl_s
        self.max_entries, self.clock = max_entries, clock
        self.lookups = BoundedLookups(timeout_s=timeout_s, workers=workers)
        self._cache: OrderedDict[tuple[str, int], tuple[float, list[str] | BaseException]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[str]:
        key, now = (host, port), self.clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(key)
                return _answer(hit[1])
        try:
            answer: list[str] | BaseException = self.lookups(self.resolver, host, port)
            ttl = self.ttl_s
        except LookupsBusy:
            raise  # not an answer about this name: not cached
        except (OSError, UnicodeError) as exc:  # ResolveTimeout is an OSError
            answer, ttl = exc, self.negative_ttl_s
        with self._lock:
            self._cache[key] = (self.clock() + ttl, answer)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return _answer(answer)


def _answer(value):
    if isinstance(value, BaseException):
        raise value
    return list(value)
