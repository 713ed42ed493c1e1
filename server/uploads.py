"""``/public/uploads``: resumable uploads, tus 1.0 (core; creation, termination, expiration).

OPTIONS says what the server speaks; POST (``Upload-Length``, optional ``Upload-Metadata``:
``filename``, the clip options (band, count, aspect, captions), ``callback_url``) creates an upload; HEAD says its offset;
PATCH (``application/offset+octet-stream`` at ``Upload-Offset``) appends a chunk; DELETE
drops an unfinished one. The size cap (CLIPQUEUE_MAX_FILESIZE_MB) is checked before a byte is
stored. A PATCH holds the upload's writer lease while it streams (a concurrent PATCH gets
409), renewed every third of CLIPQUEUE_UPLOAD_WRITER_LEASE_S, so a PATCH whose process or
machine died frees the upload within that; the bytes that arrived before a dropped connection are kept, so a client resumes from
the offset HEAD gives. The last chunk makes a video in the queue (the token is in
``ClipQueue-Token``), whose download step assembles and registers the file.
"""
from __future__ import annotations

import base64
import binascii
import os
import secrets
import tempfile
import threading
from contextlib import contextmanager
from datetime import timezone
from email.utils import format_datetime
from pathlib import Path

from flask import Blueprint, Response, request, url_for
from werkzeug.exceptions import ClientDisconnected

from workers.pipeline import metrics
from workers.pipeline.uploads import chunks, store
from workers.pipeline.webhooks import store as webhooks
from workers.queue import jobs as queue

from .errors import ApiError
from .state import state
from .submissions import callback_url, clip_options

blueprint = Blueprint("uploads", __name__, url_prefix="/public/uploads")

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
METADATA_KEYS = ("filename", "clip_min_seconds", "clip_max_seconds", "max_clips", "aspect", "captions",
                 "callback_url")
BLOCK = 1024 * 1024


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
    length = _integer_header("Upload-Length")
    if length is None:
        raise ApiError(400, "missing_upload_length", "send Upload-Length (deferred lengths are not supported)")
    if length > _max_bytes():
        raise ApiError(413, "upload_too_large", f"the file is over the {state().settings.max_filesize_mb:.0f} MB limit")
    if length == 0:
        raise ApiError(400, "empty_upload", "an empty file is not a video")
    metadata = _metadata(request.headers.get("Upload-Metadata", ""))
    numbers = {k: _number(k, v) for k, v in metadata.items() if k in ("clip_min_seconds", "clip_max_seconds",
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
    offset = _integer_header("Upload-Offset")
    if offset is None:
        raise ApiError(400, "missing_upload_offset", "send Upload-Offset")
    upload = _upload(upload_id)
    if upload["video_token"] is not None:
        raise ApiError(409, "upload_finished", "this upload is complete")
    size = request.content_length
    if size is not None and offset + size > upload["length"]:
        raise ApiError(413, "upload_too_large", "the chunk goes past the Upload-Length given at creation")
    app_state = state()
    writer = f"{os.getpid()}/{secrets.token_hex(6)}"
    with app_state.pool.connection() as conn:
        taken = store.take_writer(conn, upload_id, offset=offset, writer=writer,
                                  lease_seconds=app_state.settings.upload_writer_lease_s)
        now_at = None if taken else store.get(conn, upload_id)["received"]
    if taken is None:
        raise ApiError(409, "offset_mismatch", f"the upload is at offset {now_at} (or another request is writing "
                                               "it); HEAD it and resume there")
    try:
        with _renewed(app_state, upload_id, writer):
            received, dropped = _store_chunk(upload_id, offset, upload["length"] - offset)
    except BaseException:
        with app_state.pool.connection() as conn:
            store.release_writer(conn, upload_id, writer=writer)
        raise
    with app_state.pool.connection() as conn:
        if received:
            moved = store.add_chunk(conn, upload_id, offset=offset, size=received, writer=writer,
                                    ttl_seconds=app_state.settings.upload_ttl_s)
        else:
            store.release_writer(conn, upload_id, writer=writer)
            moved = {"received": offset}
        if moved is None:
            raise ApiError(409, "offset_mismatch", "the writer lease expired while the chunk was stored; resume")
        upload = store.get(conn, upload_id)
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
    chunks.discard(app_state.storage, upload_id, removed["chunks"])
    return Response(status=204)


# ---------------------------------------------------------------- helpers
def _upload(upload_id: str) -> dict:
    with state().pool.connection() as conn:
        upload = store.get(conn, upload_id) if len(upload_id) <= 64 else None
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


def _store_chunk(upload_id: str, offset: int, room: int) -> tuple[int, bool]:
    """Stream the body (at most ``room`` bytes) to a chunk object; (bytes kept, dropped?)."""
    request.max_content_length = room  # this route's cap is the upload's, not the JSON one
    storage = state().storage
    received, dropped = 0, False
    with tempfile.NamedTemporaryFile(prefix="chunk-", dir=os.environ.get("TMPDIR")) as part:
        try:
            while received < room:
                block = request.stream.read(min(BLOCK, room - received))
                if not block:
                    break
                part.write(block)
                received += len(block)
        except (ClientDisconnected, OSError):
            dropped = True  # keep what arrived: the client resumes from there
        if received:
            part.flush()
            key = chunks.key(upload_id, offset)
            storage.delete(key)  # a chunk an interrupted PATCH left at this offset (the lease is ours)
            storage.put_file(key, Path(part.name))
            metrics.UPLOAD_BYTES.inc(received)
    return received, dropped


@contextmanager
def _renewed(app_state, upload_id: str, writer: str):
    """Renew the writer lease every third of it while the PATCH streams and stores its chunk."""
    lease_s = app_state.settings.upload_writer_lease_s
    stop = threading.Event()

    def renew():
        while not stop.wait(lease_s / 3):
            try:
                with app_state.pool.connection() as conn:
                    if not store.renew_writer(conn, upload_id, writer=writer, lease_seconds=lease_s):
                        return  # lost: add_chunk's fence refuses the chunk, the client resumes
            except Exception:  # noqa: BLE001 - the next tick tries again
                pass
    thread = threading.Thread(target=renew, name="upload-writer-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _make_video(conn, upload: dict) -> None:
    source = f"upload:{upload['id']}"
    options = {**upload["options"], "upload": {"id": upload["id"], "chunks": list(upload["chunks"]),
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


def _integer_header(name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, f"invalid_{name.lower().replace('-', '_')}", f"{name} must be a whole number of bytes")
    return int(raw)


def _metadata(header: str) -> dict:
    """tus Upload-Metadata: comma-separated ``key base64(value)`` pairs."""
    found = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        if key not in METADATA_KEYS:
            raise ApiError(400, "unknown_metadata", f"unknown Upload-Metadata key {key[:40]!r}; accepted: "
                                                    f"{', '.join(METADATA_KEYS)}")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(400, "invalid_metadata", f"Upload-Metadata {key}: not base64 of UTF-8 text") from None
    return found


def _number(key: str, value: str):
    try:
        return int(value) if key == "max_clips" else float(value)
    except ValueError:
        raise ApiError(400, f"invalid_{'max_clips' if key == 'max_clips' else 'clip_length'}",
                       f"Upload-Metadata {key} must be a number") from None
