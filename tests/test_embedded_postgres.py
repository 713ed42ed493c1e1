"""The embedded Postgres is supervised by the processes that use it: killed, it comes back;
a stale postmaster.pid does not fool them; a one-shot command leaves no server behind.

Each test owns an embedded server in its own data directory (never the suite's)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from workers.queue.embedded import embedded_database_url, embedded_running, stop_embedded

from .conftest import REPO, embedded_home, remove_embedded, wait_for


def env_for(data: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, "CLIPQUEUE_DATA_DIR": str(data), "CLIPQUEUE_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
            "ALLOW_PRIVATE_URLS": "1"}  # the scripted steps never fetch the URL


def postmaster_pid(data: Path) -> int:
    return int((data / "postgres" / "postmaster.pid").read_text().splitlines()[0])


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone()[0] == 1
    except psycopg.OperationalError:
        return False


@pytest.fixture
def data():
    data = embedded_home("data")  # outside pytest's tree: see embedded_home
    yield data
    remove_embedded(data)


def cli(data: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workers", *args], cwd=REPO, env=env_for(data),
                          capture_output=True, text=True, timeout=timeout)


def test_a_killed_embedded_postgres_is_brought_back_by_a_running_worker(data, tmp_path):
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "workers", "run", "--step-table", "tests.support.steps:TABLE",
                               "--poll-interval", "0.2"], cwd=REPO, env=env_for(data), stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: (data / "postgres" / "postmaster.pid").exists() and b"steps=" in
                 (tmp_path / "worker.log").read_bytes(), timeout=90, message="the worker to start its Postgres")
        url = embedded_database_url(data)
        killed = postmaster_pid(data)
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: not answers(url), timeout=30, message="the server to go away")
        # nobody but the worker is there to bring it back
        try:
            wait_for(lambda: embedded_running(data) and postmaster_pid(data) != killed and answers(url), timeout=90,
                     interval=0.5, message="the worker to start Postgres again")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{(tmp_path / 'worker.log').read_text()[-4000:]}") from None
        submitted = cli(data, "submit", "http://127.0.0.1:9/after-the-kill.mp4")
        assert submitted.returncode == 0, submitted.stderr[-2000:]
        token = json.loads(submitted.stdout)["token"]
        last = {}

        def done() -> bool:
            shown = cli(data, "status", token)
            last["stderr"] = shown.stderr[-2000:]
            return shown.returncode == 0 and json.loads(shown.stdout)["status"] == "done"

        try:
            wait_for(done, timeout=90, interval=0.5, message="the worker to process a video on the revived server")
        except AssertionError:
            raise AssertionError(f"{last.get('stderr')}\n{(tmp_path / 'worker.log').read_text()[-3000:]}") from None
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
            log.close()


def test_a_stale_postmaster_pid_is_not_taken_for_a_running_server(data):
    url = embedded_database_url(data)
    pid = postmaster_pid(data)
    stop_embedded(data)
    # what a SIGKILL leaves behind: the pid file of a postmaster that no longer runs
    stale = data / "postgres" / "postmaster.pid"
    stale.write_text("\n".join([str(pid), str(data / "postgres"), "0", "5432", "", "", "", "ready"]) + "\n")
    assert not embedded_running(data)
    done = cli(data, "db-url")
    assert done.returncode == 0, done.stderr[-2000:]
    assert answers(done.stdout.strip()) and answers(url)


def test_the_process_command_stops_the_server_it_started_and_db_stop_stops_one(data, media):
    done = cli(data, "process", str(media / "jfk.flac"), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (data / "postgres" / "postmaster.pid").exists(), "process left its Postgres running"
    # A person sees the bars and the clips; the logs (initdb's dump included) are in the file.
    assert "clip_generation" in done.stdout and " 1  0:0" in done.stdout
    assert " INFO " not in done.stdout + done.stderr and "initdb" not in done.stdout + done.stderr
    assert done.stderr.strip() == "", done.stderr[-2000:]
    logged = (data / "logs" / "process.log").read_text()
    assert "initdb" in logged and " INFO workers.queue.worker " in logged
    # -v shows them on the terminal too (the video is done: its clips are printed at once)
    again = cli(data, "process", "-v", str(media / "jfk.flac"), timeout=300)
    assert again.returncode == 0 and "already done with these options" in again.stdout and " INFO " in again.stderr
    assert not (data / "postgres" / "postmaster.pid").exists(), "process left its Postgres running"
    # the operator command stops one that is running
    assert cli(data, "db-url").returncode == 0 and embedded_running(data)
    stopped = cli(data, "db-stop")
    assert (stopped.returncode, stopped.stdout, stopped.stderr) == (0, "stopped\n", "")  # one line, no INFO
    assert not embedded_running(data)


def test_an_operator_command_stops_the_server_it_started_and_leaves_a_running_one(data):
    shown = cli(data, "status", "no-such-token")
    assert shown.returncode == 1 and shown.stderr.endswith("error: unknown token\n"), shown.stderr[-2000:]
    assert " pgserver " not in shown.stderr and "RuntimeDirWarning" not in shown.stderr  # at INFO, ours only
    assert not (data / "postgres" / "postmaster.pid").exists(), "status left the Postgres it started running"
    overview = cli(data, "overview")
    assert overview.returncode == 0 and json.loads(overview.stdout)["jobs"] == [], overview.stderr[-2000:]
    assert not (data / "postgres" / "postmaster.pid").exists(), "overview left the Postgres it started running"
    # db-url is how a person starts it for others: it stays up, and commands leave it up
    assert cli(data, "db-url").returncode == 0 and embedded_running(data)
    pid = postmaster_pid(data)
    assert cli(data, "status", "no-such-token").returncode == 1
    assert embedded_running(data) and postmaster_pid(data) == pid
    assert (cli(data, "db-stop").stdout, cli(data, "db-stop").stdout) == ("stopped\n", "not running\n")


def pidfile(data: Path, first_line: str) -> None:
    """A ``postmaster.pid`` as pgserver reads it (eight lines), with ``first_line`` as its pid."""
    (data / "postgres").mkdir(exist_ok=True)
    (data / "postgres" / "postmaster.pid").write_text(
        "\n".join([first_line, str(data / "postgres"), "0", "5432", "", "", "", "ready"]) + "\n")


def test_a_negative_or_garbage_pid_in_postmaster_pid_is_not_a_running_server(data):
    from workers.queue.embedded import _alive, _clear_stale_pidfile

    assert _alive(os.getpid()) and not _alive(-16384) and not _alive(0)  # psutil raises ValueError for these
    # what initdb's standalone backend writes (a negative pid), left behind by a killed initdb
    for first_line in ("-16384", "garbage", ""):
        pidfile(data, first_line)
        assert not embedded_running(data)
        _clear_stale_pidfile(data / "postgres")
        assert not (data / "postgres" / "postmaster.pid").exists(), first_line
    # a live standalone backend (someone else's initdb) is waited for, then named
    pidfile(data, str(-os.getpid()))
    ticks = iter(range(1000))
    with pytest.raises(RuntimeError, match=f"standalone Postgres backend \\(pid {os.getpid()}\\)"):
        _clear_stale_pidfile(data / "postgres", clock=lambda: next(ticks) * 10.0, sleep=lambda s: None)
    assert (data / "postgres" / "postmaster.pid").exists()
    # a garbage file does not stop the server from starting
    pidfile(data, "garbage")
    done = cli(data, "db-url")
    assert done.returncode == 0 and answers(done.stdout.strip()), done.stderr[-2000:]
