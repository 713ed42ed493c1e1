"""tus helpers for ``server/uploads.py``: the headers (numbers, ``Upload-Metadata``), the
writer's identity, and one PATCH's chunk stored under the writer lease.

A PATCH writes its bytes under a key of its own (``chunks.key(id, offset, attempt)``) and
publishes them by the offset check (``store.add_chunk``: one UPDATE whose WHERE holds the
lease and the offset). Whatever goes wrong -- a lost lease, a DELETE meanwhile, a full disk, a
storage error -- it deletes its own object, and only its own, and gives the lease back at
once. The lease (CLIPQUEUE_UPLOAD_WRITER_LEASE_S) is pushed on every quarter of it while bytes
arrive, and a writer whose process is known gone (same host, no such process) is taken over at
once; one elsewhere when its lease runs out.
"""
from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import socket
import time
from pathlib import Path

from flask import request
from werkzeug.exceptions import ClientDisconnected

from workers.pipeline import metrics
from workers.pipeline.uploads import chunks, store

from .errors import ApiError

log = logging.getLogger(__name__)

METADATA_KEYS = ("filename", "clip_min_seconds", "clip_max_seconds", "max_clips", "aspect", "captions",
                 "callback_url")
UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
BLOCK = 64 * 1024  # a read returns when this much arrived: the lease is pushed on between reads, so a
# PATCH keeps it while at least BLOCK bytes arrive per quarter lease (about 4 KB/s)
HOST = socket.gethostname()


class LeaseLost(Exception):
    """The writer lease was taken over (or the upload deleted) while the chunk streamed."""


def integer_header(name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, f"invalid_{name.lower().replace('-', '_')}", f"{name} must be a whole number of bytes")
    return int(raw)


def metadata(header: str) -> dict:
    """tus Upload-Metadata: comma-separated ``key base64(value)`` pairs (UTF-8 text, no NUL)."""
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
        if "\0" in found[key]:
            raise ApiError(400, "invalid_metadata", f"Upload-Metadata {key}: text may not contain a NUL character")
    return found


def number(key: str, value: str):
    try:
        return int(value) if key == "max_clips" else float(value)
    except ValueError:
        raise ApiError(400, f"invalid_{'max_clips' if key == 'max_clips' else 'clip_length'}",
                       f"Upload-Metadata {key} must be a number") from None


def writer_id(attempt: str) -> str:
    return f"{HOST}/{os.getpid()}/{attempt}"


def writer_gone(writer: str | None) -> bool:
    """True only when ``writer`` ran on this host in a process that no longer exists (a
    killed API worker); a writer elsewhere is known gone only when its lease runs out."""
    host, _, rest = (writer or "").partition("/")
    pid = rest.partition("/")[0]
    if host != HOST or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie (dead, not reaped yet) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def take_writer(pool, storage, upload_id: str, *, offset: int, writer: str, key: str, lease_s: float) -> bool:
    """The writer lease at ``offset``: free, lapsed, or held by a process known gone. The
    replaced writer's unpublished object (if any) is removed: no one will publish it."""
    with pool.connection() as conn:
        taken = store.take_writer(conn, upload_id, offset=offset, writer=writer, key=key, lease_seconds=lease_s)
        if taken is None:
            holder = store.get(conn, upload_id)
            if holder is not None and writer_gone(holder["writer"]):
                taken = store.take_writer(conn, upload_id, offset=offset, writer=writer, key=key,
                                          lease_seconds=lease_s, gone=holder["writer"])
    if taken is not None and taken["stale_key"]:
        _quietly_delete(storage, taken["stale_key"])
    return taken is not None


def store_chunk(pool, storage, upload_id: str, *, writer: str, key: str, room: int,
                lease_s: float) -> tuple[int, bool]:
    """Stream the body (at most ``room`` bytes) to the object ``key``, pushing the lease on
    while bytes arrive; (bytes stored, dropped?). A dropped connection keeps what arrived.
    On any error the object is gone when this returns (LeaseLost, or the error itself)."""
    request.max_content_length = room  # this route's cap is the upload's, not the JSON one
    state = {"received": 0, "dropped": False, "renewed": time.monotonic()}

    def blocks():
        while state["received"] < room:
            try:
                block = request.stream.read(min(BLOCK, room - state["received"]))
            except (ClientDisconnected, OSError):
                state["dropped"] = True  # keep what arrived: the client resumes from there
                return
            if not block:
                return
            state["received"] += len(block)
            if time.monotonic() - state["renewed"] >= lease_s / 4:
                with pool.connection() as conn:
                    if not store.renew_writer(conn, upload_id, writer=writer, lease_seconds=lease_s):
                        raise LeaseLost()
                state["renewed"] = time.monotonic()
            yield block

    try:
        storage.put_stream(key, blocks())
    except BaseException:
        _quietly_delete(storage, key)  # what a storage left of it (S3: a PUT that landed late)
        raise
    metrics.UPLOAD_BYTES.inc(state["received"])
    return state["received"], state["dropped"]


def failed_store(pool, storage, upload_id: str, *, writer: str, key: str, exc: BaseException) -> ApiError | None:
    """A chunk that could not be stored: its object removed, the lease given back at once;
    the answer (None: re-raise ``exc``)."""
    try:
        held = give_up(pool, storage, upload_id, writer=writer, key=key)
    except Exception:  # noqa: BLE001 - the lease runs out by itself; say what went wrong first
        log.exception("upload %s: could not give the writer lease back", upload_id)
        held = True
    if isinstance(exc, LeaseLost) or not held:
        return ApiError(409, "offset_mismatch", "another request took this upload over while the chunk was "
                                                "stored; HEAD it and resume there")
    if chunks.is_disk_full(exc):
        return insufficient_storage()
    if isinstance(exc, Exception):
        log.exception("upload %s: the chunk could not be stored", upload_id, exc_info=exc)
        return ApiError(503, "storage_unavailable", "the chunk could not be stored; retry it shortly",
                        {"Retry-After": "5"})
    return None


def give_up(pool, storage, upload_id: str, *, writer: str, key: str) -> bool:
    """Delete this PATCH's own object and give its lease back; True when it still held it."""
    _quietly_delete(storage, key)
    with pool.connection() as conn:
        return store.release_writer(conn, upload_id, writer=writer)


def insufficient_storage() -> ApiError:
    return ApiError(507, "insufficient_storage", "the server is short of disk space for this chunk; nothing "
                                                 "was kept, retry it later", {"Retry-After": "60"})


def _quietly_delete(storage, key: str) -> None:
    try:
        storage.delete(key)
    except Exception:  # noqa: BLE001 - best effort: an object left here is an orphan, not an error
        log.warning("could not delete the upload object %s", key, exc_info=True)
