"""The public view of a job: what the status endpoint answers and what a webhook carries."""
from __future__ import annotations

from typing import Callable

from workers.pipeline.steps.clip_lookup import band_and_count
from workers.pipeline.table import STEPS


def describe(job: dict, storage, file_url: Callable[[str, str], str], *, settings) -> dict:
    """The public view of a job (a ``jobs.job_status`` row): no internal ids, no worker
    names, no tracebacks. ``file_url(token, name)`` is where the API serves a clip file
    that storage does not hand out itself; ``settings`` give the defaults of the options
    the request left out."""
    status, current, checkpoints = job["status"], job["step"], job["checkpoints"]
    timeline = []
    for step in STEPS:
        entry = {"step": step, "state": "pending"}
        done = checkpoints.get(step)
        if done is not None:
            entry.update(state="done", started_at=done["started_at"], finished_at=done["finished_at"],
                         duration_s=done["duration_s"])
        elif step == current:
            entry["state"] = {"running": "running", "failed": "failed", "cancelled": "cancelled"}.get(
                status, "retrying" if job["retry"] else "queued")
            if status == "running":
                entry["started_at"] = job["step_started_at"]
                entry["progress"] = job["step_progress"] or 0.0
        timeline.append(entry)
    finished = sum(1 for step in STEPS if step in checkpoints)
    partial = (job["step_progress"] or 0.0) if status == "running" else 0.0
    view = {
        "token": job["token"],
        "url": job["source_url"],
        "filename": (job["options"] or {}).get("filename"),
        "options": made_with(job["options"] or {}, settings),
        "status": status,
        "pipeline_step": current,
        "progress": 1.0 if status == "done" else round((finished + partial) / len(STEPS), 4),
        "retry": job["retry"],
        "max_retries": job["max_retries"],
        "steps": timeline,
        "failure": None,
        "created_at": job["created_at"],
        "updated_at": job["updated_at"],
        "finished_at": job["finished_at"],
    }
    usage = [cp.get("usage") or {} for cp in checkpoints.values()]
    if any(usage):
        view["llm_usage"] = {
            "prompt_tokens": sum(int(u.get("prompt_tokens") or 0) for u in usage),
            "completion_tokens": sum(int(u.get("completion_tokens") or 0) for u in usage),
            "cost_usd": round(sum(float(u.get("cost_usd") or 0) for u in usage), 6),
        }
    # A cancelled video shows no failure: its last one was transient ("it will be retried"),
    # and nothing will retry it now.
    if job["failure_cause"] and status in ("queued", "running", "failed"):
        view["failure"] = {"cause": job["failure_cause"],
                           "message": job["failure_message"] or job["failure_cause"]}
        if status == "queued":
            view["next_attempt_at"] = job["run_after"]
    if status == "done":
        # Only the last step's "result" is public; the rest of a checkpoint is internal.
        last = checkpoints.get(STEPS[-1])
        view["result"] = public_result(last.get("result"), job["token"], storage, file_url) if last else None
    return view


def made_with(options: dict, settings) -> dict:
    """The clip options a video is made with: the request's, the server's defaults for the
    rest (as the steps read them)."""
    band, count = band_and_count(options, settings)
    return {"clip_min_seconds": band.min_s, "clip_max_seconds": band.max_s, "max_clips": count,
            "aspect": options.get("aspect", "original"), "captions": options.get("captions", "files")}


def file_link(storage, token: str, key: str, file_url: Callable[[str, str], str]) -> str:
    """Where a client fetches a stored clip file: from S3 directly (a presigned URL), or from
    the API (``file_url(token, file name)``) for local storage."""
    return storage.public_url(key) or file_url(token, key.rsplit("/", 1)[-1])


def public_result(result, token: str, storage, file_url: Callable[[str, str], str]):
    """Clip files become URLs; storage keys stay internal."""
    if not isinstance(result, dict) or not isinstance(result.get("clips"), list):
        return result
    clips = []
    for clip in result["clips"]:
        clip = dict(clip)
        files = clip.pop("files", None) or {}
        clip["urls"] = {kind: file_link(storage, token, key, file_url) for kind, key in files.items()}
        clips.append(clip)
    return {**result, "clips": clips}
