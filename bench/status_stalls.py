"""Phase 3 of ``bench.status_load``: status reads while the API's slow paths are stalled --
a DNS that never answers (``bench._stress_app``) under a stream of submits, and internal-route
callers running 10 s steps. See that module's docstring."""
from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from bench.status_load import REPO, _wait_healthy, client_process, percentile

INTERNAL_TOKEN = "bench-internal-token-0123456789"


def stall_process(port: int, seconds: float, submitters: int, internal: int, out):
    """Phase 3's pressure, in loops: each submitter sends a URL whose DNS never answers once a
    second (so 20 are in flight when the bound is absent); each internal caller runs a step,
    or waits out the 429's Retry-After."""
    results = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(kind: str):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                if kind == "dns":
                    body = json.dumps({"url": f"https://{uuid.uuid4().hex}.never-resolves.example/v.mp4"})
                    conn.request("POST", "/public/video", body=body, headers={"Content-Type": "application/json"})
                else:  # a scheduler's call: a connection of its own each time
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    conn.request("POST", "/internal/perform-video-processing",
                                 headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            took = time.perf_counter() - started
            mine.append((kind, status, took))
            if kind == "internal" and status == 429:
                time.sleep(5.0)  # a scheduler honours Retry-After
            elif kind == "dns":
                time.sleep(max(0.0, 1.0 - took))  # each submitter: one submission a second
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=loop, args=("dns",)) for _ in range(submitters)] + \
              [threading.Thread(target=loop, args=("internal",)) for _ in range(internal)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(results)


def stall_phase(env: dict, logs, tokens: list[str], seconds: float, procs: int, threads: int) -> None:
    port = 19000 + os.getpid() % 1000
    stress_env = {**env, "CLIPQUEUE_BIND": f"127.0.0.1:{port}", "ALLOW_PRIVATE_URLS": "0",
                  "INTERNAL_API_TOKEN": INTERNAL_TOKEN, "BENCH_STEP_SLEEP_S": "10"}
    api = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.py",
                            "bench._stress_app:create()"], cwd=REPO, env=stress_env, stdout=logs,
                           stderr=subprocess.STDOUT)
    try:
        _wait_healthy(port)
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        pressure = ctx.Process(target=stall_process, args=(port, seconds, 20, 16, out))
        pressure.start()
        time.sleep(1.0)  # the stalls are in flight before the reads start
        readers = [ctx.Process(target=client_process, args=(port, tokens, seconds - 2, threads, 0.0, n, out))
                   for n in range(procs)]
        started = time.monotonic()
        for c in readers:
            c.start()
        results = [r for _ in readers + [pressure] for r in out.get()]
        elapsed = time.monotonic() - started
        for c in readers + [pressure]:
            c.join()
    finally:
        api.send_signal(signal.SIGTERM)
        try:
            api.wait(timeout=60)
        except subprocess.TimeoutExpired:
            api.kill()
    reads = [r[2] * 1000 for r in results if r[0] == "r" and 200 <= r[1] < 300]
    bad_reads = sum(1 for r in results if r[0] == "r" and not 200 <= r[1] < 300)
    dns = [r for r in results if r[0] == "dns"]
    internal = [r for r in results if r[0] == "internal"]
    answers = {}
    for kind, status, _ in dns + internal:
        answers[f"{kind}:{status}"] = answers.get(f"{kind}:{status}", 0) + 1
    print("\nstalls: 20 submitters (1/s each) to a DNS that never answers + 16 internal callers (10 s steps)")
    print(f"  GET  /public/video/status  {len(reads) / elapsed:8.0f} req/s   p50 {statistics.median(reads):6.1f} ms"
          f"   p99 {percentile(reads, 99):6.1f} ms   max {max(reads):6.1f} ms   non-2xx {bad_reads}")
    dns_ms = [r[2] * 1000 for r in dns]
    print(f"  black-hole submits         {len(dns)} answered; p50 {statistics.median(dns_ms):6.0f} ms"
          f"   max {max(dns_ms):6.0f} ms")
    print(f"  answers                    {answers}")
    met = len(reads) / elapsed >= 500 and percentile(reads, 99) <= 50 and not bad_reads
    print(f"  target (>= 500 reads/s, p99 <= 50 ms, no errors): {'met' if met else 'NOT met'}")
