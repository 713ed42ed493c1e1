"""The fleet run's faults and measurements: a host killed mid-step, an API host killed
mid-upload, a worker host unplugged for longer than the lease, Postgres connections per
host, and throughput by number of CPU hosts. Used by ``bench.fleet``."""
from __future__ import annotations

import os
import threading
import time
from collections import Counter, defaultdict

from bench import _fleet_client as client
from workers.queue.db import connect

POLL_S = 1.0  # the workers' --poll-interval


class ConnSampler:
    """Once a second: Postgres connections in use per client address; the most seen per host
    since the last ``take``."""

    def __init__(self, db: str, hosts_by_addr: dict):
        self.db, self.hosts_by_addr = db, hosts_by_addr
        self.most: Counter = Counter()
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def start(self) -> "ConnSampler":
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                with connect(self.db, application_name="fleet-sampler") as conn:
                    rows = conn.execute("SELECT host(client_addr) AS addr, count(*) AS n FROM pg_stat_activity "
                                        "WHERE datname = 'clipqueue' AND client_addr IS NOT NULL "
                                        "AND application_name <> 'fleet-sampler' GROUP BY 1").fetchall()
            except Exception:  # noqa: BLE001 - a sample missed is no matter
                continue
            with self.lock:
                for r in rows:
                    host = self.hosts_by_addr.get(r["addr"], r["addr"])
                    self.most[host] = max(self.most[host], r["n"])

    def take(self) -> dict:
        with self.lock:
            most, self.most = dict(self.most), Counter()
        return most


def wait_workers(db: str, hosts, deadline_s: float) -> None:
    """Until every host has a worker connected (its slots are claiming)."""
    addrs = {h.addr for h in hosts}

    def ready():
        with connect(db, application_name="fleet-client") as conn:
            up = {r["addr"] for r in conn.execute(
                "SELECT DISTINCT host(client_addr) AS addr FROM pg_stat_activity "
                "WHERE application_name LIKE 'clipqueue-worker/%%'").fetchall()}
        return addrs <= up
    client.until("the workers to connect", ready, deadline_s, every=0.5)


def kill_during(net, db: str, kind: str, hosts: list, steps: set, lease_s: float) -> dict:
    """SIGKILL the first of ``hosts`` found 0.3 s into one of ``steps``; then wait for
    another host to take that step over."""
    row = client.until(f"a {kind} step in flight", lambda: next(
        (r for r in client.running(db) if r["host"] in hosts and r["step"] in steps and r["for_s"] >= 0.3), None),
        300, every=0.05)
    at = client.db_now(db)
    procs = net.kill_host(net.hosts[row["host"]])
    took = client.until("the killed host's step taken over", lambda: client.taken_over(
        db, row["job_id"], row["step"], at, row["host"]), 4 * lease_s + 60, every=0.2)
    after = took["at"] - at
    within = after <= lease_s + POLL_S + 1.0
    return {"kind": kind, "host": row["host"], "what": f"{row['step']} of video {row['video_id']}",
            "procs": procs, "moved_to": took["host"], "after_s": round(after, 1), "within_lease": within,
            "outcome": f"{took['kind']} by {took['host']} {after:.1f} s later "
                       f"({'within' if within else 'NOT within'} the {lease_s:g} s lease + {POLL_S:g} s poll)"}


def partition(net, db: str, host, lease_s: float) -> dict:
    """``host`` holds a finished step (the hold file, ``bench._fleet_steps``): unplug it, let
    another host take the step over and finish it, keep it out past the lease, plug it back,
    let the stale result go: the fence must refuse it (a ``result_dropped`` event)."""
    data = host.path("data")
    held = client.until(f"{host.name} to hold a finished step", lambda: next(iter(data.glob("held-*")), None),
                        300, every=0.2)
    _, step, video = held.name.split("-", 2)
    with connect(db, application_name="fleet-client") as conn:
        job = conn.execute("SELECT id FROM video_processing_queue WHERE video_id = %s", (int(video),)).fetchone()["id"]
    cut_at = time.monotonic()
    net.cut(host)
    done = client.until("another host to finish the held step", lambda: client.event(
        db, job, step, "succeeded", other_than=host.name), 4 * lease_s + 120, every=0.3)
    time.sleep(max(0.0, 2 * lease_s - (time.monotonic() - cut_at)))  # out for longer than the lease
    net.restore(host)
    cut_s = time.monotonic() - cut_at
    held.unlink()  # the stale worker now tries to record its result
    dropped = client.until("the stale result to be refused", lambda: client.event(
        db, job, step, "result_dropped", host=host.name), 180, every=0.3)
    return {"host": host.name, "step": f"{step} of video {video}", "cut_s": round(cut_s, 1), "lease_s": lease_s,
            "taken_by": done["host"], "dropped": 1 if dropped else 0,
            "completed": (dropped["details"] or {}).get("completed")}


def upload_kill(net, host, api: str, other_api: str, path, hook: str, options: dict, lease_s: float,
                out: dict) -> None:
    """Upload through ``api`` slowly; SIGKILL its host mid-PATCH; resume through ``other_api``."""
    try:
        data = path.read_bytes()
        location = client.upload_create(api, path, hook, options)
        kill = {}

        def on_sent(n):
            if n >= 256 * 1024 and not kill:
                kill["procs"] = net.kill_host(host)
                return False
            return True
        client.slow_patch(api, location, data, 0, 512 * 1024, on_sent)
        token, offset, took = client.upload_resume(other_api, location, data, 4 * lease_s + 60)
        within = took <= lease_s + 2.0
        out.update(token=token, resumed_from=offset, resume_s=round(took, 1), kill={
            "kind": "api", "host": host.name, "what": f"upload of {path.name} mid-PATCH (256 KB of {len(data)} sent)",
            "procs": kill.get("procs", 0), "within_lease": within,
            "outcome": f"resumed through the other API host from offset {offset}, accepted {took:.1f} s later "
                       f"({'within' if within else 'NOT within'} the {lease_s:g} s writer lease)"})
    except Exception as exc:  # noqa: BLE001 - reported, and the run fails on it
        out["error"] = repr(exc)
        out["kill"] = {"kind": "api", "host": host.name, "what": "upload", "procs": 0, "within_lease": False,
                       "outcome": f"FAILED: {exc!r}"}


def _cpu_s(pids) -> float:
    """CPU seconds (user + system) the processes used so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def _box_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _steady(ends: list) -> float:
    """Videos per second between the 10th and the 90th percentile of the finishing times: the
    pace once every host is busy, without the start (claims ramping up) or the tail (the
    last videos' own latency, five steps in a row)."""
    lo, hi = len(ends) // 10, len(ends) - 1 - len(ends) // 10
    return round((hi - lo) / float(ends[hi] - ends[lo]), 2)


def throughput(net, svc, db: str, h: dict, sampler, lease_s: float, sleep_s: float = 0.25,
               videos: int = 80, concurrency: int = 4) -> list[dict]:
    """Sleep-steps: transcript on gpu1, the rest on 1, 2, then 3 CPU hosts; videos/s, claims/s
    per host, Postgres connections per host."""
    from workers.queue import jobs as queue

    extra = {"BENCH_STEP_SLEEP_S": str(sleep_s)}
    svc.worker(h["gpu1"], "transcript", concurrency=3 * concurrency, table="SLEEP", extra=extra, webhooks=False)
    rows = []
    for n in (1, 2, 3):
        cpu = h[f"cpu{n}"]
        svc.worker(cpu, "download,content_type,clip_lookup,clip_generation", concurrency=concurrency,
                   table="SLEEP", extra=extra, webhooks=False)
        wait_workers(db, [h["gpu1"]] + [h[f"cpu{i}"] for i in range(1, n + 1)], 120)
        sampler.take()
        pg_pids = net.pids(h["db"])
        pg_before, box_before = _cpu_s(pg_pids), _box_busy()
        with connect(db, application_name="fleet-client") as conn:
            with conn.transaction():
                tokens = [queue.enqueue(conn, source_url=f"http://sleep.invalid/{n}/{i}",
                                        normalized_url=f"http://sleep.invalid/{n}/{i}").token for i in range(videos)]

        def finished():
            with connect(db, application_name="fleet-client") as conn:
                return conn.execute("SELECT count(*) FILTER (WHERE status = 'done') = %s AS ok FROM video_processing_queue "
                                    "WHERE token = ANY(%s)", (videos, tokens)).fetchone()["ok"]
        client.until(f"{videos} sleep-step videos on {n} CPU host(s)", finished, 300, every=0.5)
        pg_cpu, box_after = _cpu_s(pg_pids) - pg_before, _box_busy()
        busy = (box_after[0] - box_before[0]) / max(1, box_after[1] - box_before[1])
        with connect(db, application_name="fleet-client") as conn:
            span = conn.execute(
                "SELECT extract(epoch FROM max(q.finished_at) - min(e.at)) AS s FROM video_processing_queue q "
                "JOIN queue_events e ON e.job_id = q.id AND e.kind = 'claimed' WHERE q.token = ANY(%s)",
                (tokens,)).fetchone()["s"]
            ends = [r["t"] for r in conn.execute(
                "SELECT extract(epoch FROM finished_at) AS t FROM video_processing_queue WHERE token = ANY(%s) "
                "ORDER BY finished_at", (tokens,))]
            claims = defaultdict(int)
            for r in conn.execute("SELECT split_part(e.worker_id, ':', 1) AS host, count(*) AS n FROM queue_events e "
                                  "JOIN video_processing_queue q ON q.id = e.job_id WHERE q.token = ANY(%s) "
                                  "AND e.kind IN ('claimed', 'rescued') GROUP BY 1 ORDER BY 1", (tokens,)):
                claims[r["host"]] = r["n"]
        conns = {k: v for k, v in sorted(sampler.take().items()) if k.startswith(("gpu", "cpu", "api"))}
        rows.append({"cpu_hosts": n, "videos": videos, "sleep_s": sleep_s, "slots": concurrency, "s": round(float(span), 1),
                     "rate": _steady(ends),
                     "claims_per_s": {k: round(v / float(span), 1) for k, v in claims.items()}, "conns": conns,
                     "pg_cores": round(pg_cpu / float(span), 2), "box_busy": round(100 * busy)})
    return rows
