"""The SSRF guard at connect time: every connection the download step opens -- the HEAD
probe, each redirect hop, the GET, extractor pages, HLS manifests and segments -- goes to an
address the guard approved, and to the very address it checked.

"A public host" is a loopback alias that only these tests count as public (support/dns.py);
every other address is refused before a socket is opened, so no test here can connect to
anything but this machine. The attacker's target, a "secret" server, listens on 127.0.0.1:
its request log must stay empty."""
from __future__ import annotations

import os
import time

import pytest

from workers.queue.errors import PermanentError, TransientError
from workers.pipeline.steps import download

from doubles.dns import PUBLIC_ALIAS, Flipping, Unanswered, pretend_public, public_localhost
from doubles.media_server import MediaServer
from workers.pipeline.media import ffmpeg_binary

from .support.mediafiles import ffmpeg


@pytest.fixture
def guarded(step_ctx):
    """(video, ctx) for the download step with private URLs refused and the test DNS."""
    def make(url, resolver=public_localhost, **overrides):
        video, ctx = step_ctx("download", url, allow_private_urls=False, **overrides)
        ctx.services["resolver"] = resolver
        ctx.services["address_policy"] = pretend_public
        return video, ctx
    make.storage = step_ctx.storage
    return make


@pytest.fixture
def secret(media):
    server = MediaServer().start()  # 127.0.0.1: loopback, what an SSRF wants to reach
    server.add("/secret.mp4", media / "manifesto.mp4")
    yield server
    server.stop()


def refused(video, ctx) -> PermanentError:
    with pytest.raises(PermanentError) as err:
        download.run(video, ctx)
    assert err.value.cause == "forbidden_host", err.value.message
    return err.value


def nothing_stored(storage) -> bool:
    return not storage.exists("videos/1/download/source")


@pytest.mark.parametrize("target", ["SECRET", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/v.mp4",
                                    "http://[::1]/v.mp4", "http://metadata.google.internal/computeMetadata/v1/",
                                    "http://[::ffff:127.0.0.1]/v.mp4"])
def test_a_redirect_to_a_private_address_is_refused(guarded, public_server, secret, media, target):
    target = secret.url("/secret.mp4") if target == "SECRET" else target
    video, ctx = guarded(public_server.add("/hop.mp4", media / "manifesto.mp4", redirect=target))
    refused(video, ctx)
    # only the first hop was asked; nothing was fetched from it or from the target
    assert [(s.path, s.status, s.bytes_sent) for s in public_server.log] == [("/hop.mp4", 302, 0)]
    assert secret.log == [] and nothing_stored(guarded.storage)


@pytest.mark.parametrize("head", ["video/mp4", "text/html", "405"])
@pytest.mark.parametrize("target", ["SECRET", "http://169.254.169.254/secret.mp4"])
def test_a_get_that_redirects_where_the_head_did_not_is_refused(guarded, public_server, secret, media, tmp_path,
                                                                head, target):
    # The reproduced attack: HEAD says "a video, right here"; the GET bounces to the secret.
    target = secret.url("/secret.mp4") if target == "SECRET" else target
    if head == "text/html":
        page = tmp_path / "page.html"
        page.write_text("<html><body>a video page</body></html>")
        url = public_server.add("/page.html", page, get_redirect=target)
    else:
        url = public_server.add("/v.mp4", media / "manifesto.mp4", get_redirect=target,
                                **({"head_status": 405} if head == "405" else {}))
    video, ctx = guarded(url)
    refused(video, ctx)
    assert secret.log == [] and nothing_stored(guarded.storage)


def test_a_name_that_rebinds_to_a_private_address_after_the_check_is_refused(guarded, secret):
    # The submit-time check saw a public address; the connection's own lookup gets 127.0.0.1.
    flipping = Flipping()
    video, ctx = guarded(secret.url("/secret.mp4").replace("127.0.0.1", "public.test"), resolver=flipping)
    refused(video, ctx)
    assert flipping.calls >= 2 and secret.log == [] and nothing_stored(guarded.storage)


def test_a_name_with_a_public_and_a_private_address_is_refused(guarded, secret):
    video, ctx = guarded(secret.url("/secret.mp4").replace("127.0.0.1", "public.test"),
                         resolver=lambda host, port: [PUBLIC_ALIAS, "127.0.0.1"])
    refused(video, ctx)
    assert secret.log == []


def _manifest(tmp_path, segment_url: str):
    path = tmp_path / "playlist.m3u8"
    path.write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:90\n#EXT-X-MEDIA-SEQUENCE:0\n"
                    f"#EXTINF:88.0,\n{segment_url}\n#EXT-X-ENDLIST\n")
    return path


@pytest.fixture
def segment(media, tmp_path):
    ts = tmp_path / "seg0.ts"
    ffmpeg("-i", str(media / "manifesto.mp4"), "-c", "copy", "-f", "mpegts", str(ts))
    return ts


def test_an_hls_manifest_whose_segments_point_at_a_private_address_is_refused(guarded, public_server, secret,
                                                                              segment, tmp_path):
    secret.add("/seg0.ts", segment)
    video, ctx = guarded(public_server.add("/playlist.m3u8", _manifest(tmp_path, secret.url("/seg0.ts"))))
    refused(video, ctx)
    assert [s.path for s in public_server.log if s.status == 200] and secret.log == []
    assert nothing_stored(guarded.storage)


def test_hls_is_downloaded_by_yt_dlp_itself_through_the_guard(guarded, public_server, segment, tmp_path):
    public_server.add("/seg0.ts", segment)
    manifest = _manifest(tmp_path, public_server.url("/seg0.ts"))
    video, ctx = guarded(public_server.add("/playlist.m3u8", manifest))
    out = download.run(video, ctx)
    assert 87 < out["duration"] < 89
    # the segment came over the guarded connection: the public server sent all its bytes
    assert public_server.bytes_sent("/seg0.ts") == segment.stat().st_size


def test_a_redirect_to_a_public_media_file_is_followed(guarded, public_server, media):
    target = public_server.add("/x.mp4", media / "manifesto.mp4")
    video, ctx = guarded(public_server.add("/hop.mp4", media / "manifesto.mp4", redirect=target))
    out = download.run(video, ctx)
    assert out["size"] == (media / "manifesto.mp4").stat().st_size
    assert public_server.bytes_sent("/hop.mp4") == 0
    assert public_server.bytes_sent("/x.mp4") == out["size"]


# --- yt-dlp's ways out of the guard: external programs -----------------------------------

@pytest.fixture
def short_segment(media, tmp_path):
    ts = tmp_path / "short.ts"
    ffmpeg("-i", str(media / "manifesto.mp4"), "-t", "10", "-c", "copy", "-f", "mpegts", str(ts))
    return ts


def _forget_ffmpeg(monkeypatch):
    """yt-dlp remembers, per process, whether "ffmpeg" on PATH answered: these tests change PATH."""
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    monkeypatch.setattr(FFmpegPostProcessor, "_version_cache", {None: None})
    monkeypatch.setattr(FFmpegPostProcessor, "_features_cache", {})


@pytest.fixture
def ffmpeg_on_path(tmp_path, monkeypatch):
    """An ``ffmpeg`` first on PATH that writes each command line to a record, then runs the
    real ffmpeg: the program yt-dlp hands a stream to, which would connect by itself."""
    _forget_ffmpeg(monkeypatch)
    bin_dir, record = tmp_path / "bin", tmp_path / "ffmpeg-runs.txt"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{record}"\nexec "{ffmpeg_binary()}" "$@"\n')
    (bin_dir / "ffmpeg").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return record


@pytest.fixture
def no_ffmpeg_on_path(tmp_path, monkeypatch):
    _forget_ffmpeg(monkeypatch)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def _encrypted_manifest(tmp_path, key_line: str, segment_url: str):
    path = tmp_path / "locked.m3u8"
    path.write_text("#EXTM3U\n#EXT-X-VERSION:5\n#EXT-X-TARGETDURATION:11\n#EXT-X-MEDIA-SEQUENCE:0\n"
                    f"{key_line}\n#EXTINF:10.0,\n{segment_url}\n#EXT-X-ENDLIST\n")
    return path


KEYS = {"sample-aes": '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{key}"',
        "aes-128": '#EXT-X-KEY:METHOD=AES-128,URI="{key}"',
        "fairplay": '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{key}",KEYFORMAT="com.apple.streamingkeydelivery"'}


def _expected_cause(method: str, ffmpeg_present: bool) -> str:
    from yt_dlp.dependencies import Cryptodome

    if method == "fairplay":
        return "drm_protected"
    if method == "aes-128" and (Cryptodome.AES or not ffmpeg_present):
        return "forbidden_host"  # yt-dlp decrypts it itself: the inward key URL meets the guard
    return "unsupported_protocol"  # yt-dlp would hand the stream to ffmpeg


@pytest.mark.parametrize("method", sorted(KEYS))
@pytest.mark.parametrize("path", ["ffmpeg on PATH", "no ffmpeg"])
def test_an_encrypted_hls_stream_never_reaches_the_network_through_ffmpeg(guarded, public_server, secret,
                                                                          short_segment, tmp_path, request,
                                                                          method, path):
    # The attack: the manifest is on a public host; its key and segment are on the canary
    # (127.0.0.1). An ffmpeg that yt-dlp hands the stream to would fetch them itself.
    record = request.getfixturevalue("ffmpeg_on_path" if path == "ffmpeg on PATH" else "no_ffmpeg_on_path")
    secret.add("/seg0.ts", short_segment)
    key = tmp_path / "key.bin"
    key.write_bytes(b"0123456789abcdef")
    secret.add("/key.bin", key)
    manifest = _encrypted_manifest(tmp_path, KEYS[method].format(key=secret.url("/key.bin")), secret.url("/seg0.ts"))
    # The manifest's host named by its (public) address, so an ffmpeg would reach it too.
    url = public_server.add("/locked.m3u8", manifest).replace("localhost", PUBLIC_ALIAS)
    video, ctx = guarded(url)
    with pytest.raises(PermanentError) as err:
        download.run(video, ctx)
    assert err.value.cause == _expected_cause(method, record is not None), (err.value.cause, err.value.message)
    assert secret.log == [] and nothing_stored(guarded.storage)
    runs = record.read_text() if record is not None and record.exists() else ""
    assert "http" not in runs, runs  # ffmpeg was never given a network input


def test_aes_128_is_decrypted_by_yt_dlp_itself_through_the_guard(guarded, public_server, short_segment, tmp_path,
                                                                  no_ffmpeg_on_path):
    from yt_dlp.aes import aes_cbc_encrypt_bytes

    key, iv = b"0123456789abcdef", bytes(16)
    locked = tmp_path / "locked.ts"
    data = short_segment.read_bytes()
    pad = 16 - len(data) % 16
    locked.write_bytes(aes_cbc_encrypt_bytes(data + bytes([pad]) * pad, key, iv))
    (tmp_path / "key.bin").write_bytes(key)
    public_server.add("/locked.ts", locked)
    key_url = public_server.add("/key.bin", tmp_path / "key.bin")
    line = f'#EXT-X-KEY:METHOD=AES-128,URI="{key_url}",IV=0x{iv.hex()}'
    video, ctx = guarded(public_server.add("/locked.m3u8", _encrypted_manifest(tmp_path, line,
                                                                               public_server.url("/locked.ts"))))
    out = download.run(video, ctx)
    assert 9.5 < out["duration"] < 10.5
    assert public_server.bytes_sent("/key.bin") == 16 and public_server.bytes_sent("/locked.ts") == locked.stat().st_size


def test_every_downloader_but_yt_dlps_own_is_refused_for_a_guarded_download(tmp_path):
    import yt_dlp
    from yt_dlp.downloader.common import FileDownloader
    from yt_dlp.extractor.generic import GenericIE
    from yt_dlp.extractor.openload import PhantomJSwrapper

    from workers.pipeline.fetcher.connections import GuardedConnections, install
    from workers.pipeline.fetcher.guard import Guard
    from workers.pipeline.fetcher.programs import ExternalProgramRefused, _subclasses, native_downloaders

    connections = GuardedConnections(Guard(resolver=public_localhost, allowed=pretend_public))
    with yt_dlp.YoutubeDL({"quiet": True}) as ydl:
        install(ydl, connections)
        others = [cls for cls in _subclasses(FileDownloader)
                  if not issubclass(cls, native_downloaders()) and cls.__name__ not in ("FragmentFD",)]
        assert {"FFmpegFD", "CurlFD", "Aria2cFD", "WgetFD", "RtmpFD"} <= {cls.__name__ for cls in others}
        for cls in others:
            with pytest.raises(ExternalProgramRefused):
                cls(ydl, ydl.params).real_download(str(tmp_path / "out"), {
                    "url": secret_url(), "protocol": "http", "ext": "mp4", "id": "x", "http_headers": {}})
        with pytest.raises(ExternalProgramRefused):
            PhantomJSwrapper(GenericIE(ydl))
    assert len(connections.refused) == len(others) + 1
    assert all(r.code == "unsupported_protocol" for r in connections.refused)


def secret_url() -> str:
    return "http://127.0.0.1:9/never-fetched.mp4"  # port 9 (discard): nothing listens; nothing connects


def test_a_video_hosts_dns_that_does_not_answer_is_a_transient_failure_within_the_bound(guarded, public_server,
                                                                                         media):
    hole = Unanswered()
    video, ctx = guarded(public_server.add("/v.mp4", media / "manifesto.mp4"), resolver=hole, dns_timeout_s=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(TransientError) as err:
            download.run(video, ctx)
    finally:
        hole.answer()
    # Two lookups of at most 0.3 s each (the early check lets a slow name through; the
    # connection's own lookup gives up): seconds, where an unbounded lookup waits a minute.
    assert err.value.cause == "dns_timeout" and time.monotonic() - started < 10
    assert public_server.log == [] and nothing_stored(guarded.storage)
