"""Fixtures: a real Postgres for every test.

With DATABASE_URL set, each test session creates its own database on that server and drops
it at the end. Without it, the session starts ClipQueue's embedded Postgres (pgserver) in a
temporary data directory, exactly as the product does, and stops it at the end.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from workers.queue.db import connect

from workers.queue.embedded import embedded_database_url, stop_embedded
from workers.queue.migrate import apply_migrations
from workers.settings import Settings

REPO = Path(__file__).resolve().parent.parent
# Real media that ships in the repository (tests/media/SOURCES.md: origins and licences).
MEDIA = Path(os.environ.get("CLIPQUEUE_TEST_MEDIA") or REPO / "tests" / "media")
TABLES = ("videos, video_processing_queue, video_processing_archive, step_checkpoints, queue_events, "
          "step_concurrency_limits, webhook_subscriptions, webhook_deliveries, uploads, transcript_segments, "
          "ask_usage, search_configs, step_checkpoints_retired")


def embedded_home(name: str) -> Path:
    """A new, empty folder for an embedded Postgres's data, outside pytest's temporary tree.

    Run as root, pgserver runs Postgres as its own ``pgserver`` user, which must be able to
    enter every folder above the data: pytest's ``/tmp/pytest-of-root`` is reset to 0700 by
    each pytest session that starts, and ``pg_ctl stop`` then fails with Permission denied."""
    return Path(tempfile.mkdtemp(prefix=f"clipqueue-{name}-"))


def remove_embedded(home: Path) -> None:
    """Stop the embedded Postgres in ``home`` (if it runs) and delete the folder."""
    stop_embedded(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def server_url():
    """A maintenance connection string to a running Postgres server."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    data_dir = embedded_home("test-pg")
    yield embedded_database_url(data_dir)
    remove_embedded(data_dir)


@pytest.fixture(scope="session")
def fresh_database(server_url):
    """A factory of empty databases on the test server; all are dropped at the end."""
    created = []

    def make() -> str:
        name = f"clipqueue_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        params = conninfo_to_dict(server_url)
        params["dbname"] = name
        return make_conninfo(**params)

    yield make
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(fresh_database):
    """The session's migrated database."""
    url = fresh_database()
    with connect(url) as conn:
        apply_migrations(conn)
    return url


@pytest.fixture
def db(database_url):
    """An autocommit connection to an emptied queue."""
    with connect(database_url, application_name="clipqueue-test") as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        yield conn


@pytest.fixture
def settings():
    return Settings(lease_seconds=2.0, poll_interval=0.2, max_retries=3,
                    retry_base_seconds=0.05, retry_max_seconds=1.0, allow_private_urls=True)


@pytest.fixture
def exec_log(tmp_path, monkeypatch):
    """Directory where the scripted test steps record their executions."""
    log_dir = tmp_path / "executions"
    log_dir.mkdir()
    monkeypatch.setenv("CLIPQUEUE_TEST_LOG_DIR", str(log_dir))
    return log_dir


class WorkerProcesses:
    """Spawns real ``python -m workers run`` processes and reaps them."""

    def __init__(self, database_url: str, log_dir: Path, tmp_path: Path):
        self.database_url = database_url
        self.log_dir = log_dir
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str, lease: float = 2.0, poll: float = 0.2, env: dict | None = None):
        full_env = {**os.environ, "DATABASE_URL": self.database_url,
                    "CLIPQUEUE_TEST_LOG_DIR": str(self.log_dir), "CLIPQUEUE_LOG_LEVEL": "INFO",
                    "PYTHONUNBUFFERED": "1", **(env or {})}
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers", "run", "--step-table", "tests.support.steps:TABLE",
             "--lease-seconds", str(lease), "--poll-interval", str(poll), *args],
            cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def wait_all(self, timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        codes = []
        for proc in self.procs:
            codes.append(proc.wait(timeout=max(0.1, deadline - time.monotonic())))
        return codes

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp_path.glob("worker-*.log")))

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def workers(database_url, exec_log, tmp_path, db):
    group = WorkerProcesses(database_url, exec_log, tmp_path)
    yield group
    group.close()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.02, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def media():
    if not (MEDIA / "SHA256SUMS").is_file():
        raise RuntimeError(f"test media not found at {MEDIA} (it ships in tests/media; CLIPQUEUE_TEST_MEDIA overrides)")
    return MEDIA


@pytest.fixture
def media_server():
    from doubles.media_server import MediaServer

    server = MediaServer().start()
    yield server
    server.stop()


@pytest.fixture
def public_server():
    """A media server playing a public host: it listens on the loopback alias that
    ``support.dns.pretend_public`` counts as public, and its URLs name ``localhost``."""
    from doubles.dns import PUBLIC_ALIAS
    from doubles.media_server import MediaServer

    server = MediaServer(host=PUBLIC_ALIAS, name="localhost").start()
    yield server
    server.stop()


@pytest.fixture
def step_ctx(tmp_path, settings):
    """A factory of (video, ctx) for calling a step function directly, with local storage."""
    from workers.queue.context import StepContext, Subject
    from workers.pipeline.storage import LocalStorage

    storage = LocalStorage(tmp_path / "storage")
    step_settings = settings.replace(data_dir=tmp_path / "data")

    def make(step, url="http://127.0.0.1/x", *, video_id=1, checkpoints=None, options=None, **overrides):
        checkpoints = checkpoints or {}
        video = Subject(video_id, url, options or {}, {s: cp["output"] for s, cp in checkpoints.items()})
        ctx = StepContext(step=step, checkpoints=checkpoints, options=video.options,
                          settings=step_settings.replace(**overrides), services={"storage": storage})
        return video, ctx

    make.storage = storage
    return make


BROWSER_SKIP = "Debian's chromium is not installed (apt)"  # test_page.py's skip reason


def pytest_terminal_summary(terminalreporter):
    """Browser tests that did not run are said at the end, loudly: a green run without them
    proves nothing about the page."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if BROWSER_SKIP in str(getattr(r, "longrepr", ""))]
    if skipped:
        terminalreporter.write_sep("!", f"THE BROWSER TESTS DID NOT RUN ({len(skipped)} skipped): /usr/bin/chromium is missing",
                                   red=True, bold=True)
        terminalreporter.write_line("The page's tests drive Debian's chromium (Playwright never downloads a browser). "
                                    "Install it with `apt-get install chromium` and run them again.", red=True)
