"""A cold start cannot race: on a fresh data directory, "Run the service" as the README says it
(gunicorn with its 4 processes and ``workers run --concurrency 2``, started at the same
moment) boots, five rounds in a row, and each round a submitted video is processed to the end;
the round stops everything (``db-stop`` for the embedded Postgres) and leaves no Postgres
running. Every process races to create the embedded server: one creates it under the lock
beside the data, the others wait and join it."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil

from .conftest import REPO, embedded_home, remove_embedded, wait_for
from .test_end_to_end import GUNICORN, free_port, http
from .test_embedded_postgres import env_for

ROUNDS = 5


def postgres_of(pgdata) -> list[psutil.Process]:
    """Live postgres processes that serve ``pgdata`` (the postmaster names it in its command line)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] == "postgres" and str(pgdata) in " ".join(proc.info["cmdline"] or ()):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        except psutil.Error:
            pass
    return found


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def one_round(n: int, url: str) -> None:
    data = embedded_home(f"cold-{n}")  # a fresh data directory every round
    try:
        run_the_service(n, url, data)
    finally:
        remove_embedded(data)


def run_the_service(n: int, url: str, data) -> None:
    port = free_port()
    env = {**env_for(data), "CLIPQUEUE_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "4",
           "CLIPQUEUE_LOG_LEVEL": "WARNING"}
    logs = {name: open(data / f"{name}.log", "wb") for name in ("gunicorn", "worker")}
    procs = {}
    try:
        # at the same moment: both race to create the embedded Postgres
        procs["gunicorn"] = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.py"], cwd=REPO, env=env,
                                             stdout=logs["gunicorn"], stderr=subprocess.STDOUT)
        procs["worker"] = subprocess.Popen([sys.executable, "-m", "workers", "run", "--concurrency", "2"], cwd=REPO,
                                           env=env, stdout=logs["worker"], stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"

        def log_text() -> str:
            return "\n".join(f"--- {name}\n{(data / f'{name}.log').read_text(errors='replace')[-3000:]}"
                             for name in logs)

        def healthy() -> bool:
            for name, proc in procs.items():
                assert proc.poll() is None, f"round {n}: {name} exited with {proc.returncode}\n{log_text()}"
            try:
                return http("GET", base + "/healthz")[0] == 200
            except OSError:
                return False

        wait_for(healthy, timeout=180, interval=0.2, message=f"round {n}: gunicorn to serve /healthz")
        status, body = http("POST", base + "/public/video", {"url": url})
        assert status == 202, body
        last = {}

        def finished() -> bool:
            assert procs["worker"].poll() is None, f"round {n}: the worker exited\n{log_text()}"
            last["view"] = http("GET", base + body["status_url"])[1]
            return last["view"]["status"] in ("done", "failed", "cancelled")

        wait_for(finished, timeout=300, interval=0.5, message=f"round {n}: the video to be processed")
        assert last["view"]["status"] == "done", f"round {n}: {last['view']}\n{log_text()}"
        assert last["view"]["result"]["clips"], last["view"]
    finally:
        codes = {name: stop(proc) for name, proc in procs.items()}
        for log in logs.values():
            log.close()
    assert codes == {"gunicorn": 0, "worker": 0}, codes
    # The server outlives the service (it is shared); the operator's command stops it.
    stopped = subprocess.run([sys.executable, "-m", "workers", "db-stop"], cwd=REPO, env=env_for(data),
                             capture_output=True, text=True, timeout=120)
    assert (stopped.returncode, stopped.stdout, stopped.stderr) == (0, "stopped\n", ""), stopped
    pgdata = data / "postgres"
    deadline = time.monotonic() + 30
    while postgres_of(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not postgres_of(pgdata), f"round {n}: a Postgres is left running"


def test_gunicorn_and_a_worker_started_together_on_a_fresh_data_dir_boot_every_time(media_server, media):
    url = media_server.add("/jfk.flac", media / "jfk.flac")  # the smallest speech in tests/media
    for n in range(1, ROUNDS + 1):
        one_round(n, url)
