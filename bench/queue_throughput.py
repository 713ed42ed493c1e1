"""Queue throughput and latency: ClipQueue next to procrastinate and pgqueuer.

    .venv/bin/pip install -r requirements-bench.txt
    .venv/bin/python -m bench.queue_throughput [--videos 1000] [--workers 1,2,4,8]
    .venv/bin/python -m bench.queue_throughput --systems clipqueue --before 72e20fc  # vs an earlier commit

All three run on the same Postgres (the embedded one unless DATABASE_URL is set), each
measurement in a fresh database, with no-op tasks:

* enqueue rate: single-job enqueues, one connection, one transaction each;
* drain rate: K worker processes empty a preloaded queue. A ClipQueue video is 5 step
  transitions (claim, checkpoint + advance + event rows, each committed); a procrastinate
  or pgqueuer job is one. Rates are per transition/job, from the first task's start to the
  last one's, so process start-up is left out;
* idle latency: one idle worker; enqueue a job, time until its task starts (p50/p99).

``--before REF`` adds ClipQueue as it was at git REF (checked out in a temporary worktree;
its workers run from there, its own enqueue statement is used) on the same schema, so a
refactoring is measured against the code it replaced in one run.

Machines here are noisy: figures are printed next to each other and as ratios against the
others measured in the same run (``--rounds N``: the median of N, in alternating order),
never asserted.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._queue_systems import SYSTEMS, clipqueue_at  # noqa: E402
from workers.queue.embedded import embedded_database_url, stop_embedded  # noqa: E402


# ---------------------------------------------------------------------------- databases
class Databases:
    def __init__(self, server_url: str):
        self.server_url = server_url
        self.names: list[str] = []

    def fresh(self) -> str:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        params = conninfo_to_dict(self.server_url)
        params["dbname"] = name
        return make_conninfo(**params)

    def drop_all(self):
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for name in self.names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------- measurements
def spawn(system, mode: str, count: int, mark_file: Path | None = None, mark_all: bool = False):
    env = {**os.environ, **system.env()}
    if mark_file is not None:
        env["BENCH_MARK_FILE"] = str(mark_file)
    if mark_all:
        env["BENCH_MARK_ALL"] = "1"
    # stderr goes to a file, never to a pipe read only at the end: a worker whose pipe fills
    # blocks in a write with a lease in hand (3 steps of 3000 rescued and run twice).
    procs = []
    for _ in range(count):
        err = tempfile.TemporaryFile()
        proc = subprocess.Popen(system.worker(mode), cwd=getattr(system, "cwd", REPO), env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        proc.err = err
        procs.append(proc)
    return procs


def stderr_of(proc, limit: int = 2000) -> str:
    proc.err.seek(0)
    return proc.err.read().decode(errors="replace")[-limit:]


def wait_all(procs, timeout=600) -> None:
    for proc in procs:
        proc.wait(timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"worker exited {proc.returncode}: {stderr_of(proc)}")
        proc.err.close()


def measure_enqueue(cls, dbs: Databases, count: int) -> float:
    system = cls(dbs.fresh())
    try:
        system.enqueue(20)  # warm up connections and prepared statements
        start = time.perf_counter()
        system.enqueue(count)
        return count / (time.perf_counter() - start)
    finally:
        system.close()


def measure_drain(cls, dbs: Databases, jobs: int, workers: int) -> tuple[float, float]:
    """(units per second, seconds) for ``workers`` processes emptying a preloaded queue.
    Every task notes when it started; the rate counts from the first start to the last,
    so process start-up and shutdown are left out, the same way for every system."""
    system = cls(dbs.fresh())
    try:
        system.enqueue(jobs)
        with tempfile.TemporaryDirectory() as tmp:
            marks = Path(tmp) / "marks"
            wait_all(spawn(system, "burst", workers, marks, mark_all=True))
            times = sorted(float(t) for t in marks.read_text().split())
    finally:
        system.close()
    units = jobs * system.units_per_job
    if len(times) != units:
        raise RuntimeError(f"{system.name}: {len(times)} tasks ran, expected {units}")
    span = times[-1] - times[0]
    return (units - 1) / span, span


def measure_latency(cls, dbs: Databases, samples: int) -> list[float]:
    system = cls(dbs.fresh())
    with tempfile.TemporaryDirectory() as tmp:
        marks = Path(tmp) / "marks"
        marks.touch()
        procs = spawn(system, "serve", 1, marks)
        latencies = []
        try:
            system.enqueue(1)  # first job: wait until the worker is up and listening
            _wait_lines(marks, 1, timeout=60)
            time.sleep(1.0)
            for i in range(samples):
                time.sleep(0.02)  # the worker is idle again
                sent = time.time()
                system.enqueue(1)
                started = _wait_lines(marks, i + 2, timeout=30)
                latencies.append(started - sent)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            system.close()
    return latencies


def _wait_lines(path: Path, count: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().split()
        if len(lines) >= count:
            return float(lines[count - 1])
        time.sleep(0.0005)
    raise TimeoutError(f"task {count} did not start within {timeout}s")


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------- report
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=1000,
                        help="ClipQueue videos per drain (x5 transitions); the others get as many jobs as transitions")
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--enqueues", type=int, default=2000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--systems", default="clipqueue,procrastinate,pgqueuer")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every measure; the median is reported")
    parser.add_argument("--before", metavar="REF", help="also measure ClipQueue as it was at this git commit")
    args = parser.parse_args(argv)
    systems = [SYSTEMS[s] for s in args.systems.split(",")]
    worktrees: list[Path] = []
    if args.before:
        systems.append(clipqueue_at(args.before, worktrees))
    worker_counts = [int(w) for w in args.workers.split(",")]

    data_dir = None
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        data_dir = Path(tempfile.mkdtemp(prefix="clipqueue-bench-"))
        server_url = embedded_database_url(data_dir)
    dbs = Databases(server_url)
    print(f"server: {'embedded pgserver' if data_dir else 'DATABASE_URL'}; cores: {os.cpu_count()}")
    results: dict[str, dict] = {}
    samples: dict[str, dict[str, list[float]]] = {cls.name: {} for cls in systems}
    try:
        for round_ in range(args.rounds):
            # Alternate the order each round, so drift of the machine favours no system.
            for cls in (systems if round_ % 2 == 0 else systems[::-1]):
                s = samples[cls.name]
                s.setdefault("enqueue", []).append(measure_enqueue(cls, dbs, args.enqueues))
                print(f"{cls.name:14s} enqueue {s['enqueue'][-1]:8.0f}/s", flush=True)
                jobs = args.videos if cls.units_per_job == 5 else args.videos * 5
                for k in worker_counts:
                    rate, seconds = measure_drain(cls, dbs, jobs, k)
                    s.setdefault(f"drain{k}", []).append(rate)
                    print(f"{cls.name:14s} drain  {k} workers {rate:8.0f}/s "
                          f"({jobs * cls.units_per_job} in {seconds:.2f}s)", flush=True)
                lat = measure_latency(cls, dbs, args.latency_samples)
                s.setdefault("p50", []).append(percentile(lat, 50) * 1000)
                s.setdefault("p99", []).append(percentile(lat, 99) * 1000)
                print(f"{cls.name:14s} idle latency p50 {s['p50'][-1]:.1f} ms  p99 {s['p99'][-1]:.1f} ms", flush=True)
        # The median of the rounds, per system and measure.
        results = {name: {key: percentile(values, 50) for key, values in s.items()} for name, s in samples.items()}
    finally:
        dbs.drop_all()
        if data_dir:
            stop_embedded(data_dir)
        for tree in worktrees:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)

    ours = results.get("clipqueue")
    print("\n| measure | " + " | ".join(results) + (" | clipqueue / " + " | clipqueue / ".join(
        n for n in results if n != "clipqueue") + " |" if ours else " |"))
    print("|---" * (1 + len(results) + (len(results) - 1 if ours else 0)) + "|")
    rows = [("enqueue /s", "enqueue", True)] + [(f"drain /s, {k} workers", f"drain{k}", True) for k in worker_counts] \
        + [("idle latency p50 ms", "p50", False), ("idle latency p99 ms", "p99", False)]
    for label, key, higher_better in rows:
        cells = [f"{results[n][key]:.0f}" if higher_better else f"{results[n][key]:.1f}" for n in results]
        if ours:
            for n in results:
                if n != "clipqueue":
                    ratio = ours[key] / results[n][key] if higher_better else results[n][key] / ours[key]
                    cells.append(f"{ratio:.2f}x")
        print(f"| {label} | " + " | ".join(cells) + " |")
    if ours:
        print("\n(ratios > 1 favour ClipQueue: throughput ours/theirs, latency theirs/ours)")
        if "drain8" in ours:
            drain = f"{'met' if ours['drain8'] >= 1000 else 'NOT met'} ({ours['drain8']:.0f}/s)"
        else:
            drain = "not measured (--workers without 8)"
        print(f"targets: drain >= 1000/s with 8 workers: {drain}; "
              f"p50 <= 10 ms: {'met' if ours['p50'] <= 10 else 'NOT met'}; "
              f"p99 <= 50 ms: {'met' if ours['p99'] <= 50 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
