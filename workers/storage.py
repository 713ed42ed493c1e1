"""Where step outputs live: a local directory (default) or an S3-compatible bucket.

Credentials for S3 come from the usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
or any other source boto3 reads.

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


class S3Storage:
    """An S3-compatible bucket (AWS, MinIO, Supabase Storage's S3 endpoint). Each object is
    written by one PUT (multipart for large files), so a key that exists is complete.
    ``local_path`` keeps a read cache under ``cache_dir``. Clip URLs are presigned."""

    kind = "s3"

    def __init__(self, *, bucket: str, cache_dir: Path, endpoint_url: str | None = None,
                 region: str | None = None, url_ttl: int = 3600, client=None):
        import boto3  # heavy: imported where needed
        from botocore.config import Config

        self.bucket = bucket
        self.cache_dir = Path(cache_dir)
        self.url_ttl = url_ttl
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}))

    def put_file(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def _head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(key)
        return head["ContentLength"]

    def local_path(self, key: str) -> Path:
        target = (self.cache_dir / key).resolve()
        if self.cache_dir.resolve() not in target.parents:
            raise ValueError(f"storage key escapes the cache: {key!r}")
        size = self.size(key)
        if not target.is_file() or target.stat().st_size != size:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            os.close(fd)
            try:
                self.client.download_file(self.bucket, key, tmp)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return target

    def presigned_url(self, key: str) -> str:
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                  ExpiresIn=self.url_ttl)


def build_storage(settings) -> Storage:
    if settings.storage_backend == "local":
        return LocalStorage(Path(settings.data_dir) / "storage")
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise ValueError("CLIPQUEUE_STORAGE=s3 needs CLIPQUEUE_S3_BUCKET")
        return S3Storage(bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint, region=settings.s3_region,
                         cache_dir=Path(settings.data_dir) / "cache")
    raise ValueError(f"unknown storage backend {settings.storage_backend!r}")
