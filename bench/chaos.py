"""The chaos run: the real system under fire, then an audit of what it lost and redid.

    .venv/bin/python -m bench.chaos                          # CI size: 6 videos, 3 workers
    .venv/bin/python -m bench.chaos --videos 40 --workers 6 --kills 20

Starts the API under gunicorn (the repo's gunicorn.py), K worker processes (some
``--steps transcript`` only, the rest everything else), an embedded Postgres of its own
(so that it can restart it), a local download server and a local OpenAI-compatible server,
and submits N videos of real speech (../shared/media, several lengths; some twice). While
they run it SIGKILLs workers (aimed at download, transcript and clip generation, then at
random), has the download server drop connections at random offsets, answer 500/503 and
crawl, has the LLM answer 429 + Retry-After, 500, time out, send truncated and garbled JSON
and go down for a while, restarts Postgres once, and SIGTERMs a worker. One video's host
trickles (a byte every 2 s: the download's stall deadline must cut it) and one answers its
first GET with "429, Retry-After: 1e308", as the LLM answers once with "Retry-After:
99999999" (poison values: parsed in one place and capped, they must neither kill a slot nor
park a job).

Then it lets the system settle and audits the database, the storage, the download server's
byte counts and an ffmpeg wrapper's log. Exit status 1 when a "must be 0" figure is not 0.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
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

from tests.support.fake_openai import FakeOpenAI  # noqa: E402
from tests.support.media_server import MediaServer  # noqa: E402
from workers.db import connect  # noqa: E402
from workers.migrate import apply_migrations  # noqa: E402

TRANSCRIPT = "transcript"
REST = "download,content_type,clip_lookup,clip_generation"
TERMINAL = ("done", "failed", "cancelled")

# Real speech, several lengths (seconds): SOURCES.md in the media folder says where from.
SOURCES = ["jfk.flac", "autoeditor_example.mp4", "notld_1968/21s_hey_thats_us_were_doing_all_right.wav",
           "manifesto.mp4", "multilingual.mp3", "notld_1968/31s_hes_wrong_you_know.wav",
           "notld_1968/45s_dont_be_afraid_of_me.wav", "notld_1968/15s_donnie_asked_me_if_i_were_afraid.wav",
           "notld_1968/60s_i_dont_want_anyones_life_on_my_hands.wav", "arakawa_gameboy_interview_1990.mp3",
           "notld_1968/30s_i_wont_open_this_door_again.wav", "notld_1968/89s_ill_come_back_down_as_soon_as.wav"]


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
    media: Path = REPO.parent / "shared" / "media"
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

        from workers.db import stop_embedded

        stop_embedded(self.pgdata.parent)  # pg_ctl stop -m fast: every connection is cut
        time.sleep(down_s)
        PostgresServer._instances.pop(self.pgdata, None)
        self.server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        if self.server.get_uri() != self.url:
            raise RuntimeError("Postgres came back at another address")

    def stop(self) -> None:
        from workers.db import stop_embedded

        stop_embedded(self.pgdata.parent)


def ffmpeg_wrapper(work: Path, log: Path) -> Path:
    """An ffmpeg that logs each run (its input, output name and exit status) and dies with
    its parent like the real one does under the worker."""
    import imageio_ffmpeg

    real = imageio_ffmpeg.get_ffmpeg_exe()
    script = work / "ffmpeg-logged"
    script.write_text(f"""#!{sys.executable}
import ctypes, os, subprocess, sys
libc = ctypes.CDLL("libc.so.6")
args = sys.argv[1:]
src = args[args.index("-i") + 1] if "-i" in args else ""
out = os.path.basename(args[-1]) if args else ""
def log(line):
    fd = os.open({str(log)!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (line + "\\n").encode()); os.close(fd)
log(f"START {{os.getpid()}} {{src}} {{out}}")
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
def run(cfg: Config, out=sys.stdout) -> dict:
    rng = random.Random(cfg.seed)
    work = Path(cfg.work or tempfile.mkdtemp(prefix="clipqueue-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    chaos = Chaos()
    render_log = work / "renders.log"
    pg = Postgres(work / "data" / "postgres")
    with connect(pg.url) as conn:
        apply_migrations(conn)

    # Download server: real files, random faults per GET.
    media = MediaServer()

    special: dict[str, list] = {}  # path -> faults to serve first, in order (trickle, poison)

    def download_fault(size: int, path: str):
        with chaos.lock:
            planned = special.get(path)
            first = planned.pop(0) if planned else None
        if first is not None:
            chaos.count(chaos.download_faults, first[0])
            chaos.count(chaos.faulted_paths, path)
            return first[1]
        roll = rng.random()
        fault = None
        if roll < 0.12:
            fault = "500/503", ("status", rng.choice((500, 503)))
        elif roll < 0.32 and size > 64 * 1024:
            fault = "drop", ("drop", rng.randrange(16 * 1024, size - 1024))
        elif roll < 0.50:
            fault = "slow", ("slow", rng.choice((150_000, 300_000)))
        if fault is None:
            return None
        chaos.count(chaos.download_faults, fault[0])
        chaos.count(chaos.faulted_paths, path)
        return fault[1]

    media.chaos = download_fault
    media.start()

    # LLM server: the real OpenAI SDK talks to it; some answers are bad on purpose.
    llm = FakeOpenAI()

    poison_llm = [("poison 429", ("status", 429, {"Retry-After": "99999999"}))]

    def llm_fault(reply):
        with chaos.lock:
            poison = poison_llm.pop(0) if poison_llm else None
        if poison is not None:
            chaos.count(chaos.llm_faults, poison[0])
            return poison[1]
        roll = rng.random()
        text = json.dumps(reply)
        for limit, kind, entry in ((0.08, "429", ("status", 429, {"Retry-After": "1"})),
                                   (0.16, "500", ("status", 500)),
                                   (0.22, "timeout", ("hang", 4.0)),
                                   (0.28, "truncated", ("text", text[: len(text) // 2])),
                                   (0.34, "garbled", ("text", "Sure! Here is the JSON you asked for: " + text))):
            if roll < limit:
                chaos.count(chaos.llm_faults, kind)
                if entry[0] == "text":
                    with chaos.lock:
                        chaos.llm_bad_texts.add(entry[1])
                return entry
        return None

    llm.chaos = llm_fault
    llm.start()

    api_port = free_port()
    env = {**os.environ, "DATABASE_URL": pg.url, "CLIPQUEUE_DATA_DIR": str(work / "data"),
           "OPENAI_API_KEY": "chaos", "OPENAI_BASE_URL": llm.base_url, "CLIPQUEUE_LLM_BACKEND": "openai",
           "CLIPQUEUE_LLM_TIMEOUT_S": "2", "ALLOW_PRIVATE_URLS": "1",
           "CLIPQUEUE_FFMPEG": str(ffmpeg_wrapper(work, render_log)),
           "CLIPQUEUE_MAX_RETRIES": "12", "CLIPQUEUE_RETRY_BASE_SECONDS": "0.5",
           "CLIPQUEUE_RETRY_MAX_SECONDS": "4", "CLIPQUEUE_POLL_INTERVAL": "0.5",
           "CLIPQUEUE_DOWNLOAD_RETRIES": "3", "CLIPQUEUE_BIND": f"127.0.0.1:{api_port}",
           "WEB_CONCURRENCY": "2", "CLIPQUEUE_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
           "CLIPQUEUE_RENDER_PARALLEL": "1", "CLIPQUEUE_PRUNE_INTERVAL": "0",
           "CLIPQUEUE_DOWNLOAD_STALL_S": "4", "CLIPQUEUE_DOWNLOAD_MIN_RATE_KBPS": "20"}
    env.pop("CLIPQUEUE_TEST_LOG_DIR", None)
    api_log = open(work / "logs" / "api.log", "ab")
    # The console script: `python -m gunicorn` here would import the repo's gunicorn.py.
    api = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.py"], cwd=REPO, env=env,
                           stdout=api_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{api_port}"
    fleet = Fleet(env, work / "logs", cfg.lease_s)
    started = time.monotonic()
    report: dict = {}
    try:
        _wait_http(base + "/healthz", 60)
        transcript_n = max(1, min(cfg.transcript_workers, cfg.workers - 1))
        for n in range(cfg.workers):
            fleet.start(TRANSCRIPT if n < transcript_n else REST)

        # Submit: N distinct videos (real speech, several lengths), some submitted twice.
        urls, sizes = [], {}
        for n in range(cfg.videos):
            source = cfg.media / SOURCES[n % len(SOURCES)]
            name = f"/v{n:03d}/{source.name}"
            urls.append(media.add(name, source))
            sizes[urls[-1]] = source.stat().st_size
        # A trickling host on one video (twice: the retry trickles too), a poison 429 on another.
        special[urls[0].split(str(media.httpd.server_address[1]), 1)[1]] = [("trickle", ("trickle", 2.0))] * 2
        if len(urls) > 1:
            special[urls[1].split(str(media.httpd.server_address[1]), 1)[1]] = [
                ("poison 429", ("status", 429, {"retry_after": "1e308"}))]
        tokens: dict[str, str] = {}
        duplicate_mismatch = 0
        for url in urls:
            tokens[url] = _submit(base, url)["token"]
        polling = threading.Event()
        poller = threading.Thread(target=_poll_statuses, args=(base, list(tokens.values()), chaos, polling),
                                  daemon=True)
        poller.start()
        twice = rng.sample(urls, min(cfg.duplicates, len(urls)))
        resubmitted = False

        def resubmit():
            nonlocal duplicate_mismatch, resubmitted
            resubmitted = True
            for url in twice:
                again = _submit(base, url, tolerate_503=True)
                if again and (again["token"] != tokens[url] or again["created"]):
                    duplicate_mismatch += 1

        # The monkey: aimed kills, an LLM outage, a Postgres restart, a SIGTERM, random kills.
        plan = ["download", "llm_down", "transcript", "resubmit", "postgres", "clip_generation", "sigterm"]
        aimed = ["download", "transcript", "clip_generation"]
        extra = max(0, cfg.kills - len(aimed))
        plan += [aimed[i % 3] if i % 2 == 0 else "random" for i in range(extra)]
        if cfg.kills < len(aimed):
            plan = [p for p in plan if p not in aimed[cfg.kills:]]
        for action in plan:
            if _all_terminal(pg.url, tokens.values()):
                chaos.notes.append(f"queue drained before '{action}'")
                continue
            t = time.monotonic() - started
            if action == "llm_down":
                threading.Thread(target=_llm_outage, args=(llm, pg.url, cfg.llm_down_s, chaos), daemon=True).start()
            elif action == "resubmit":
                resubmit()
            elif action == "postgres":
                _wait_step(pg.url, ("transcript", "content_type", "clip_lookup", "clip_generation"), 60)
                pg.restart(cfg.pg_down_s)
                chaos.pg_restarts += 1
            elif action == "sigterm":
                pids = fleet.alive(REST)
                if pids:
                    steps = fleet.signal(rng.choice(pids), signal.SIGTERM)
                    chaos.sigterms += 1
                    fleet.start(steps)
            else:
                _kill(action, fleet, pg.url, rng, chaos, t, started)
            time.sleep(rng.uniform(0.5, 2.0))
        if not resubmitted:
            resubmit()

        # Settle.
        deadline = time.monotonic() + cfg.settle_timeout_s
        while not _all_terminal(pg.url, tokens.values()) and time.monotonic() < deadline:
            for pid in list(fleet.procs):  # a worker that died on its own is replaced too
                proc, steps = fleet.procs[pid]
                if proc.poll() is not None:
                    chaos.notes.append(f"worker {pid} exited with {proc.returncode}; replaced")
                    fleet.procs.pop(pid)
                    fleet.start(steps)
            time.sleep(0.5)
        wall = time.monotonic() - started
        polling.set()
        poller.join(timeout=10)
        report = audit(pg.url, base, tokens, sizes, media, render_log, work, wall, chaos, cfg)
        report["duplicate_submissions_with_a_new_job"] = duplicate_mismatch
    finally:
        fleet.stop_all()
        api.send_signal(signal.SIGTERM)
        try:
            api.wait(timeout=30)
        except subprocess.TimeoutExpired:
            api.kill()
        api_log.close()
        media.stop()
        llm.stop()
        pg.stop()
        if not cfg.keep and cfg.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print_report(report, out)
    return report


# ------------------------------------------------------------------------------ chaos actions
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
def audit(url, base, tokens, sizes, media, render_log, work, wall, chaos: Chaos, cfg: Config) -> dict:
    with connect(url, application_name="chaos-audit") as conn:
        jobs = {r["token"]: r for r in conn.execute(
            "SELECT token, video_id, status::text AS status, pipeline_step::text AS step, failure_cause, "
            "failure_details ->> 'message' AS message, failure_details -> 'raw' AS raw, "
            "created_at, finished_at "
            "FROM video_processing_queue WHERE token = ANY(%s)", (list(tokens.values()),))}
        repeated = conn.execute("""
            SELECT video_id, step::text AS step,
                   count(*) FILTER (WHERE kind = 'succeeded') AS written,
                   count(*) FILTER (WHERE kind = 'result_dropped') AS dropped
              FROM queue_events
             WHERE kind = 'succeeded'
                OR kind = 'result_dropped' AND coalesce((details ->> 'completed')::boolean, true)
             GROUP BY video_id, step
            HAVING count(*) > 1""").fetchall()
        events = Counter({r["kind"]: r["n"] for r in conn.execute(
            "SELECT kind::text AS kind, count(*) AS n FROM queue_events GROUP BY kind")})
        backoff = conn.execute("SELECT coalesce(sum((details ->> 'delay_s')::float8), 0) AS s "
                               "FROM queue_events WHERE kind = 'retry_scheduled'").fetchone()["s"]
        # Time lost to each rescue: from the dead attempt's claim to the rescue.
        rescue_lost = conn.execute("""
            SELECT coalesce(sum(extract(epoch FROM r.at - p.at)), 0) AS s
              FROM queue_events r
              JOIN LATERAL (SELECT at FROM queue_events p
                             WHERE p.job_id = r.job_id AND p.id < r.id AND p.kind IN ('claimed', 'rescued')
                             ORDER BY p.id DESC LIMIT 1) p ON true
             WHERE r.kind = 'rescued'""").fetchone()["s"]
        downloaded = {r["video_id"]: r for r in conn.execute(
            "SELECT c.video_id, v.source_url FROM step_checkpoints c JOIN videos v ON v.id = c.video_id "
            "WHERE c.step = 'download'")}
        clips_by_video = {r["video_id"]: r["output"] for r in conn.execute(
            "SELECT video_id, output FROM step_checkpoints WHERE step = 'clip_generation'")}

    storage_root = work / "data" / "storage"
    lost, stuck, failed, unexplained, done = [], [], [], [], 0
    for url_, token in tokens.items():
        job = jobs.get(token)
        if job is None:
            lost.append((token, "unknown to the database"))
            continue
        if job["status"] not in TERMINAL:
            stuck.append((token, f"{job['status']} at {job['step']}"))
        elif job["status"] == "failed":
            why = explain_failure(job, url_, chaos)
            failed.append((url_.rsplit("/", 1)[-1], job["step"], job["failure_cause"], job["message"], why))
            if why is None:
                unexplained.append((token, f"failed at {job['step']} with {job['failure_cause']}, "
                                           "which no injected fault explains"))
        elif job["status"] == "done":
            output = clips_by_video.get(job["video_id"]) or {}
            files = [k for c in output.get("clips", []) for k in c["files"].values()]
            missing = [k for k in files if not (storage_root / k).is_file() or (storage_root / k).stat().st_size == 0]
            if not files or missing:
                lost.append((token, f"done but {len(missing)} of {len(files)} clip files missing"))
                continue
            status, body = _http("GET", f"{base}/public/video/status?token={token}")
            clip_urls = [c["urls"]["media"] for c in (body.get("result") or {}).get("clips", [])] \
                if isinstance(body, dict) else []
            if status != 200 or not clip_urls or _http("GET", base + clip_urls[0])[0] != 200:
                lost.append((token, "done, but the API does not serve its clips"))
                continue
            done += 1

    # Bytes: what the download server sent for the videos whose download finished, against
    # their sizes (a download that failed for good has nothing to compare with).
    finished_paths = {"/" + r["source_url"].split("/", 3)[3] for r in downloaded.values()}
    sent = sum(s.bytes_sent for s in media.log if s.path in finished_paths)
    needed = sum(sizes[r["source_url"]] for r in downloaded.values())
    # Renders: successful ffmpeg runs per clip file.
    renders, starts = Counter(), set()
    for line in (render_log.read_text().splitlines() if render_log.exists() else []):
        parts = line.split(" ")
        if parts[0] == "START":
            starts.add(parts[1])
        elif parts[0] == "END":
            starts.discard(parts[1])
            if parts[2] == "0" and parts[-1].endswith((".mp4", ".m4a")):
                renders[(parts[3], parts[4])] += 1
    video_seconds = sum((j["finished_at"] - j["created_at"]).total_seconds() for j in jobs.values()
                        if j["finished_at"] is not None)
    return {
        "videos": len(tokens), "workers": cfg.workers, "done": done, "failed": failed,
        "lost": lost, "stuck": stuck, "unexplained_failures": unexplained,
        "completed_steps_run_twice": [dict(r) for r in repeated],
        "results_dropped": events.get("result_dropped", 0),
        "bytes_sent": sent, "bytes_needed": needed, "bytes_ratio": round(sent / needed, 3) if needed else None,
        "clips_rendered": sum(renders.values()),
        "clips_rendered_twice": sorted(k[1] for k, n in renders.items() if n > 1),
        "renders_interrupted": len(starts),  # started, never ended: killed mid-render
        "wall_s": round(wall, 1), "video_seconds": round(video_seconds, 1),
        "recovery": {"rescues": events.get("rescued", 0), "lost_to_kills_s": round(float(rescue_lost), 1),
                     "retries": events.get("retry_scheduled", 0), "backoff_s": round(float(backoff), 1),
                     "releases": events.get("released", 0)},
        "chaos": {"kills": chaos.kills, "sigterms": chaos.sigterms, "pg_restarts": chaos.pg_restarts,
                  "llm_down_s": chaos.llm_down_s, "llm_faults": dict(chaos.llm_faults),
                  "download_faults": dict(chaos.download_faults), "notes": chaos.notes},
        "api_answers": {str(k): v for k, v in chaos.api.items()},
    }


def explain_failure(job: dict, url: str, chaos: Chaos) -> str | None:
    """Which injected fault, in the fake servers' own logs, explains this failure; None when
    none does (a defect). A failure is correct behaviour only when the chaos caused it."""
    cause, path = job["failure_cause"], "/" + url.split("/", 3)[3]
    if cause == "llm_bad_output":
        raw = job["raw"] or []
        # the reply that ended the tries is one the fake server garbled or cut on purpose
        return "the LLM server sent this bad reply on purpose" if raw and raw[-1] in chaos.llm_bad_texts else None
    if cause == "llm_unavailable":
        faults = sum(n for k, n in chaos.llm_faults.items() if k in ("429", "500", "timeout"))
        return "LLM faults and outage injected" if faults or chaos.llm_down_s else None
    if job["step"] == "download" and cause in ("network", "download_failed", "step_timeout", "http_429") \
            or cause.startswith("http_5"):
        return f"{chaos.faulted_paths[path]} download faults injected on it" if chaos.faulted_paths[path] else None
    return None


MUST_BE_ZERO = ("lost", "stuck", "unexplained_failures", "completed_steps_run_twice", "clips_rendered_twice",
                "duplicate_submissions_with_a_new_job", "api_500s")


def must_be_zero(report: dict) -> dict:
    figures = {k: report.get(k) for k in MUST_BE_ZERO}
    figures["api_500s"] = report.get("api_answers", {}).get("500", 0)
    return {k: (len(v) if isinstance(v, list) else v or 0) for k, v in figures.items()}


def print_report(report: dict, out=sys.stdout) -> None:
    if not report:
        print("chaos run did not finish", file=out)
        return
    r, rec, ch = report, report["recovery"], report["chaos"]
    recovery_s = rec["lost_to_kills_s"] + rec["backoff_s"]
    rows = [
        ("videos submitted (distinct)", r["videos"]), ("worker processes", r["workers"]),
        ("done", r["done"]), ("failed, each explained by an injected fault", len(r["failed"])),
        ("failed with no injected fault to explain it (must be 0)", len(r["unexplained_failures"])),
        ("lost (must be 0)", len(r["lost"])), ("stuck (must be 0)", len(r["stuck"])),
        ("completed steps run twice (must be 0)", len(r["completed_steps_run_twice"])),
        ("  finished results dropped after a lost lease", r["results_dropped"]),
        ("clips rendered twice (must be 0)", len(r["clips_rendered_twice"])),
        ("  clips rendered / renders cut by a kill", f"{r['clips_rendered']} / {r['renders_interrupted']}"),
        ("resubmissions that made a new job (must be 0)", r.get("duplicate_submissions_with_a_new_job", 0)),
        ("bytes downloaded / bytes needed (target <= 1.1)",
         f"{r['bytes_ratio']} ({r['bytes_sent']:,} / {r['bytes_needed']:,})"),
        ("wall time", f"{r['wall_s']} s"),
        ("recovery (video-seconds)", f"{recovery_s:.1f} of {r['video_seconds']:.1f} "
                                     f"({100 * recovery_s / max(r['video_seconds'], 1e-9):.0f} %)"),
        ("  lost to kills (claim -> rescue)", f"{rec['lost_to_kills_s']} s over {rec['rescues']} rescues"),
        ("  retry backoff", f"{rec['backoff_s']} s over {rec['retries']} retries"),
        ("SIGKILLs (aimed at step)", ", ".join(f"{s}@{t}s" for t, s in ch["kills"]) or "none"),
        ("SIGTERMs / Postgres restarts", f"{ch['sigterms']} / {ch['pg_restarts']}"),
        ("LLM faults (+ outage)", f"{ch['llm_faults']} + {ch['llm_down_s']:.0f} s down"),
        ("download faults", ch["download_faults"]),
        ("API answers to pollers", r["api_answers"]),
    ]
    width = max(len(k) for k, _ in rows)
    print("\nchaos run", file=out)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}", file=out)
    for token, why in r["lost"] + r["stuck"]:
        print(f"  ! {token[:8]}...: {why}", file=out)
    for name, step, cause, message, why in r["failed"]:
        print(f"  failed: {name} at {step}: {cause} ({message}); {why or 'UNEXPLAINED'}", file=out)
    for note in ch["notes"]:
        print(f"  note: {note}", file=out)
    bad = {k: v for k, v in must_be_zero(r).items() if v}
    print(f"\n  {'FAIL: ' + json.dumps(bad) if bad else 'PASS: every must-be-0 figure is 0'}", file=out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", type=int, default=Config.videos)
    p.add_argument("--workers", type=int, default=Config.workers)
    p.add_argument("--transcript-workers", type=int, help="default: a third of the workers")
    p.add_argument("--kills", type=int, default=Config.kills)
    p.add_argument("--duplicates", type=int, default=Config.duplicates)
    p.add_argument("--seed", type=int, default=Config.seed)
    p.add_argument("--media", type=Path, default=Path(os.environ.get("CLIPQUEUE_TEST_MEDIA") or Config.media))
    p.add_argument("--work", type=Path, help="keep everything (logs, database) in this folder")
    p.add_argument("--json", type=Path, help="also write the report here")
    args = p.parse_args(argv)
    cfg = Config(videos=args.videos, workers=args.workers, kills=args.kills, duplicates=args.duplicates,
                 transcript_workers=args.transcript_workers or max(1, args.workers // 3), seed=args.seed,
                 media=args.media, work=args.work)
    report = run(cfg)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 1 if not report or any(must_be_zero(report).values()) else 0


if __name__ == "__main__":
    sys.exit(main())
