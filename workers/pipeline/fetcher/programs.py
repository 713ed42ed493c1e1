"""yt-dlp's ways to the network outside its request director, shut for a guarded download.

``connections.install`` makes one guarded handler the only way a ``YoutubeDL`` reaches the
network -- for the requests yt-dlp makes itself. yt-dlp can also hand work to an external
program that opens its own connections, out of the guard's sight:

* its HLS downloader gives the whole download to ffmpeg when the manifest has a feature it
  does not handle (``METHOD=SAMPLE-AES``; ``AES-128`` without pycryptodomex while an ffmpeg
  is on PATH), whatever ``external_downloader`` says;
* live streams, rtmp, websocket, FC2 and niconico go to ffmpeg or rtmpdump, and
  ``--downloader`` picks aria2c, curl, wget, axel or httpie;
* a few extractors run PhantomJS, which loads pages itself.

``seal`` refuses all of them for one ``YoutubeDL``: every downloader but yt-dlp's own HTTP,
HLS and DASH ones (``NATIVE``), and PhantomJS, raise ``ExternalProgramRefused`` before their
program starts -- whether or not it is installed, so the download fails at once, for good,
with ``unsupported_protocol``. The hook is put on yt-dlp's classes once per process and acts
only on a sealed ``YoutubeDL``; anything else in the process that uses yt-dlp is untouched.

What still runs a program: ffmpeg merging and fixing up the downloaded files (local files
only; ffmpeg's file protocol lets a local input open nothing but file, crypto and data),
and YouTube's JavaScript challenge in deno (run without --allow-net), which the download's
options name explicitly (``JS_RUNTIMES``).
"""
from __future__ import annotations

import functools
import threading

from workers.pipeline.fetcher.connections import GuardRefused

SEAL = "_clipqueue_connections"   # the attribute a sealed YoutubeDL carries: its connections
JS_RUNTIMES = {"deno": {}}        # deno denies network access to the script it runs
_installed = threading.Lock()
_done: list[bool] = []


class ExternalProgramRefused(GuardRefused):
    """yt-dlp wanted an external program (``program``) that would connect by itself."""

    def __init__(self, program: str):
        super().__init__("unsupported_protocol",
                         f"this video's stream needs an external downloader ({program}), which ClipQueue never "
                         f"runs: it downloads only what yt-dlp fetches itself", program)
        self.program = program


def native_downloaders() -> tuple[type, ...]:
    """yt-dlp's own downloaders of HTTP, HLS and DASH: they connect through its request director."""
    from yt_dlp.downloader import DashSegmentsFD, HlsFD, HttpFD

    return HttpFD, HlsFD, DashSegmentsFD


def seal(ydl, connections) -> None:
    """Refuse external programs for ``ydl`` (a refusal is also recorded in ``connections.refused``)."""
    _install_hooks()
    ydl.__dict__[SEAL] = connections


def _refuse(ydl, program: str) -> None:
    connections = getattr(ydl, SEAL, None) if ydl is not None else None
    if connections is None:
        return
    refused = ExternalProgramRefused(program)
    connections.record(refused)
    raise refused


def _downloader_hook(original):
    @functools.wraps(original)
    def real_download(self, filename, info_dict):
        _refuse(getattr(self, "ydl", None), _program(type(self)))
        return original(self, filename, info_dict)
    return real_download


def _install_hooks() -> None:
    with _installed:
        if _done:
            return
        from yt_dlp.downloader.common import FileDownloader
        from yt_dlp.extractor.openload import PhantomJSwrapper

        native = native_downloaders()
        for cls in _subclasses(FileDownloader):
            if cls not in native and "real_download" in vars(cls):
                cls.real_download = _downloader_hook(cls.real_download)
        init = PhantomJSwrapper.__init__

        @functools.wraps(init)
        def phantomjs(self, extractor, *args, **kwargs):
            self._TMP_FILES = {}  # what its __del__ cleans up, should the refusal below stop it here
            _refuse(getattr(extractor, "_downloader", None), "phantomjs")
            init(self, extractor, *args, **kwargs)

        PhantomJSwrapper.__init__ = phantomjs
        _done.append(True)


def _subclasses(cls: type) -> list[type]:
    found, todo = [], [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


def _program(cls: type) -> str:
    """ffmpeg, curl, aria2c... for an external downloader; rtmp, f4m... for another."""
    from yt_dlp.downloader.external import ExternalFD

    return cls.get_basename() if issubclass(cls, ExternalFD) else cls.__name__.removesuffix("FD").lower()
