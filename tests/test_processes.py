"""The worker runtime as real processes against a real Postgres: exactly once under
concurrency, killed and paused workers, fleet-wide limits, graceful shutdown, wake-ups."""
from __future__ import annotations

import collections
import signal

from workers.queue import jobs as queue

from .conftest import wait_for
from .support.steps import read_executions


def submit(db, url, script=None, max_retries=3):
    return queue.enqueue(db, source_url=url, normalized_url=url, max_retries=max_retries,
                         options={"script": script or {}}).token


def start_blocked(db, workers, tmp_path, url, step, *, lease=2.0, max_retries=3, args=()):
    """Submit a video whose ``step`` blocks until the returned ``go`` file exists, start a
    worker, and wait until the step runs in it. Returns (token, worker, go)."""
    started, go = tmp_path / f"started-{step}", tmp_path / f"go-{step}"
    token = submit(db, url, max_retries=max_retries,
                   script={step: {"marker": str(started), "wait_for_file": str(go)}})
    worker = workers.start(*args, lease=lease)
    wait_for(started.exists, message=f"{step} to start")
    return token, worker, go


def statuses(db):
    rows = db.execute("SELECT status::text AS status, count(*) AS n FROM video_processing_queue GROUP BY 1")
    return {r["status"]: r["n"] for r in rows}


def max_overlap(intervals):
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                   key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


def intervals(executions, step):
    starts, spans = {}, []
    for e in executions:
        if e["step"] != step:
            continue
        key = (e["video_id"], e["attempt"])
        if e["event"] == "start":
            starts[key] = e["t"]
        elif e["event"] == "end":
            spans.append((starts[key], e["t"]))
    return spans


def test_exactly_once_200_videos_5_steps_8_worker_processes(db, workers, exec_log, tmp_path):
    # The first four downloads wait for one another: they can only finish if four
    # processes run at once, so the spread over processes is proven, not hoped for.
    meet = [str(tmp_path / "meet"), 4]
    for i in range(200):
        submit(db, f"http://example.com/video-{i}.mp4", script={"download": {"rendezvous": meet}} if i < 4 else None)
    for _ in range(8):
        workers.start("--burst")
    assert workers.wait_all(timeout=240) == [0] * 8, workers.logs()[-3000:]

    assert statuses(db) == {"done": 200}
    per_pair = db.execute("SELECT video_id, step, count(*) AS n FROM step_checkpoints GROUP BY 1, 2").fetchall()
    assert len(per_pair) == 1000 and all(r["n"] == 1 for r in per_pair)
    runs = collections.Counter((e["video_id"], e["step"], e["event"]) for e in read_executions(exec_log))
    assert len(runs) == 2000 and set(runs.values()) == {1}  # one start and one end per (video, step)
    kinds = dict((r["kind"], r["n"]) for r in db.execute(
        "SELECT kind::text AS kind, count(*) AS n FROM queue_events GROUP BY 1"))
    assert kinds == {"enqueued": 200, "claimed": 1000, "succeeded": 1000}
    # the work really was spread over the processes (the rendezvous needed four at once)
    first = {e["pid"] for e in read_executions(exec_log) if e["video_id"] <= 4 and e["step"] == "download"}
    assert len(first) == 4


def test_a_worker_killed_mid_step_is_replaced_after_its_lease_expires(db, workers, exec_log, tmp_path):
    token, victim, go = start_blocked(db, workers, tmp_path, "http://example.com/kill.mp4", "transcript", lease=1.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    go.touch()
    workers.start("--burst", lease=1.5)
    assert workers.procs[-1].wait(timeout=60) == 0, workers.logs()[-3000:]

    job = queue.job_by_token(db, token)
    assert job["status"] == "done"
    starts = collections.Counter(e["step"] for e in read_executions(exec_log) if e["event"] == "start")
    assert starts == {"download": 1, "transcript": 2, "content_type": 1, "clip_lookup": 1, "clip_generation": 1}
    checkpoints = queue.checkpoints_for_video(db, job["video_id"])
    assert checkpoints["transcript"]["output"]["pid"] == workers.procs[-1].pid
    assert checkpoints["download"]["output"]["pid"] == victim.pid  # kept, not redone
    kinds = [r["kind"] for r in db.execute("SELECT kind::text AS kind FROM queue_events ORDER BY id")]
    assert "rescued" in kinds


def test_a_paused_worker_that_lost_its_lease_cannot_write_anything(db, workers, exec_log, tmp_path):
    # Attempt 1 (paused) and attempt 2 (the rescuer) each wait for their own "go" file, so the
    # stale write lands while the job is still running under the rescuer: only the lease
    # predicates (attempt, locked_by, expiry) can refuse it.
    started, go = str(tmp_path / "started-{attempt}"), str(tmp_path / "go-{attempt}")
    token = submit(db, "http://example.com/pause.mp4", script={"download": {"marker": started, "wait_for_file": go}})
    sleeper = workers.start(lease=1.0)
    wait_for((tmp_path / "started-1").exists, message="attempt 1 to start")
    sleeper.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: db.execute("SELECT lease_expires_at < now() AS expired FROM video_processing_queue")
                 .fetchone()["expired"], message="the lease to expire")
        rescuer = workers.start(lease=1.0)
        wait_for((tmp_path / "started-2").exists, message="the rescuer to run attempt 2")
        (tmp_path / "go-1").touch()
        snapshot = (db.execute("SELECT * FROM video_processing_queue").fetchall(),
                    db.execute("SELECT * FROM step_checkpoints ORDER BY step").fetchall(),
                    db.execute("SELECT * FROM queue_events ORDER BY id").fetchall())
        assert snapshot[0][0]["status"] == "running" and snapshot[0][0]["attempt"] == 2
    finally:
        sleeper.send_signal(signal.SIGCONT)
    # The resumed worker finishes attempt 1 and tries to write: everything is refused.
    wait_for(lambda: "result dropped" in workers.logs(), message="the resumed worker to drop its result")
    queue_rows, checkpoints, events = snapshot
    after_rows = db.execute("SELECT * FROM video_processing_queue").fetchall()
    # the heartbeat of the live attempt may have moved its own lease on; nothing else changed
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("lease_expires_at", "heartbeat_at", "updated_at")}
                          for r in rows]
    assert strip(after_rows) == strip(queue_rows)
    assert checkpoints == db.execute("SELECT * FROM step_checkpoints ORDER BY step").fetchall() == []
    # The one row it could add is the record of its wasted work, which changes no state.
    after = db.execute("SELECT * FROM queue_events ORDER BY id").fetchall()
    assert after[:len(events)] == events
    assert [(e["kind"], e["step"], e["attempt"]) for e in after[len(events):]] == [("result_dropped", "download", 1)]
    (tmp_path / "go-2").touch()
    wait_for(lambda: queue.job_by_token(db, token)["status"] == "done", timeout=60, message="the rescuer to finish")
    for proc in (sleeper, rescuer):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    download = queue.checkpoints_for_video(db, queue_rows[0]["video_id"])["download"]
    assert download["output"]["pid"] == rescuer.pid and download["attempt"] == 2


def test_a_concurrency_limit_of_one_is_never_exceeded_under_8_workers(db, workers, exec_log, tmp_path):
    queue.set_step_limit(db, "transcript", 1)
    meet = [str(tmp_path / "meet"), 2]  # two downloads must run at once to finish
    for i in range(16):
        download = {"sleep": 0.1, **({"rendezvous": meet} if i < 2 else {})}
        submit(db, f"http://example.com/limit-{i}.mp4", script={"download": download, "transcript": {"sleep": 0.1}})
    for _ in range(8):
        workers.start("--burst")
    assert workers.wait_all(timeout=240) == [0] * 8, workers.logs()[-3000:]
    assert statuses(db) == {"done": 16}
    executions = read_executions(exec_log)
    assert len(intervals(executions, "transcript")) == 16
    assert max_overlap(intervals(executions, "transcript")) == 1
    assert max_overlap(intervals(executions, "download")) >= 2  # the workers did run in parallel


def test_sigterm_lets_the_step_in_flight_finish_then_exits(db, workers, exec_log, tmp_path):
    started = tmp_path / "started"
    token = submit(db, "http://example.com/term.mp4", script={"download": {"marker": str(started), "sleep": 1.0}})
    worker = workers.start()
    wait_for(started.exists, message="download to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    job = queue.job_by_token(db, token)
    assert (job["status"], job["step"]) == ("queued", "transcript")  # finished, nothing new claimed
    assert "download" in queue.checkpoints_for_video(db, job["video_id"])


def test_sigterm_past_the_grace_period_releases_the_step(db, workers, exec_log, tmp_path):
    token, worker, _ = start_blocked(db, workers, tmp_path, "http://example.com/release.mp4", "download",
                                     args=("--shutdown-grace", "0.3"))
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    job = queue.job_by_token(db, token)
    assert (job["status"], job["step"], job["retry"]) == ("queued", "download", 0)
    assert db.execute("SELECT kind::text AS k FROM queue_events ORDER BY id DESC LIMIT 1").fetchone()["k"] == "released"


def test_notify_wakes_an_idle_worker_long_before_its_poll(db, workers, exec_log):
    worker = workers.start(poll=120.0)
    wait_for(lambda: "listener" in " ".join(r["application_name"] for r in db.execute(
        "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()")),
        message="the worker to listen")
    token = submit(db, "http://example.com/wake.mp4")
    wait_for(lambda: queue.job_by_token(db, token)["status"] == "done", timeout=60,
             message="the idle worker to pick up the job")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


def test_a_video_whose_worker_dies_with_no_retries_left_fails_instead_of_hanging(db, workers, exec_log, tmp_path):
    token, victim, _ = start_blocked(db, workers, tmp_path, "http://example.com/poison.mp4", "download",
                                     lease=1.0, max_retries=0)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    survivor = workers.start("--burst", lease=1.0)
    assert survivor.wait(timeout=60) == 0, workers.logs()[-3000:]
    job = queue.job_by_token(db, token)
    assert (job["status"], job["failure_cause"]) == ("failed", "lease_expired")
    assert "stopped without reporting" in job["failure_details"]["message"]
    starts = [e for e in read_executions(exec_log) if e["event"] == "start"]
    assert len(starts) == 1  # never run again past its retry budget


def _pids_of(exec_log, video_id):
    return {e["pid"] for e in read_executions(exec_log) if e["video_id"] == video_id}


def test_a_poison_retry_after_neither_parks_the_job_nor_kills_the_slot(db, workers, exec_log):
    # A host answering 429 with "Retry-After: 1e308" (or 99999999) once killed the slot
    # (timestamp overflow) and then every slot that rescued the job.
    poison = submit(db, "http://example.com/poison.mp4", max_retries=1,
                    script={"download": {"fail": "transient", "retry_after": 1e308}})
    normal = submit(db, "http://example.com/normal.mp4")
    worker = workers.start("--burst", env={"CLIPQUEUE_RETRY_MAX_SECONDS": "1"})
    assert worker.wait(timeout=60) == 0, workers.logs()[-3000:]
    poisoned, fine = queue.job_by_token(db, poison), queue.job_by_token(db, normal)
    assert (poisoned["status"], poisoned["failure_cause"]) == ("failed", "test_transient")
    delays = [r["d"] for r in db.execute("SELECT (details ->> 'delay_s')::float8 AS d FROM queue_events "
                                         "WHERE kind = 'retry_scheduled'")]
    assert len(delays) == 1 and 0 < delays[0] <= 1.0  # capped by CLIPQUEUE_RETRY_MAX_SECONDS
    assert fine["status"] == "done" and _pids_of(exec_log, fine["video_id"]) == {worker.pid}


def test_an_outcome_the_database_refuses_is_contained_and_the_slot_lives_on(db, workers, exec_log):
    # jsonb refuses \u0000: the checkpoint write raises inside the slot, not inside the step.
    poison = submit(db, "http://example.com/nul.mp4", max_retries=1,
                    script={"content_type": {"nul_in_output": True}})
    normal = submit(db, "http://example.com/after-nul.mp4")
    worker = workers.start("--burst", "--concurrency", "1")
    assert worker.wait(timeout=60) == 0, workers.logs()[-3000:]
    poisoned, fine = queue.job_by_token(db, poison), queue.job_by_token(db, normal)
    assert (poisoned["status"], poisoned["step"], poisoned["failure_cause"]) == \
        ("failed", "content_type", "internal_error")
    assert poisoned["failure_details"]["error_type"] == "UntranslatableCharacter"
    assert "Traceback" in poisoned["failure_details"]["traceback"]
    assert "this is final" in poisoned["failure_details"]["message"]
    runs = [e for e in read_executions(exec_log) if e["video_id"] == poisoned["video_id"]
            and e["step"] == "content_type" and e["event"] == "start"]
    assert len(runs) == 2  # one retry, then final
    assert fine["status"] == "done" and _pids_of(exec_log, fine["video_id"]) == {worker.pid}
