"""The chaos run: the real system under fire, then an audit of what it lost and redid.

    .venv/bin/python -m bench.chaos                          # CI size: 6 videos, 3 workers
    .venv/bin/python -m bench.chaos --videos 40 --workers 6 --kills 20

Starts the API under gunicorn (the repo's gunicorn.py), K worker processes (some
``--steps transcript`` only, the rest everything else), an embedded Postgres of its own
(so that it can restart it), a local download server and a local OpenAI-compatible server,
and submits N videos of real speech (tests/media, several lengths; some twice). While
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._chaos_audit import MUST_BE_ZERO, audit, explain_failure, must_be_zero, print_report  # noqa: E402,F401
from bench._chaos_rig import (Chaos, Config, Fleet, Postgres, REST, SOURCES, TRANSCRIPT, _all_terminal,  # noqa: E402
                              _kill, _llm_outage, _poll_statuses, _submit, _wait_http, _wait_step, ffmpeg_wrapper,
                              free_port)
from doubles.fake_openai import FakeOpenAI  # noqa: E402
from doubles.media_server import MediaServer  # noqa: E402
from workers.queue.db import connect  # noqa: E402
from workers.queue.migrate import apply_migrations  # noqa: E402


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
