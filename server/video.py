"""``/public/video``: submit a URL, read a job's status by its token, fetch its clip files."""
from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request, send_file, url_for

from workers.queue import jobs as queue
from workers.pipeline.status import describe
from workers.pipeline.storage import video_key
from workers.pipeline.webhooks import store as webhooks
from workers.pipeline.table import STEPS
from workers.pipeline.fetcher.guard import UrlRejected, check_url

from .errors import ApiError
from .requests import byte_range, json_object_body
from .submissions import CLIP_OPTIONS, callback_url, clip_options
from .state import state

blueprint = Blueprint("video", __name__, url_prefix="/public/video")

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
WEBHOOK_PATTERN = re.compile(r"wh_[0-9a-f]{32}")
SUBMIT_FIELDS = ("url", "clip_min_seconds", "clip_max_seconds", "max_clips", "aspect", "captions", "callback_url")
@blueprint.post("")
def submit():
    body = json_object_body()
    unknown = sorted(set(body) - set(SUBMIT_FIELDS))
    if unknown:
        raise ApiError(400, "unknown_field",
                       f"unknown field(s): {', '.join(unknown)}; accepted: {', '.join(SUBMIT_FIELDS)}")
    options = clip_options(body)
    app_state = state()
    settings = app_state.settings
    try:
        normalized = check_url(body.get("url"), max_length=settings.max_url_length,
                               allow_private=settings.allow_private_urls, resolver=app_state.resolver,
                               allowed=app_state.address_policy)
    except UrlRejected as exc:
        raise ApiError(400, exc.code, exc.message) from None
    callback = callback_url(body)
    with app_state.pool.connection() as conn:
        result = queue.enqueue(conn, source_url=body["url"].strip(), normalized_url=normalized,
                               max_retries=settings.max_retries, options=options)
    theirs = {k: v for k, v in result.options.items() if k in CLIP_OPTIONS}
    if not result.created and theirs != options:
        # The URL's job was (or is being) made with other clip options: say so rather than
        # hand back clips the client did not ask for.
        shown = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                          for k, v in sorted(theirs.items())) or "the default options"
        raise ApiError(409, "options_conflict",
                       f"this URL already has a job made with other clip options ({shown}); submit it with "
                       "those options to get its token, or wait until it has finished and failed or been "
                       "cancelled")
    accepted = {"token": result.token, "created": result.created}
    if callback is not None:
        with app_state.pool.connection() as conn:
            subscription = webhooks.subscribe(conn, result.token, callback, most=settings.webhook_max_per_video)
        if subscription["public_id"] is None:
            raise ApiError(409, "too_many_webhooks",
                           f"this video has {settings.webhook_max_per_video} webhook subscriptions already, the most "
                           "it may have (CLIPQUEUE_WEBHOOK_MAX_PER_VIDEO); submit it without callback_url and poll "
                           "its status instead")
        accepted["webhook"] = subscription["public_id"]
    status_url = url_for("video.status", token=result.token, webhook=accepted.get("webhook"))
    response = jsonify({"token": result.token, "status_url": status_url, **accepted})
    response.status_code = 202
    response.headers["Location"] = status_url
    return response


@blueprint.get("/status")
def status():
    token = request.args.get("token")
    if token is None or token == "":
        raise ApiError(400, "missing_token", "give the token as ?token=...")
    if not TOKEN_PATTERN.fullmatch(token):
        raise ApiError(400, "invalid_token", "that is not a ClipQueue token")
    webhook = request.args.get("webhook")
    if webhook is not None and not WEBHOOK_PATTERN.fullmatch(webhook):
        raise ApiError(400, "invalid_webhook", "that is not a webhook id (the submission's \"webhook\")")
    with state().pool.connection() as conn:
        job = queue.job_status(conn, token)
        deliveries = webhooks.for_subscription(conn, token, webhook) if job is not None and webhook else None
    if job is None:
        raise ApiError(404, "unknown_token", "no video was submitted with that token")
    if webhook is not None and deliveries is None:
        raise ApiError(404, "unknown_webhook", "this video has no webhook subscription with that id")
    view = describe(job, state().storage, file_url, settings=state().settings)
    if deliveries is not None:  # the caller's own subscription only: the token is shared by every submitter
        view["webhooks"] = [{**{k: v for k, v in d.items() if k != "callback_url"},
                             "host": urlsplit(d["callback_url"]).hostname} for d in deliveries]
    response = jsonify(view)
    response.headers["Cache-Control"] = "no-store"
    return response


def file_url(token: str, name: str) -> str:
    """Where this API serves a clip file (``files`` below)."""
    return url_for("video.files", token=token, name=name)


FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
FILE_TYPES = {".mp4": "video/mp4", ".m4a": "audio/mp4", ".srt": "application/x-subrip",
              ".vtt": "text/vtt", ".jpg": "image/jpeg"}


@blueprint.get("/<token>/files/<name>")
def files(token: str, name: str):
    """A finished clip's file, with HTTP Range support (206), so browsers can seek."""
    if not TOKEN_PATTERN.fullmatch(token) or not FILE_NAME.fullmatch(name):
        raise ApiError(404, "not_found", "no such file")
    app_state = state()
    with app_state.pool.connection() as conn:
        job = queue.job_status(conn, token)
    last = job["checkpoints"].get(STEPS[-1]) if job else None
    keys = [k for k in ((last or {}).get("storage_keys") or []) if k.rsplit("/", 1)[-1] == name]
    if not keys:
        raise ApiError(404, "not_found", "no such file")
    try:
        path = app_state.storage.local_path(keys[0])
    except FileNotFoundError:  # listed in the checkpoint but gone from storage (deleted by hand)
        raise ApiError(404, "file_missing", "that file is no longer stored") from None
    byte_range(path.stat().st_size)
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    return _private(send_file(path, mimetype=FILE_TYPES.get(suffix, "application/octet-stream"),
                              conditional=True, max_age=3600, download_name=name))


@blueprint.get("/<token>/transcript")
def transcript(token: str):
    """The video's transcript once the transcript step is done: segments with their times
    and words (for click-to-seek and find-a-phrase on the page)."""
    video_id = _video_id(token)
    key = video_key(video_id, "transcript", "transcript.json")
    storage = state().storage
    if not storage.exists(key):
        raise ApiError(404, "not_ready", "the transcript is not ready yet")
    data = json.loads(storage.get_bytes(key))
    segments = [{"start": s["start"], "end": s["end"], "text": s["text"],
                 "words": [{"word": w["word"], "start": w["start"], "end": w["end"]} for w in s.get("words", [])]}
                for s in data.get("segments", [])]
    response = jsonify({"token": token, "language": data.get("language"), "duration": data.get("duration"),
                        "segments": segments})
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@blueprint.get("/<token>/source")
def source(token: str):
    """The downloaded (or uploaded) media itself, with HTTP Range, so the page can play the
    whole video and seek it from the transcript."""
    video_id = _video_id(token)
    key = video_key(video_id, "download", "source")
    storage = state().storage
    if not storage.exists(key):
        raise ApiError(404, "not_ready", "the video is not downloaded yet")
    path = storage.local_path(key)
    byte_range(path.stat().st_size)
    # Browsers sniff the container of a media element's source; the type is a hint.
    return _private(send_file(path, mimetype="video/mp4", conditional=True, max_age=3600, download_name="source"))


def _private(response):
    """A file under a URL that carries the token: browsers may keep it, shared caches never
    (``private``); and never sniffed into another type (``nosniff``)."""
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _video_id(token: str) -> int:
    if not TOKEN_PATTERN.fullmatch(token):
        raise ApiError(404, "not_found", "no such video")
    with state().pool.connection() as conn:
        job = queue.job_by_token(conn, token)
    if job is None:
        raise ApiError(404, "not_found", "no such video")
    return job["video_id"]
