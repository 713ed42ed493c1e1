"""/metrics tells the fleet's state from the database and adds up what every process on the
machine did; /internal/health says what each dependency answers."""
from __future__ import annotations

import os
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

from doubles.fake_openai import FakeOpenAI
from server import create_app
from workers.pipeline.table import STEPS
from workers.queue import jobs as queue

from .conftest import REPO
from .support.contract import assert_conforms
from .test_api import INTERNAL_TOKEN, app, auth, client  # noqa: F401 - fixtures


def scrape(client) -> dict:  # noqa: F811
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert_conforms("/metrics", "get", response)
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def submit(db, n, options=None):
    return [queue.enqueue(db, source_url=f"http://example.com/m{i}", normalized_url=f"http://example.com/m{i}",
                          options=options or {}).token for i in range(n)]


def test_the_fleet_state_comes_from_the_database(client, db):  # noqa: F811
    submit(db, 4)
    first = queue.claim(db, worker_id="w1", steps=["download"], lease_seconds=30)
    second = queue.claim(db, worker_id="w2", steps=["download"], lease_seconds=30)
    db.execute("UPDATE video_processing_queue SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
               (second.lease.job_id,))
    db.execute("UPDATE video_processing_queue SET created_at = now() - interval '1 hour' WHERE status = 'queued'")
    samples = scrape(client)
    assert value(samples, "clipqueue_jobs", status="queued", step="download") == 2
    assert value(samples, "clipqueue_jobs", status="running", step="download") == 2
    assert value(samples, "clipqueue_leases", state="live") == 1 and first is not None
    assert value(samples, "clipqueue_leases", state="expired") == 1
    assert 3500 < value(samples, "clipqueue_oldest_queued_seconds", step="download") < 3700


def test_counters_add_up_across_worker_processes(app, client, db, database_url, tmp_path, monkeypatch):  # noqa: F811
    folder = tmp_path / "prometheus"
    folder.mkdir()
    usage = {"prompt_tokens": 1000, "completion_tokens": 100, "cost_usd": 0.0035}
    script = {"download": {"fail": "transient", "fail_times": 1},
              "content_type": {"extra_output": {"usage": usage, "backend": "scripted"}}}
    submit(db, 6, {"script": script})
    env = {**os.environ, "DATABASE_URL": database_url, "PROMETHEUS_MULTIPROC_DIR": str(folder),
           "CLIPQUEUE_LOG_LEVEL": "WARNING", "CLIPQUEUE_RETRY_BASE_SECONDS": "0.05", "CLIPQUEUE_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "workers", "run", "--burst", "--step-table", "tests.support.steps:TABLE",
               "--poll-interval", "0.2"]
    workers = [subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-2000:]
    assert {r["status"] for r in db.execute("SELECT status::text FROM video_processing_queue")} == {"done"}
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    samples = scrape(client)
    assert len(list(folder.glob("*.db"))) >= 2  # both processes wrote their own files
    for step in STEPS:
        assert value(samples, "clipqueue_steps_total", step=step, result="succeeded") == 6, step
        assert value(samples, "clipqueue_step_duration_seconds_count", step=step) == \
            6 + (6 if step == "download" else 0)
    assert value(samples, "clipqueue_steps_total", step="download", result="retry_scheduled") == 6
    assert value(samples, "clipqueue_retries_total", step="download", cause="test_transient") == 6
    assert value(samples, "clipqueue_llm_tokens_total", kind="prompt", backend="scripted") == 6000
    assert value(samples, "clipqueue_llm_tokens_total", kind="completion", backend="scripted") == 600
    assert abs(value(samples, "clipqueue_llm_cost_usd_total", backend="scripted") - 0.021) < 1e-9
    assert value(samples, "clipqueue_jobs", status="done", step="clip_generation") == 6


def test_the_detailed_health_check_asks_every_dependency(client, database_url, settings):  # noqa: F811
    assert client.get("/internal/health").status_code == 401
    response = client.get("/internal/health", headers=auth())
    assert_conforms("/internal/health", "get", response)
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ok", body
    checks = body["checks"]
    assert checks["database"]["kind"].startswith(("external", "embedded")) and checks["database"]["version"]
    assert checks["storage"]["kind"] == "local" and checks["ffmpeg"]["version"].startswith("ffmpeg version")
    assert checks["whisper"]["engine"] == "faster-whisper" and checks["whisper"]["device"] in ("cpu", "cuda")
    assert checks["llm"]["backend"] == "local"


def test_the_health_check_says_when_the_llm_server_does_not_answer(database_url, db, settings):
    llm = FakeOpenAI().start()
    config = settings.replace(internal_api_token=INTERNAL_TOKEN, llm_backend="openai", openai_api_key="sk-test",
                              openai_base_url=llm.base_url, llm_timeout_s=2)
    api = create_app({"settings": config, "database_url": database_url})
    try:
        client = api.test_client()
        up = client.get("/internal/health", headers=auth()).get_json()
        assert up["status"] == "ok" and up["checks"]["llm"]["answer"] == "1 model(s): gpt-4o", up
        llm.go_down()
        down = client.get("/internal/health", headers=auth())
        assert_conforms("/internal/health", "get", down)
        body = down.get_json()
        assert down.status_code == 503 and body["status"] == "degraded" and not body["checks"]["llm"]["ok"]
        assert body["checks"]["database"]["ok"] and "Connection" in body["checks"]["llm"]["error"]
    finally:
        api.extensions["clipqueue"].pool.close()
        llm.stop()
