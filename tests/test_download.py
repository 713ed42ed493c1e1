"""The download step: real yt-dlp against a local Range-capable server, real PyAV probing."""
from __future__ import annotations

import hashlib

import pytest

from workers.queue.errors import PermanentError, TransientError
from workers.pipeline.steps import download



def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_video_url_lands_in_storage_with_its_facts(step_ctx, media_server, media):
    url = media_server.add("/talk.mp4", media / "manifesto.mp4")
    video, ctx = step_ctx("download", url)
    out = download.run(video, ctx)
    assert out["key"] == "videos/1/download/source" and out["storage_keys"] == [out["key"]]
    stored = step_ctx.storage.local_path(out["key"])
    assert sha(stored) == sha(media / "manifesto.mp4") == out["sha256"]
    assert (out["size"], out["duration"], out["video_codec"], out["audio_codec"], out["width"]) == \
        ((media / "manifesto.mp4").stat().st_size, 88.08, "h264", "aac", 320)
    assert ctx.take_progress() == 1.0


def test_a_dropped_connection_resumes_with_a_range_request(step_ctx, media_server, media):
    size = (media / "manifesto.mp4").stat().st_size
    url = media_server.add("/drop.mp4", media / "manifesto.mp4", drop_after=size // 2)
    video, ctx = step_ctx("download", url)
    out = download.run(video, ctx)
    assert out["sha256"] == sha(media / "manifesto.mp4")
    ranges = [s.range for s in media_server.log if s.path == "/drop.mp4" and s.range]
    resumed_at = [int(r[6:-1]) for r in ranges if r.endswith("-")]
    assert any(size // 2 - 32 * 1024 <= n <= size // 2 for n in resumed_at), media_server.log
    assert media_server.bytes_sent("/drop.mp4") <= 1.1 * size


def test_a_job_level_retry_resumes_the_partial_file(step_ctx, media_server, media):
    size = (media / "manifesto.mp4").stat().st_size
    url = media_server.add("/flaky.mp4", media / "manifesto.mp4", drop_after=size // 3)
    video, ctx = step_ctx("download", url, download_retries=0)
    with pytest.raises(TransientError) as first:
        download.run(video, ctx)
    assert first.value.cause == "network"
    out = download.run(video, ctx)  # what the runner does after the backoff
    assert out["sha256"] == sha(media / "manifesto.mp4")
    resumed_at = [int(s.range[6:-1]) for s in media_server.log if (s.range or "").endswith("-")]
    assert any(size // 3 - 32 * 1024 <= n <= size // 3 for n in resumed_at), media_server.log
    assert media_server.bytes_sent("/flaky.mp4") <= 1.1 * size


def test_a_download_already_in_storage_is_not_repeated(step_ctx, media_server, media):
    url = media_server.add("/once.mp4", media / "manifesto.mp4")
    video, ctx = step_ctx("download", url)
    first = download.run(video, ctx)
    requests = len(media_server.log)
    assert download.run(video, ctx) == first
    assert len(media_server.log) == requests


@pytest.mark.parametrize("name, content, cause", [
    ("/page.html", b"<html><head><title>x</title></head><body>no video here</body></html>", "unsupported_url"),
    ("/notes.txt", b"just some text, not a video\n" * 20, "not_media"),
])
def test_a_url_that_is_not_media_fails_permanently(step_ctx, media_server, tmp_path, name, content, cause):
    path = tmp_path / name.strip("/")
    path.write_bytes(content)
    video, ctx = step_ctx("download", media_server.add(name, path))
    with pytest.raises(PermanentError) as err:
        download.run(video, ctx)
    assert err.value.cause == cause and err.value.message


def test_a_truncated_mp4_fails_with_a_clear_cause(step_ctx, media_server, media, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes((media / "manifesto.mp4").read_bytes()[:300_000])
    video, ctx = step_ctx("download", media_server.add("/broken.mp4", broken))
    with pytest.raises(PermanentError) as err:
        download.run(video, ctx)
    assert err.value.cause in ("not_media", "corrupt_media")
    assert not step_ctx.storage.exists("videos/1/download/source")


def test_a_missing_file_is_permanent(step_ctx, media_server):
    video, ctx = step_ctx("download", media_server.url("/nothing.mp4"))
    with pytest.raises(PermanentError) as err:
        download.run(video, ctx)
    assert err.value.cause == "not_found"


@pytest.mark.parametrize("status, cause", [(503, "http_503"), (500, "http_500"), (429, "http_429")])
def test_server_errors_and_rate_limits_are_transient(step_ctx, media_server, media, status, cause):
    url = media_server.add("/busy.mp4", media / "manifesto.mp4", status=[status] * 50)
    video, ctx = step_ctx("download", url, download_retries=0)
    with pytest.raises(TransientError) as err:
        download.run(video, ctx)
    assert err.value.cause == cause
    if status == 429:
        assert err.value.retry_after == 1.0


def test_the_ssrf_guard_applies_at_download_time(step_ctx, media_server, media):
    video, ctx = step_ctx("download", media_server.add("/x.mp4", media / "manifesto.mp4"), allow_private_urls=False)
    with pytest.raises(PermanentError) as err:
        download.run(video, ctx)
    assert err.value.cause == "forbidden_host"
    assert media_server.log == []


def test_a_video_over_the_duration_cap_is_refused(step_ctx, media_server, media):
    video, ctx = step_ctx("download", media_server.add("/long.mp4", media / "manifesto.mp4"), max_duration_s=60)
    with pytest.raises(PermanentError) as err:
        download.run(video, ctx)
    assert err.value.cause == "too_long" and "limit is 1 min" in err.value.message


def test_a_file_over_the_size_cap_is_refused_without_downloading_it(step_ctx, media_server, media):
    video, ctx = step_ctx("download", media_server.add("/big.mp4", media / "manifesto.mp4"), max_filesize_mb=0.1)
    with pytest.raises(PermanentError) as err:
        download.run(video, ctx)
    assert err.value.cause == "too_large"
    assert media_server.bytes_sent("/big.mp4") < 100_000


def test_an_audio_only_file_is_accepted(step_ctx, media_server, media):
    video, ctx = step_ctx("download", media_server.add("/jfk.flac", media / "jfk.flac"))
    out = download.run(video, ctx)
    assert out["video_codec"] is None and out["audio_codec"] == "flac" and out["duration"] == 11.0


def test_a_video_that_runs_longer_than_its_sound_is_not_mistaken_for_a_truncated_file(media, tmp_path):
    from workers.pipeline.media import probe

    from .support.mediafiles import ffmpeg

    out = tmp_path / "outro.mp4"  # 11 s of speech, then 5 s of picture without sound
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=320x180:r=10:d=16", "-i", str(media / "jfk.flac"),
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(out))
    info = probe(out)
    assert info.duration >= 15.9 and info.audio_codec == "aac"


def test_an_mp4_cut_short_after_its_header_is_reported_as_truncated(media, tmp_path):
    from workers.queue.errors import PermanentError
    from workers.pipeline.media import probe

    from .support.mediafiles import ffmpeg

    whole = tmp_path / "faststart.mp4"  # header first, so a cut keeps a readable header
    ffmpeg("-i", str(media / "manifesto.mp4"), "-c", "copy", "-movflags", "+faststart", str(whole))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(PermanentError) as err:
        probe(cut)
    assert err.value.cause == "corrupt_media" and "truncated" in err.value.message


def test_a_redirect_loop_fails_permanently(step_ctx, media_server, media):
    url = media_server.url("/loop.mp4")
    media_server.add("/loop.mp4", media / "manifesto.mp4", redirect=url)
    video, ctx = step_ctx("download", url)
    with pytest.raises(PermanentError) as err:
        download.run(video, ctx)
    assert err.value.cause == "too_many_redirects"


@pytest.mark.parametrize("hops", [5, 6])
def test_five_redirects_are_followed_and_a_sixth_is_refused(step_ctx, media_server, media, hops):
    # /hop1 -> /hop2 -> ... -> /hop<hops> -> /v.mp4: every hop a different URL (no loop)
    target = media_server.add("/v.mp4", media / "manifesto.mp4")
    for n in range(hops, 0, -1):
        target = media_server.add(f"/hop{n}.mp4", media / "manifesto.mp4", redirect=target)
    video, ctx = step_ctx("download", target)
    if hops == 5:
        out = download.run(video, ctx)
        assert out["sha256"] == sha(media / "manifesto.mp4") == sha(step_ctx.storage.local_path(out["key"]))
    else:
        with pytest.raises(PermanentError) as err:
            download.run(video, ctx)
        assert err.value.cause == "too_many_redirects" and "5 times" in err.value.message
        assert media_server.bytes_sent("/v.mp4") == 0  # the sixth hop was never followed
    assert {s.path for s in media_server.log if s.status == 302} == {f"/hop{n}.mp4" for n in range(1, hops + 1)}
