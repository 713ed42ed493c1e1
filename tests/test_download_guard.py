"""The SSRF guard at connect time: every connection the download step opens -- the HEAD
probe, each redirect hop, the GET, extractor pages, HLS manifests and segments -- goes to an
address the guard approved, and to the very address it checked.

"A public host" is a loopback alias that only these tests count as public (support/dns.py);
every other address is refused before a socket is opened, so no test here can connect to
anything but this machine. The attacker's target, a "secret" server, listens on 127.0.0.1:
its request log must stay empty."""
from __future__ import annotations

import pytest

from workers.queue.errors import PermanentError
from workers.pipeline.steps import download

from doubles.dns import PUBLIC_ALIAS, Flipping, pretend_public, public_localhost
from doubles.media_server import MediaServer
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
