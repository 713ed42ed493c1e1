"""``/public/uploads``: resumable uploads, tus 1.0 (core; creation, termination, expiration).

OPTIONS says what the server speaks; POST (``Upload-Length``, optional ``Upload-Metadata``:
``filename``, the clip options (band, count, aspect, captions), ``callback_url``) creates an upload; HEAD says its offset;
PATCH (``application/offset+octet-stream`` at ``Upload-Offset``) appends a chunk; DELETE
drops an unfinished one. The size cap (CLIPQUEUE_MAX_FILESIZE_MB) is checked before a byte is
stored, and so is the disk: a chunk needs CLIPQUEUE_MIN_FREE_MB plus its own size free (507
otherwise). A chunk is at least ``chunks.MIN_CHUNK`` bytes unless it ends the upload. A PATCH
holds the upload's writer lease while it streams (a concurrent PATCH gets 409) and writes
only its own object (``server/tus.py``); the bytes that arrived before a dropped connection
are kept, so a client resumes from the offset HEAD gives. The last chunk makes a video in
the queue (the token is in ``ClipQueue-Token``), whose download step assembles and registers
the file.
"""
from __future__ import annotations

import secrets
from datetime import timezone
from email.utils import format_datetime

from flask import Blueprint, Response, request, url_for

from workers.pipeline.uploads import chunks, store
from workers.pipeline.webhooks import store as webhooks
from workers.queue import jobs as queue

from . import tus
from .errors import ApiError
from .state import state
from .submissions import callback_url, clip_options

blueprint = Blueprint("uploads", __name__, url_prefix="/public/uploads")

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"


@blueprint.after_request
def tus_headers(response: Response) -> Response:
    response.headers["Tus-Resumable"] = TUS_VERSION
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.before_request
def tus_version():
    if request.method == "OPTIONS":
        return
    version = request.headers.get("Tus-Resumable")
    if not version:  # not a tus request at all
        raise ApiError(400, "missing_tus_resumable", f"send Tus-Resumable: {TUS_VERSION}")
    if version != TUS_VERSION:  # tus: a version the server does not speak is a 412
        raise ApiError(412, "unsupported_tus_version", f"this server speaks tus {TUS_VERSION}",
                       {"Tus-Version": TUS_VERSION})


def _max_bytes() -> int:
    return int(state().settings.max_filesize_mb * 1024 * 1024)


@blueprint.route("", methods=["OPTIONS"], provide_automatic_options=False)
def options():
    return Response(status=204, headers={"Tus-Version": TUS_VERSION, "Tus-Extension": EXTENSIONS,
                                         "Tus-Max-Size": str(_max_bytes())})


@blueprint.post("")
def create():
    length = tus.integer_header("Upload-Length")
    if length is None:
        raise ApiError(400, "missing_upload_length", "send Upload-Length (deferred lengths are not supported)")
    if length > _max_bytes():
        raise ApiError(413, "upload_too_large", f"the file is over the {state().settings.max_filesize_mb:.0f} MB limit")
    if length == 0:
        raise ApiError(400, "empty_upload", "an empty file is not a video")
    metadata = tus.metadata(request.headers.get("Upload-Metadata", ""))
    numbers = {k: tus.number(k, v) for k, v in metadata.items() if k in ("clip_min_seconds", "clip_max_seconds",
                                                                       "max_clips")}
    options = clip_options({**numbers, **{k: v for k, v in metadata.items() if k in ("aspect", "captions")}})
    callback = callback_url(metadata)
    filename = (metadata.get("filename") or "").strip()[:255] or None
    upload_id = secrets.token_urlsafe(24).replace("-", "_")
    app_state = state()
    with app_state.pool.connection() as conn:
        row = store.create(conn, id=upload_id, length=length, filename=filename, options=options,
                           callback_url=callback, ttl_seconds=app_state.settings.upload_ttl_s)
    return Response(status=201, headers={"Location": url_for("uploads.head", upload_id=upload_id),
                                         "Upload-Expires": _http_date(row["expires_at"])})


@blueprint.route("/<upload_id>", methods=["HEAD"])
def head(upload_id: str):
    upload = _upload(upload_id)
    if upload["received"] == upload["length"] and upload["video_token"] is None:
        # Every byte arrived but the PATCH that took the last ones died before it made the
        # video: make it now (enqueue is idempotent per upload), so nothing is lost.
        with state().pool.connection() as conn:
            _make_video(conn, upload)
            upload = store.get(conn, upload_id)
    headers = {"Upload-Offset": str(upload["received"]), "Upload-Length": str(upload["length"])}
    headers.update(_finished_or_expiry(upload))
    return Response(status=200, headers=headers)


@blueprint.route("/<upload_id>", methods=["PATCH"])
def patch(upload_id: str):
    if request.mimetype != "application/offset+octet-stream":
        raise ApiError(415, "unsupported_media_type", "send the bytes as application/offset+octet-stream")
    offset = tus.integer_header("Upload-Offset")
    if offset is None:
        raise ApiError(400, "missing_upload_offset", "send Upload-Offset")
    upload = _upload(upload_id)
    if upload["video_token"] is not None:
        raise ApiError(409, "upload_finished", "this upload is complete")
    if offset != upload["received"]:  # checked again, atomically, when the lease is taken
        raise ApiError(409, "offset_mismatch", f"the upload is at offset {upload['received']}; HEAD it and resume "
                                               "there")
    size, room = request.content_length, upload["length"] - offset
    if size is not None and size > room:
        raise ApiError(413, "upload_too_large", "the chunk goes past the Upload-Length given at creation")
    expected = room if size is None else size
    if 0 < expected < min(chunks.MIN_CHUNK, room):
        raise ApiError(400, "chunk_too_small", f"a chunk is at least {chunks.MIN_CHUNK} bytes, unless it is the "
                                               "upload's last")
    app_state = state()
    pool, storage, settings = app_state.pool, app_state.storage, app_state.settings
    if not chunks.has_room(free=storage.free_bytes(), min_free=int(settings.min_free_mb * 1024 * 1024),
                           length=expected):
        raise tus.insufficient_storage()
    attempt = secrets.token_hex(4)
    writer, key = tus.writer_id(attempt), chunks.key(upload_id, offset, attempt)
    lease_s = settings.upload_writer_lease_s
    if not tus.take_writer(pool, storage, upload_id, offset=offset, writer=writer, key=key, lease_s=lease_s):
        with pool.connection() as conn:
            now = store.get(conn, upload_id)
        if now is None:
            raise ApiError(404, "unknown_upload", "no such upload")
        now_at = now["received"]
        raise ApiError(409, "offset_mismatch", f"the upload is at offset {now_at} (or another request is writing "
                                               "it); HEAD it and resume there")
    try:
        received, dropped = tus.store_chunk(pool, storage, upload_id, writer=writer, key=key, room=room,
                                            lease_s=lease_s)
    except BaseException as exc:
        answer = tus.failed_store(pool, storage, upload_id, writer=writer, key=key, exc=exc)
        if answer is None:
            raise
        raise answer from None
    keep = received >= chunks.MIN_CHUNK or 0 < received == room  # a dropped bit below the minimum is not kept
    if not keep:
        tus.give_up(pool, storage, upload_id, writer=writer, key=key)
        received = 0
    with pool.connection() as conn:
        if keep and store.add_chunk(conn, upload_id, offset=offset, size=received, attempt=attempt, writer=writer,
                                    ttl_seconds=settings.upload_ttl_s) is None:
            tus.give_up(pool, storage, upload_id, writer=writer, key=key)
            raise ApiError(409, "offset_mismatch", "the writer lease ended (or the upload was deleted) while the "
                                                   "chunk was stored; HEAD it and resume there")
        upload = store.get(conn, upload_id)
        if upload is None:
            raise ApiError(404, "unknown_upload", "no such upload")  # deleted while the chunk streamed
        if upload["received"] == upload["length"]:
            _make_video(conn, upload)
            upload = store.get(conn, upload_id)
    if dropped:
        raise ApiError(400, "incomplete_chunk", f"the connection ended early; {received} bytes were kept")
    headers = {"Upload-Offset": str(upload["received"]), **_finished_or_expiry(upload)}
    return Response(status=204, headers=headers)


@blueprint.route("/<upload_id>", methods=["DELETE"])
def delete(upload_id: str):
    _upload(upload_id)
    app_state = state()
    with app_state.pool.connection() as conn:
        removed = store.delete(conn, upload_id)
    if removed is None:
        raise ApiError(409, "upload_finished", "this upload is complete; its video stays")
    chunks.discard_listed(app_state.storage, upload_id, removed["chunks"], removed["writer_key"])
    return Response(status=204)


# ---------------------------------------------------------------- helpers
def _upload(upload_id: str) -> dict:
    if not tus.UPLOAD_ID.fullmatch(upload_id):
        raise ApiError(404, "unknown_upload", "no such upload")  # never an id we made (a NUL, a slash...)
    with state().pool.connection() as conn:
        upload = store.get(conn, upload_id)
    if upload is None:
        raise ApiError(404, "unknown_upload", "no such upload")
    if upload["expired"] and upload["video_token"] is None:
        raise ApiError(410, "upload_expired", "this upload expired; start it again")
    return upload


def _finished_or_expiry(upload: dict) -> dict:
    if upload["video_token"] is not None:
        token = upload["video_token"]
        return {"ClipQueue-Token": token, "ClipQueue-Status-URL": url_for("video.status", token=token)}
    return {"Upload-Expires": _http_date(upload["expires_at"])}


def _make_video(conn, upload: dict) -> None:
    source = f"upload:{upload['id']}"
    options = {**upload["options"], "upload": {"id": upload["id"], "chunks": store.chunk_list(conn, upload["id"]),
                                               "length": upload["length"]}}
    if upload["filename"]:
        options["filename"] = upload["filename"]
    settings = state().settings
    job = queue.enqueue(conn, source_url=source, normalized_url=source, max_retries=settings.max_retries,
                        options=options)
    token = store.finish(conn, upload["id"], token=job.token)
    if upload["callback_url"]:
        webhooks.subscribe(conn, token, upload["callback_url"], most=settings.webhook_max_per_video)


def _http_date(moment) -> str:
    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)
