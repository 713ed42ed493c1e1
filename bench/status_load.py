"""The status API under load, with the queue busy.

    .venv/bin/python -m bench.status_load [--seconds 10] [--clients 2x6] [--workers 4]

Starts the API under gunicorn with the repo's gunicorn.py, and worker processes running a
long queue (no-op steps that wait BENCH_STEP_SLEEP_S each, standing in for work done off
this CPU). Then, in the same run:

1. reference: the workers alone, for --seconds: step transitions per second;
2. load: the same, while client processes on 127.0.0.1 hammer the API over keep-alive
   connections -- 95 % ``GET /public/video/status`` (random tokens of videos queued, running
   and done), 5 % ``POST /public/video`` (new URLs) -- bounded by --seconds.

3. stalls: a second API (``bench._stress_app``: a DNS that never answers, internal-route
   steps that take 10 s) gets the same status reads while 20 threads each submit a URL
   whose host name the DNS never resolves, once a second, and 16 threads call
   ``/internal/perform-video-processing`` in a loop (honouring Retry-After). Prints the reads' p50/p99 there, the submits' latencies, and how the internal
   calls were answered (at most CLIPQUEUE_INTERNAL_CONCURRENCY run; the rest get 429).

Prints reads/s and writes/s, p50/p99 latency, every non-2xx answer, and the workers'
throughput under load as a ratio of the reference. Target on the 2-core machine:
>= 500 status reads/s with p99 <= 50 ms and no errors, in phase 2 and in phase 3.
Figures, not assertions.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from workers.queue import jobs as queue  # noqa: E402
from workers.queue.db import connect  # noqa: E402
from workers.queue.migrate import apply_migrations  # noqa: E402


def client_process(port: int, tokens: list[str], seconds: float, threads: int, write_share: float, seed: int, out):
    """One load-generating process: ``threads`` keep-alive connections, each in a loop."""
    results = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(n: int):
        rng = random.Random(seed * 1000 + n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        while time.monotonic() < deadline:
            write = rng.random() < write_share
            started = time.perf_counter()
            try:
                if write:
                    body = json.dumps({"url": f"http://127.0.0.1:9/load/{uuid.uuid4().hex}.mp4"})
                    conn.request("POST", "/public/video", body=body, headers={"Content-Type": "application/json"})
                else:
                    conn.request("GET", f"/public/video/status?token={rng.choice(tokens)}")
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            mine.append(("w" if write else "r", status, time.perf_counter() - started))
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    out.put(results)


def transitions(dsn: str) -> int:
    with connect(dsn) as conn:
        return conn.execute("SELECT count(*) AS n FROM queue_events WHERE kind = 'succeeded'").fetchone()["n"]


def measure_workers(dsn: str, seconds: float) -> float:
    before, started = transitions(dsn), time.monotonic()
    time.sleep(seconds)
    return (transitions(dsn) - before) / (time.monotonic() - started)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--clients", default="2x6", help="processes x threads of the load generator")
    p.add_argument("--workers", type=int, default=4, help="worker processes keeping the queue busy")
    p.add_argument("--step-sleep", type=float, default=0.05, help="seconds each no-op step waits")
    p.add_argument("--videos", type=int, default=3000, help="videos preloaded into the queue")
    p.add_argument("--no-stalls", dest="stalls", action="store_false", help="skip phase 3")
    args = p.parse_args(argv)
    procs, threads = (int(x) for x in args.clients.split("x"))

    work = Path(tempfile.mkdtemp(prefix="clipqueue-load-"))
    dsn = os.environ.get("DATABASE_URL")
    server = None
    if not dsn:
        import pgserver

        server = pgserver.get_server(work / "postgres", cleanup_mode=None)
        dsn = server.get_uri()
    # A fresh database for this run.
    name = f"clipqueue_load_{uuid.uuid4().hex[:8]}"
    with connect(dsn) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    dsn = make_conninfo(**{**conninfo_to_dict(dsn), "dbname": name})
    with connect(dsn) as conn:
        apply_migrations(conn)
        tokens = []
        for n in range(args.videos):
            url = f"https://example.com/preloaded/{n}.mp4"
            tokens.append(queue.enqueue(conn, source_url=url, normalized_url=url).token)

    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "DATABASE_URL": dsn, "CLIPQUEUE_DATA_DIR": str(work / "data"),
           "CLIPQUEUE_BIND": f"127.0.0.1:{port}", "CLIPQUEUE_LOG_LEVEL": "WARNING",
           "BENCH_STEP_SLEEP_S": str(args.step_sleep), "CLIPQUEUE_PRUNE_INTERVAL": "0",
           "ALLOW_PRIVATE_URLS": "1"}  # the submitted URLs point at 127.0.0.1: no DNS here
    logs = open(work / "processes.log", "ab")
    api = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.py"], cwd=REPO,
                           env=env, stdout=logs, stderr=subprocess.STDOUT)
    fleet = [subprocess.Popen([sys.executable, "-m", "workers", "run", "--step-table", "bench.noop_steps:TABLE",
                               "--concurrency", "2"], cwd=REPO, env=env, stdout=logs, stderr=subprocess.STDOUT)
             for _ in range(args.workers)]
    try:
        _wait_healthy(port)
        time.sleep(2.0)  # let the workers get going
        reference = measure_workers(dsn, args.seconds)

        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        clients = [ctx.Process(target=client_process,
                               args=(port, tokens, args.seconds, threads, 0.05, n, out)) for n in range(procs)]
        started = time.monotonic()
        before = transitions(dsn)
        for c in clients:
            c.start()
        results = [r for _ in clients for r in out.get()]
        for c in clients:
            c.join()
        elapsed = time.monotonic() - started
        under_load = (transitions(dsn) - before) / elapsed
        with connect(dsn) as conn:
            states = {r["status"]: r["n"] for r in conn.execute(
                "SELECT status::text AS status, count(*) AS n FROM video_processing_queue GROUP BY 1")}
        report(results, elapsed, procs, threads, args, reference, under_load, states)
        if args.stalls:
            from bench.status_stalls import stall_phase

            stall_phase(env, logs, tokens, args.seconds, procs, threads)
    finally:
        for proc in fleet + [api]:
            proc.send_signal(signal.SIGTERM)
        for proc in fleet + [api]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()
        if server is not None:
            from workers.queue.embedded import stop_embedded

            stop_embedded(work)

    return 0


def report(results, elapsed, procs, threads, args, reference, under_load, states) -> None:
    reads = [r for r in results if r[0] == "r"]
    writes = [r for r in results if r[0] == "w"]
    errors = {}
    for kind, status, _ in results:
        if not (200 <= status < 300):
            errors[f"{kind}:{status}"] = errors.get(f"{kind}:{status}", 0) + 1
    read_ms = [r[2] * 1000 for r in reads]
    write_ms = [r[2] * 1000 for r in writes]
    print(f"\nstatus API under load ({procs} client processes x {threads} keep-alive connections, "
          f"{elapsed:.1f} s; gunicorn.py defaults: {os.cpu_count()} CPUs; {args.workers} workers x 2 slots busy)")
    print(f"  GET  /public/video/status  {len(reads) / elapsed:8.0f} req/s   p50 {statistics.median(read_ms):6.1f} ms"
          f"   p99 {percentile(read_ms, 99):6.1f} ms   max {max(read_ms):6.1f} ms")
    if writes:
        print(f"  POST /public/video         {len(writes) / elapsed:8.0f} req/s   p50 {statistics.median(write_ms):6.1f} ms"
              f"   p99 {percentile(write_ms, 99):6.1f} ms")
    print(f"  non-2xx answers            {errors or 'none'}")
    print(f"  worker step transitions/s  {reference:.0f} alone, {under_load:.0f} under load "
          f"(ratio {under_load / reference if reference else float('nan'):.2f})")
    print(f"  queue at the end           {states}")
    target = len(reads) / elapsed >= 500 and percentile(read_ms, 99) <= 50 and not errors
    print(f"  target (>= 500 reads/s, p99 <= 50 ms, no errors): {'met' if target else 'NOT met'}")


def _wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not come up")


if __name__ == "__main__":
    sys.exit(main())
