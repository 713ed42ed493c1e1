"""How downloads fail: at once when retrying cannot help, later when it can, with the
underlying error kept for operators and the work files removed once the job has ended."""
from __future__ import annotations

import threading

import pytest

from workers.queue import jobs as queue
from workers.queue.errors import PermanentError, TransientError
from workers.queue.worker import Worker
from workers.pipeline.services import build_hooks, build_services
from workers.pipeline.steps import download
from workers.pipeline.table import STEPS

from .support.steps import TABLE


def test_an_empty_file_fails_at_once(step_ctx, media_server, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    video, ctx = step_ctx("download", media_server.add("/empty.mp4", empty))
    with pytest.raises(PermanentError) as err:
        download.run(video, ctx)
    assert err.value.cause in ("empty_file", "not_media"), err.value.cause


@pytest.mark.parametrize("header, expected", [("1e308", None), ("99999999", 30 * 86400.0), ("7", 7.0)])
def test_a_429_carries_the_hosts_retry_after_parsed_in_one_place(step_ctx, media_server, media, header, expected):
    url = media_server.add("/busy.mp4", media / "manifesto.mp4", status=[429] * 20, retry_after=header)
    video, ctx = step_ctx("download", url, download_retries=0)
    with pytest.raises(TransientError) as err:
        download.run(video, ctx)
    assert err.value.cause == "http_429" and err.value.retry_after == expected


def test_a_download_the_disk_cannot_take_is_retried_later_before_a_byte_is_fetched(step_ctx, media_server, media):
    video, ctx = step_ctx("download", media_server.add("/v.mp4", media / "manifesto.mp4"),
                          min_free_mb=10 ** 12)  # more than any disk has
    with pytest.raises(TransientError) as err:
        download.run(video, ctx)
    assert err.value.cause == "disk_full" and "free_bytes" in err.value.details
    assert media_server.bytes_sent("/v.mp4") == 0


def test_a_partial_download_is_dropped_at_the_first_disk_full(step_ctx, media_server, media):
    size = (media / "manifesto.mp4").stat().st_size
    url = media_server.add("/part.mp4", media / "manifesto.mp4", drop_after=size // 2)
    video, ctx = step_ctx("download", url, download_retries=0)
    with pytest.raises(TransientError) as err:
        download.run(video, ctx)
    assert err.value.cause == "network"
    work = ctx.settings.data_dir / "work" / str(video.id) / "download"
    assert any(p.stat().st_size >= size // 2 for p in work.iterdir())  # kept to resume: the disk had room
    video, ctx = step_ctx("download", url, download_retries=0, min_free_mb=10 ** 12)
    with pytest.raises(TransientError) as err:
        download.run(video, ctx)
    assert err.value.cause == "disk_full" and list(work.iterdir()) == []


@pytest.mark.parametrize("status, cause", [(503, "http_503"), (520, "http_other"), (599, "http_other")])
def test_an_unknown_http_status_is_bucketed_so_the_cause_label_stays_small(step_ctx, media_server, media, status,
                                                                           cause):
    url = media_server.add(f"/s{status}.mp4", media / "manifesto.mp4", status=[status] * 20)
    video, ctx = step_ctx("download", url, download_retries=0)
    with pytest.raises(TransientError) as err:
        download.run(video, ctx)
    assert err.value.cause == cause and err.value.details["http_status"] == status
    assert str(status) in err.value.message  # the number is kept, in words and details


@pytest.fixture
def run_download(database_url, db, settings, tmp_path):
    """run(url, **settings) -> job row, after an in-process worker ran the real download step
    with the product's services (the cleanup hook included)."""
    def run(url, **overrides):
        s = settings.replace(data_dir=tmp_path / "data", max_retries=0, download_retries=0, **overrides)
        token = queue.enqueue(db, source_url=url, normalized_url=url, max_retries=0, options={}).token
        services = {**build_services(s.replace(storage_backend="local"))}
        worker = Worker(database_url, {**TABLE, "download": download.run}, steps=STEPS, settings=s,
                        services=services, hooks=build_hooks(s, services["storage"]), burst=True)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        thread.join(60)
        assert not thread.is_alive()
        return queue.job_by_token(db, token)
    return run


def test_a_final_failure_removes_the_partial_download_and_keeps_the_cause_for_operators(run_download, media_server,
                                                                                        media, tmp_path):
    size = (media / "manifesto.mp4").stat().st_size
    url = media_server.add("/cut.mp4", media / "manifesto.mp4", drop_after=size // 2)
    job = run_download(url)
    assert (job["status"], job["failure_cause"]) == ("failed", "network")
    details = job["failure_details"]
    assert "this is final" in details["message"] and "127.0.0.1" not in details["message"]
    assert "bytes" in details["error"] or "Connection" in details["error"]  # yt-dlp's own words
    work = tmp_path / "data" / "work" / str(job["video_id"])
    assert media_server.bytes_sent("/cut.mp4") >= size // 2 and not work.exists()


def test_a_host_error_keeps_its_text_for_operators(run_download, media_server, media):
    job = run_download(media_server.add("/down.mp4", media / "manifesto.mp4", status=[503] * 20))
    assert job["failure_cause"] == "http_503"
    assert "503" in job["failure_details"]["error"]  # the host's answer, not our sentence
    assert job["failure_details"]["message"].startswith("the video host answered HTTP 503; this is final")
