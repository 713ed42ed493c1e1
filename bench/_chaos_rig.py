"""The chaos run's rig: its configuration and record of faults, the processes it starts and
kills (an embedded Postgres of its own, the worker fleet, an ffmpeg wrapper that logs every
render) and the HTTP helpers that drive the API. Used by ``bench.chaos``."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from doubles.fake_openai import FakeOpenAI  # noqa: E402
from workers.queue.db import connect  # noqa: E402

TRANSCRIPT = "transcript"
REST = "download,content_type,clip_lookup,clip_generation"
TERMINAL = ("done", "failed", "cancelled")

# Real speech, several lengths, shipped in tests/media (its SOURCES.md says where from).
SOURCES = ["jfk.flac", "autoeditor_example.mp4", "notld_1968/21s_hey_thats_us_were_doing_all_right.opus",
           "manifesto.mp4", "multilingual.mp3", "notld_1968/31s_hes_wrong_you_know.opus",
           "notld_1968/45s_dont_be_afraid_of_me.opus", "notld_1968/20s_no_authentic_way_for_us_to_say.opus",
           "notld_1968/60s_i_dont_want_anyones_life_on_my_hands.opus",
           "notld_1968/119s_theres_supposed_to_be_another_broadcast.opus",
           "notld_1968/30s_i_wont_open_this_door_again.opus", "notld_1968/89s_ill_come_back_down_as_soon_as.opus"]


@dataclass
class Config:
    videos: int = 6
    workers: int = 3
    transcript_workers: int = 1
    kills: int = 3
    duplicates: int = 2
    seed: int = 7
    lease_s: float = 8.0
    pg_down_s: float = 2.0
    llm_down_s: float = 5.0
    settle_timeout_s: float = 480.0
    media: Path = REPO / "tests" / "media"
    work: Path | None = None
    keep: bool = False


@dataclass
class Chaos:
    """What was done to the system, as it happened."""
    kills: list[tuple[float, str]] = field(default_factory=list)   # (t, step or "random")
    sigterms: int = 0
    pg_restarts: int = 0
    llm_down_s: float = 0.0
    llm_faults: Counter = field(default_factory=Counter)
    download_faults: Counter = field(default_factory=Counter)
    faulted_paths: Counter = field(default_factory=Counter)   # download path -> faults injected on it
    llm_bad_texts: set = field(default_factory=set)           # every truncated or garbled reply sent
    api: Counter = field(default_factory=Counter)  # status code -> count, from the pollers
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, counter: Counter, key) -> None:
        with self.lock:
            counter[key] += 1


# ------------------------------------------------------------------------------ services
class Postgres:
    """An embedded Postgres the run owns, so it can stop and start it."""

    def __init__(self, pgdata: Path):
        import pgserver

        self.pgdata = pgdata.resolve()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        self.url = self.server.get_uri()

    def restart(self, down_s: float) -> None:
        import pgserver
        from pgserver.postgres_server import PostgresServer

        from workers.queue.embedded import stop_embedded

        stop_embedded(self.pgdata.parent)  # pg_ctl stop -m fast: every connection is cut
        time.sleep(down_s)
        PostgresServer._instances.pop(self.pgdata, None)
        self.server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        if self.server.get_uri() != self.url:
            raise RuntimeError("Postgres came back at another address")

    def stop(self) -> None:
        from workers.queue.embedded import stop_embedded

        stop_embedded(self.pgdata.parent)


def ffmpeg_wrapper(work: Path, log: Path) -> Path:
    """An ffmpeg that logs each run (its start time, input, output name and exit status) and
    dies with its parent like the real one does under the worker."""
    import imageio_ffmpeg

    real = imageio_ffmpeg.get_ffmpeg_exe()
    script = work / "ffmpeg-logged"
    script.write_text(f"""#!{sys.executable}
import ctypes, os, subprocess, sys, time
libc = ctypes.CDLL("libc.so.6")
args = sys.argv[1:]
src = args[args.index("-i") + 1] if "-i" in args else ""
out = os.path.basename(args[-1]) if args else ""
def log(line):
    fd = os.open({str(log)!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (line + "\\n").encode()); os.close(fd)
log(f"START {{os.getpid()}} {{time.time():.6f}} {{src}} {{out}}")
rc = subprocess.call([{real!r}] + args, preexec_fn=lambda: libc.prctl(1, 9))
log(f"END {{os.getpid()}} {{rc}} {{src}} {{out}}")
sys.exit(rc)
""")
    script.chmod(0o755)
    return script


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fleet:
    """The worker processes, by role; replacements keep the role of the one they replace."""

    def __init__(self, env: dict, logs: Path, lease_s: float):
        self.env, self.logs, self.lease_s = env, logs, lease_s
        self.procs: dict[int, tuple[subprocess.Popen, str]] = {}
        self.started = 0

    def start(self, steps: str) -> subprocess.Popen:
        self.started += 1
        log = open(self.logs / f"worker-{self.started:02d}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "workers", "run", "--steps", steps,
                                 "--lease-seconds", str(self.lease_s), "--shutdown-grace", "5"],
                                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs[proc.pid] = (proc, steps)
        return proc

    def signal(self, pid: int, sig: int) -> str | None:
        entry = self.procs.pop(pid, None)
        if entry is None:
            return None
        proc, steps = entry
        proc.send_signal(sig)
        if sig == signal.SIGKILL:
            proc.wait()
        return steps

    def alive(self, steps: str | None = None) -> list[int]:
        return [pid for pid, (p, s) in self.procs.items() if p.poll() is None and (steps is None or s == steps)]

    def stop_all(self) -> None:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


# ------------------------------------------------------------------------------ the run
def _running(url: str) -> list[dict]:
    with connect(url, application_name="chaos-monkey") as conn:
        return conn.execute("SELECT pipeline_step::text AS step, locked_by, step_progress "
                            "FROM video_processing_queue WHERE status = 'running' "
                            "AND lease_expires_at > now()").fetchall()


def _kill(step: str, fleet: Fleet, url: str, rng: random.Random, chaos: Chaos, t: float, started: float) -> None:
    """SIGKILL the worker running ``step`` (waiting up to 30 s for one), or a random one."""
    deadline = time.monotonic() + (30 if step != "random" else 0)
    while True:
        try:
            rows = [r for r in _running(url) if step == "random" or r["step"] == step]
        except Exception:  # noqa: BLE001 - Postgres may be restarting; try again
            rows = []
        pids = [int(r["locked_by"].split(":")[1]) for r in rows]
        pids = [p for p in pids if p in fleet.procs]
        if pids or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if not pids:
        pids = fleet.alive()
        chaos.notes.append(f"no {step} step was running when aimed at; killed a random worker")
    time.sleep(rng.uniform(0.0, 0.8))  # a random moment inside the step
    pid = rng.choice(pids)
    steps = fleet.signal(pid, signal.SIGKILL)
    if steps is not None:
        chaos.kills.append((round(time.monotonic() - started, 1), step))
        fleet.start(steps)


def _llm_outage(llm: FakeOpenAI, url: str, down_s: float, chaos: Chaos) -> None:
    _wait_step(url, ("content_type", "clip_lookup"), 120)
    llm.go_down()
    time.sleep(down_s)
    llm.come_back()
    chaos.llm_down_s += down_s


def _wait_step(url: str, steps: tuple[str, ...], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(r["step"] in steps for r in _running(url)):
                return
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.1)


def _all_terminal(url: str, tokens) -> bool:
    try:
        with connect(url, application_name="chaos-monkey") as conn:
            row = conn.execute("SELECT count(*) FILTER (WHERE status IN ('done', 'failed', 'cancelled')) AS n "
                               "FROM video_processing_queue WHERE token = ANY(%s)", (list(tokens),)).fetchone()
        return row["n"] == len(list(tokens))
    except Exception:  # noqa: BLE001 - Postgres restarting
        return False


# ------------------------------------------------------------------------------ HTTP
def _http(method: str, url: str, body: dict | None = None, timeout: float = 10) -> tuple[int, dict | bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def _submit(base: str, url: str, tolerate_503: bool = False) -> dict | None:
    options = {"url": url, "clip_min_seconds": 5, "clip_max_seconds": 20, "max_clips": 2}
    for _ in range(60):
        status, body = _http("POST", base + "/public/video", options)
        if status == 202:
            return body
        if status != 503:
            raise RuntimeError(f"submit answered {status}: {body}")
        time.sleep(0.5)
    if tolerate_503:
        return None
    raise RuntimeError("the API stayed unavailable")


def _poll_statuses(base: str, tokens: list[str], chaos: Chaos, stop: threading.Event) -> None:
    """Clients polling all along (through the Postgres restart): every answer is counted."""
    while not stop.is_set():
        for token in tokens:
            try:
                status, _ = _http("GET", f"{base}/public/video/status?token={token}", timeout=5)
            except OSError:
                status = "no answer"
            chaos.count(chaos.api, status)
        stop.wait(0.5)


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _http("GET", url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


# ------------------------------------------------------------------------------ the audit
