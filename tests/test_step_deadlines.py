"""Steps stop early: a trickling host hits the download's deadline (step_timeout, retried
then final), and cancellation or a lost lease breaks off a running download or ffmpeg at
once instead of when the remote or the render is done. A second SIGTERM releases at once."""
from __future__ import annotations

import signal
import threading

import pytest

from workers.queue import jobs as queue
from workers.queue.context import StepContext
from workers.pipeline.media import ffmpeg_binary, run_tool
from workers.queue.worker import Worker
from workers.pipeline.table import STEPS
from workers.pipeline.steps import download
from workers.pipeline.storage import LocalStorage

from .conftest import wait_for
from .support.steps import TABLE


@pytest.fixture
def trickle_worker(database_url, db, settings, tmp_path, media_server, media):
    """start(**settings) -> (token, worker, thread): a real download step against a host that
    sends one byte every 0.2 s (the whole file would take days), in an in-process worker."""
    url = media_server.add("/trickle.mp4", media / "manifesto.mp4", trickle=0.2)
    started = []

    def start(lease_seconds=30.0, **overrides):
        token = queue.enqueue(db, source_url=url, normalized_url=url, max_retries=0, options={}).token
        worker_settings = settings.replace(data_dir=tmp_path / "data", lease_seconds=lease_seconds, **overrides)
        worker = Worker(database_url, {**TABLE, "download": download.run}, steps=STEPS, settings=worker_settings,
                        services={"storage": LocalStorage(tmp_path / "storage")}, burst=True)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        started.append((worker, thread))
        return token, worker, thread

    yield start
    for worker, thread in started:
        worker.stop(immediately=True)
        thread.join(10)


def finished(thread, within=30.0) -> bool:
    thread.join(within)
    return not thread.is_alive()


def test_a_trickling_host_stops_at_the_downloads_deadline(trickle_worker, db):
    token, worker, thread = trickle_worker(download_stall_s=1.5, download_min_rate_kbps=20)
    assert finished(thread), "the download never stopped"
    job = queue.job_by_token(db, token)
    assert (job["status"], job["step"], job["failure_cause"]) == ("failed", "download", "step_timeout")
    assert "took too long" in job["failure_details"]["message"] and "this is final" in job["failure_details"]["message"]
    assert "KB/s" in job["failure_details"]["reason"]  # operators see which limit


def test_cancel_stops_a_running_download_at_once(trickle_worker, db, media_server):
    token, worker, thread = trickle_worker()  # a 60 s stall window: only the cancel can stop it
    assert media_server.body_started.wait(30)
    assert queue.request_cancel(db, token) == "running"
    assert finished(thread), "the cancelled download kept running"
    assert queue.job_by_token(db, token)["status"] == "cancelled"
    assert (worker.outcomes, worker.last_outcome.result) == (1, "cancelled")


def test_a_lost_lease_stops_a_running_download_early(trickle_worker, db, media_server):
    token, worker, thread = trickle_worker(lease_seconds=2.0)
    assert media_server.body_started.wait(30)
    # Another worker took the job over (a new attempt): this worker's heartbeat finds out.
    db.execute("UPDATE video_processing_queue SET attempt = attempt + 1, locked_by = 'someone-else'")
    assert finished(thread), "the step kept running after its lease was lost"
    assert (worker.outcomes, worker.last_outcome.result) == (1, "lease_lost")
    job = queue.job_by_token(db, token)
    assert queue.checkpoints_for_video(db, job["video_id"]) == {}  # it wrote nothing
    # ... but its wasted run is counted where operators look
    wasted = db.execute("SELECT results_dropped FROM wasted_work WHERE step = 'download'").fetchone()
    assert wasted is not None and wasted["results_dropped"] == 1


def test_an_abort_kills_the_running_ffmpeg(settings):
    ctx = StepContext(step="clip_generation", checkpoints={}, options={}, settings=settings)
    forever = [ffmpeg_binary(settings.ffmpeg), "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
               "-i", "sine=frequency=440:duration=3600", "-f", "null", "-"]
    timer = threading.Timer(0.5, ctx.abort)  # from another thread, as the heartbeat does
    timer.start()
    result = run_tool(forever, timeout=120, on_abort=ctx.on_abort)
    timer.join()
    assert result.returncode == -signal.SIGKILL
    assert ctx._abort_callbacks == []  # unregistered once the tool ended


def test_a_second_sigterm_releases_the_step_in_flight_at_once(db, workers, exec_log, tmp_path):
    from .test_processes import start_blocked

    token, worker, _ = start_blocked(db, workers, tmp_path, "http://example.com/twice.mp4", "download",
                                     args=("--shutdown-grace", "300"))
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: "finishing in-flight steps" in workers.logs(), message="the first signal to be handled")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0  # not after the 300 s grace
    job = queue.job_by_token(db, token)
    assert (job["status"], job["step"], job["retry"]) == ("queued", "download", 0)


def test_a_sigterm_past_the_grace_kills_the_render_before_handing_the_job_back(db, workers, exec_log):
    # A render that finished after its lease was handed back would be done twice (the
    # chaos run caught one): the worker kills it first, then releases the job.
    from .support.steps import read_executions

    token = queue.enqueue(db, source_url="http://example.com/r.mp4", normalized_url="http://example.com/r.mp4",
                          options={"script": {"download": {"ffmpeg_seconds": 20}}}).token
    worker = workers.start("--shutdown-grace", "0.5")
    wait_for((exec_log / "ffmpeg-started").exists, message="the render to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    job = queue.job_by_token(db, token)
    assert (job["status"], job["step"], job["retry"]) == ("queued", "download", 0)
    assert [e["event"] for e in read_executions(exec_log)] == ["start"]  # it never ended
    assert (exec_log / "ffmpeg-exit").read_text() == str(-signal.SIGKILL)  # killed, not run to its end
    assert "released at shutdown" in workers.logs()
