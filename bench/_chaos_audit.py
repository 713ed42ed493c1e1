"""The chaos run's audit: what was lost, stuck, failed without an injected cause, or done
twice, from the database, the storage, the fake servers' logs and the ffmpeg log."""
from __future__ import annotations

import json
import sys
from collections import Counter

from bench._chaos_rig import Chaos, Config, TERMINAL, _http
from workers.queue.db import connect


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
    # Renders: successful ffmpeg runs per clip file. A clip rendered again after its file was
    # published is work done twice; one rendered again because a kill landed between its
    # render's end and its publication (the copy and fsync into storage) is the step in
    # flight, lost to the kill like a render cut short. Publication time: the storage file's
    # ctime, set by the link that publishes it.
    started, renders, starts = {}, {}, set()
    for line in (render_log.read_text().splitlines() if render_log.exists() else []):
        parts = line.split(" ")
        if parts[0] == "START":
            starts.add(parts[1])
            started[parts[1]] = float(parts[2])
        elif parts[0] == "END":
            starts.discard(parts[1])
            if parts[2] == "0" and parts[-1].endswith((".mp4", ".m4a")):
                renders.setdefault((parts[3], parts[4]), []).append(started.get(parts[1], 0.0))
    twice, redone_unpublished = [], 0
    for (src, out), times in renders.items():
        if len(times) < 2:
            continue
        video = src.split("videos/", 1)[-1].split("/", 1)[0]
        published = storage_root / "videos" / video / "clip_generation" / out
        published_at = published.stat().st_ctime if published.is_file() else float("inf")
        if any(t > published_at for t in times):
            twice.append(out)
        else:
            redone_unpublished += len(times) - 1
    video_seconds = sum((j["finished_at"] - j["created_at"]).total_seconds() for j in jobs.values()
                        if j["finished_at"] is not None)
    return {
        "videos": len(tokens), "workers": cfg.workers, "done": done, "failed": failed,
        "lost": lost, "stuck": stuck, "unexplained_failures": unexplained,
        "completed_steps_run_twice": [dict(r) for r in repeated],
        "results_dropped": events.get("result_dropped", 0),
        "bytes_sent": sent, "bytes_needed": needed, "bytes_ratio": round(sent / needed, 3) if needed else None,
        "clips_rendered": sum(len(t) for t in renders.values()),
        "clips_rendered_twice": sorted(twice),
        "renders_redone_unpublished": redone_unpublished,  # killed after the render, before publishing
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
        ("  clips rendered / renders cut by a kill / redone, killed before publishing",
         f"{r['clips_rendered']} / {r['renders_interrupted']} / {r.get('renders_redone_unpublished', 0)}"),
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
