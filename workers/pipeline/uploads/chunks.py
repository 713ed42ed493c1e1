"""An upload's bytes in storage: one object per PATCH, ``uploads/<id>/<start>.<attempt>``,
so any API process (on any machine sharing the storage) can take the next part. The attempt
suffix is random per PATCH: a PATCH writes only its own object and deletes only its own, so
one that lost its writer lease can never touch the bytes another PATCH published. Which
objects make the upload is the database's truth (``upload_chunks``), never a listing.

A chunk is at least MIN_CHUNK bytes, except the upload's last: tiny PATCHes would make
thousands of objects (and rows) for one file. The page sends 8 MiB chunks.
"""
from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Iterable

from workers.queue.errors import TransientError

PREFIX = "uploads"
MIN_CHUNK = 64 * 1024  # bytes; a chunk below it is refused (400 chunk_too_small) unless it ends the upload
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def key(upload_id: str, start: int, attempt: str = "") -> str:
    """The object of the chunk at ``start`` written by PATCH ``attempt`` ('' for chunks stored
    before attempts had their own keys)."""
    return f"{PREFIX}/{upload_id}/{start:015d}" + (f".{attempt}" if attempt else "")


def keys(upload: dict) -> list[str]:
    """The chunk objects of a finished upload, in order, from the job's ``options.upload``
    (``chunks``: ``[start, attempt]`` pairs, or bare starts for uploads finished before)."""
    return [key(upload["id"], *c) if isinstance(c, list) else key(upload["id"], c) for c in upload["chunks"]]


def has_room(*, free: int | None, min_free: int, length: int) -> bool:
    """Whether a chunk of ``length`` bytes may be stored: ``free`` (None: not known, e.g. an
    object store with no local spool) is at least ``min_free`` plus the chunk."""
    return free is None or free >= min_free + length


def is_disk_full(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def assemble(storage, upload: dict, target: Path) -> Path:
    """Concatenate the chunks, in order, into ``target`` (streamed: memory does not grow with
    the file). A full disk is ``disk_full`` (transient, as for a download) and leaves no
    partial file; the chunks stay for the retry."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "wb") as out:
            for name in keys(upload):
                with open(storage.local_path(name), "rb") as chunk:
                    shutil.copyfileobj(chunk, out, 1024 * 1024)
    except OSError as exc:
        target.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise TransientError("disk_full", "the server ran out of disk space assembling the upload; retrying "
                                              "later", details={"error": str(exc)[:300]}) from None
        raise
    return target


def discard(storage, names: Iterable[str]) -> None:
    for name in names:
        if name:
            storage.delete(name)


def discard_listed(storage, upload_id: str, listed: list, writer_key: str | None = None) -> None:
    """Remove the objects a delete or expiry returned: the chunks (``[start, attempt]``) and the
    writer's unpublished object."""
    discard(storage, [key(upload_id, start, attempt) for start, attempt in listed] + [writer_key])


def prune_expired(conn, storage) -> int:
    """Hygiene: delete unfinished uploads past their expiry, and their objects. A finished
    upload is never pruned: its chunks are its video's until the download step assembled them."""
    from workers.pipeline.uploads import store

    removed = 0
    while True:
        batch = store.expired(conn)
        for row in batch:
            discard_listed(storage, row["id"], row["chunks"], row["writer_key"])
        removed += len(batch)
        if len(batch) < 100:
            return removed
