"""The fleet run's audit, from the database, the bucket (and moto's log of every request to
it), the webhook receiver's log and each host's own data directory. Used by ``bench.fleet``."""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

from workers.queue.db import connect

TERMINAL = ("done", "failed", "cancelled")
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours the lines of 4xx/5xx answers
REQUEST = re.compile(r'"(PUT|POST|DELETE|GET|HEAD) /(\S+) HTTP/[\d.]+" (\d{3})')


def bucket_writes(s3_log: Path, bucket: str) -> dict:
    """Objects written (a whole-object PUT answered 200, or a multipart upload completed),
    per key, and the conditional PUTs the bucket refused (412: the key existed)."""
    written, refused = Counter(), 0
    for line in s3_log.read_text(errors="replace").splitlines() if s3_log.exists() else []:
        m = REQUEST.search(ANSI.sub("", line))
        if not m or not m.group(2).startswith(bucket + "/"):
            continue
        method, target, status = m.group(1), m.group(2)[len(bucket) + 1:], m.group(3)
        key, _, query = target.partition("?")
        if method == "PUT" and "partNumber" not in query and status == "200":
            written[key] += 1
        elif method == "POST" and "uploadId" in query and status == "200":
            written[key] += 1
        elif method == "PUT" and status == "412":
            refused += 1
    return {"written": written, "refused": refused}


def foreign_files(host_dir: Path, videos: set) -> list[str]:
    """Files in the host's own directories that belong to a video it never ran a step of."""
    found = []
    for sub in ("data", "tmp"):
        for path in (host_dir / sub).rglob("*") if (host_dir / sub).exists() else []:
            m = re.search(r"videos/(\d+)/", path.as_posix())
            if path.is_file() and m and int(m.group(1)) not in videos:
                found.append(f"{host_dir.name}: {path.relative_to(host_dir)}")
    return found


def inventory(host_dir: Path) -> dict:
    api_log = host_dir / "logs" / "api.log"
    requests = sum(1 for line in api_log.read_text(errors="replace").splitlines()
                   if re.search(r'"(GET|POST|PATCH|HEAD|DELETE) /', line)) if api_log.exists() else 0
    files = [p for sub in ("data", "tmp") if (host_dir / sub).exists() for p in (host_dir / sub).rglob("*")
             if p.is_file()]
    return {"requests": requests, "files": len(files), "mb": round(sum(p.stat().st_size for p in files) / 1e6, 1)}


def audit(db_url: str, tokens: dict, allowed: dict, roles: dict, root: Path, s3_log: Path, bucket: str,
          storage, hooks_log: Path | None, since: float = 0.0) -> dict:
    """``tokens``: label -> token; ``allowed``: step -> hosts allowed to run it; ``roles``:
    host -> role; ``since``: epoch (DB clock) from which events count."""
    with connect(db_url, application_name="fleet-audit") as conn:
        jobs = {r["token"]: r for r in conn.execute(
            "SELECT q.token, q.id, q.video_id, q.status::text AS status, q.pipeline_step::text AS step, "
            "q.failure_cause FROM video_processing_queue q WHERE q.token = ANY(%s)", (list(tokens.values()),))}
        ids = [j["id"] for j in jobs.values()]
        events = conn.execute(
            "SELECT job_id, video_id, step::text AS step, kind::text AS kind, split_part(worker_id, ':', 1) AS host, "
            "details FROM queue_events WHERE job_id = ANY(%s) AND at >= to_timestamp(%s)", (ids, since)).fetchall()
        clips = {r["video_id"]: r["output"] for r in conn.execute(
            "SELECT video_id, output FROM step_checkpoints WHERE step = 'clip_generation' AND video_id = ANY(%s)",
            ([j["video_id"] for j in jobs.values()],))}
        leaked = conn.execute("SELECT count(*) AS n FROM step_checkpoints WHERE output::text LIKE %s",
                              (f"%{root}%",)).fetchone()["n"]
    lost, stuck, failed, done = [], [], [], 0
    for label, token in tokens.items():
        job = jobs.get(token)
        if job is None:
            lost.append(f"{label}: unknown to the database")
        elif job["status"] not in TERMINAL:
            stuck.append(f"{label}: {job['status']} at {job['step']}")
        elif job["status"] != "done":
            failed.append(f"{label}: {job['status']} at {job['step']} ({job['failure_cause']})")
        else:
            keys = [k for c in (clips.get(job["video_id"]) or {}).get("clips", []) for k in c["files"].values()]
            missing = [k for k in keys if not storage.exists(k)]
            if missing:
                lost.append(f"{label}: done but {len(missing)} of {len(keys)} clip objects missing from the bucket")
            else:
                done += 1
    by_host = defaultdict(Counter)
    worked_on = defaultdict(set)
    succeeded = Counter()
    wrong_host = []
    for e in events:
        if e["kind"] in ("claimed", "rescued"):
            worked_on[e["host"]].add(e["video_id"])
            by_host[e["host"]]["claims"] += 1
            by_host[e["host"]]["rescues"] += e["kind"] == "rescued"
        elif e["kind"] == "succeeded":
            by_host[e["host"]][e["step"]] += 1
            succeeded[(e["video_id"], e["step"])] += 1
            if e["host"] not in allowed.get(e["step"], ()):
                wrong_host.append(f"{e['step']} of video {e['video_id']} on {e['host']}")
        elif e["kind"] == "result_dropped":
            completed = (e["details"] or {}).get("completed", True)
            by_host[e["host"]]["dropped" if completed else "stopped"] += 1
    writes = bucket_writes(s3_log, bucket)
    twice_keys = sorted(k for k, n in writes["written"].items() if n > 1 and not k.startswith("uploads/"))
    hooks = Counter()
    for line in hooks_log.read_text().splitlines() if hooks_log and hooks_log.exists() else []:
        body = json.loads(json.loads(line)["body"] or "{}")
        hooks[body.get("type")] += 1
    return {
        "videos": len(tokens), "roles": roles, "done": done, "lost": lost, "stuck": stuck, "failed": failed,
        "steps_recorded_twice": sorted(f"video {v} {s}" for (v, s), n in succeeded.items() if n > 1),
        "bucket_objects_written_twice": twice_keys,
        "bucket_objects_written": sum(1 for k in writes["written"] if not k.startswith("uploads/")),
        "bucket_puts_refused_key_existed": writes["refused"],
        "steps_on_a_host_not_allowed": wrong_host,
        "checkpoints_naming_a_host_path": leaked,
        "files_of_videos_the_host_never_ran": [f for h in roles for f in foreign_files(root / "hosts" / h, worked_on[h])],
        "hosts": {h: {"role": roles.get(h, "?"), **dict(c)} for h, c in sorted(by_host.items())},
        "inventory": {h: inventory(root / "hosts" / h) for h in roles},
        "webhooks": dict(hooks),
    }


def duplicated(report: dict) -> int:
    return len(report["steps_recorded_twice"]) + len(report["bucket_objects_written_twice"])


STEP_COLS = ("download", "transcript", "content_type", "clip_lookup", "clip_generation")


def print_hosts(report: dict, addrs: dict, conns: dict, out) -> None:
    print("\nper host, real steps (claims and steps recorded, from queue_events; dropped = results refused by "
          "the fence; conns = most Postgres connections from its address; files/MB = its own data dir; "
          "http = API requests served)", file=out)
    head = f"  {'host':<9}{'addr':<14}{'role':<22}{'claims':>7}{'rescues':>8}" + \
        "".join(f"{s[:9]:>10}" for s in STEP_COLS) + f"{'dropped':>8}{'conns':>6}{'files':>7}{'MB':>7}{'http':>6}"
    print(head, file=out)
    for host, role in report["roles"].items():
        c = report["hosts"].get(host, {})
        inv = report["inventory"].get(host, {})
        print(f"  {host:<9}{addrs.get(host, ''):<14}{role:<22}{c.get('claims', 0):>7}{c.get('rescues', 0):>8}"
              + "".join(f"{c.get(s, 0):>10}" for s in STEP_COLS)
              + f"{c.get('dropped', 0) + c.get('stopped', 0):>8}{conns.get(host, 0):>6}"
              f"{inv.get('files', 0):>7}{inv.get('mb', 0):>7}{inv.get('requests', 0):>6}", file=out)
