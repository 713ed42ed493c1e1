"""An upload's bytes in storage: one object per PATCH, ``uploads/<id>/<offset>``, so any API
process (on any machine sharing the storage) can take the next part."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

PREFIX = "uploads"


def key(upload_id: str, offset: int) -> str:
    return f"{PREFIX}/{upload_id}/{offset:015d}"


def assemble(storage, upload_id: str, offsets: Iterable[int], target: Path) -> Path:
    """Concatenate the chunks, in order, into ``target`` (streamed: memory does not grow with
    the file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for offset in offsets:
            with open(storage.local_path(key(upload_id, offset)), "rb") as chunk:
                shutil.copyfileobj(chunk, out, 1024 * 1024)
    return target


def discard(storage, upload_id: str, offsets: Iterable[int]) -> None:
    for offset in offsets:
        storage.delete(key(upload_id, offset))


def prune_expired(conn, storage) -> int:
    """Hygiene: delete unfinished uploads past their expiry, and their chunks."""
    from workers.pipeline.uploads import store

    removed = 0
    while True:
        batch = store.expired(conn)
        for row in batch:
            discard(storage, row["id"], row["chunks"])
        removed += len(batch)
        if len(batch) < 100:
            return removed
