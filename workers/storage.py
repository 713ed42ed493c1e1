"""Where step outputs live: a local directory (default) or an S3-compatible bucket.

Keys are deterministic per (video, step): ``videos/<video_id>/<step>/<name>``. A step
writes under its own prefix; a retried step overwrites the same keys, so nothing is
duplicated. Writes are atomic (a temporary name, then a rename / a single PUT), so a key
that exists is complete: steps use ``exists`` to skip sub-units finished before a crash.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol


def video_key(video_id: int, step: str, name: str) -> str:
    return f"videos/{video_id}/{step}/{name}"


class Storage(Protocol):
    def put_file(self, key: str, path: Path) -> None: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def local_path(self, key: str) -> Path:
        """A readable local file with the key's content (a cache copy for remote storage)."""
    def size(self, key: str) -> int: ...


class LocalStorage:
    """Files under ``root``; the API serves them (with HTTP Range) for clip URLs."""

    kind = "local"

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    def _publish(self, key: str, write) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path) -> None:
        path = Path(path)
        if path.resolve() == self._path(key):
            return
        with open(path, "rb") as src:
            self._publish(key, lambda out: shutil.copyfileobj(src, out, 1 << 20))

    def put_bytes(self, key: str, data: bytes) -> None:
        self._publish(key, lambda out: out.write(data))

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size


def build_storage(settings) -> Storage:
    if settings.storage_backend == "local":
        return LocalStorage(Path(settings.data_dir) / "storage")
    raise ValueError(f"unknown storage backend {settings.storage_backend!r}")
