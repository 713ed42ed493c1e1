"""Where step outputs live: a local directory (default) or an S3-compatible bucket.

Credentials for S3 come from the usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
or any other source boto3 reads.

Keys are deterministic per (video, step): ``videos/<video_id>/<step>/<name>``, and their
content is a function of the checkpoints before the step, so any attempt would write the
same bytes. Writes are atomic and write-once: a key, once published, is never replaced
(``put_*`` returns False and keeps what is there). So a retried step finds the files of an
earlier attempt and skips them (``exists``), and a stale attempt -- a paused worker that
lost its lease -- can never overwrite what the live attempt published.

Local files get the mode the process umask allows (0644 with the usual 022), so an API
running as another user can serve them.
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol


def video_key(video_id: int, step: str, name: str) -> str:
    return f"videos/{video_id}/{step}/{name}"


class Storage(Protocol):
    def put_file(self, key: str, path: Path) -> bool:
        """Publish a file under ``key`` unless the key exists; True when this call published it."""
    def put_bytes(self, key: str, data: bytes) -> bool: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def local_path(self, key: str) -> Path:
        """A readable local file with the key's content (a cache copy for remote storage)."""
    def size(self, key: str) -> int: ...
    def public_url(self, key: str) -> str | None:
        """A URL a client can fetch the object from directly (S3: presigned, expiring), or
        None when the API must serve it itself (local files, with HTTP Range)."""
    def health(self) -> dict:
        """Whether this storage can be written to now (raises when not), and what it is."""
    def delete(self, key: str) -> None:
        """Remove ``key`` (no error when it is not there), and what ``put_stream`` left of it."""
    def put_stream(self, key: str, blocks) -> bool:
        """Publish the bytes ``blocks`` yields under ``key`` (write-once, as ``put_file``),
        using at most their size on the local disk; an error while writing (or raised by
        ``blocks``) publishes nothing and leaves no partial object."""
    def free_bytes(self) -> int | None:
        """Free bytes where ``put_stream`` writes (None when not known)."""


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

    def _publish(self, key: str, write) -> bool:
        target = self._path(key)
        if target.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fchmod(out.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600
                os.fsync(out.fileno())
            try:
                os.link(tmp, target)  # atomic, and fails if the key was published meanwhile
            except FileExistsError:
                return False
            return True
        finally:
            Path(tmp).unlink(missing_ok=True)

    def put_file(self, key: str, path: Path) -> bool:
        path = Path(path)
        if path.resolve() == self._path(key):
            return False
        with open(path, "rb") as src:
            return self._publish(key, lambda out: shutil.copyfileobj(src, out, 1 << 20))

    def put_bytes(self, key: str, data: bytes) -> bool:
        return self._publish(key, lambda out: out.write(data))

    def put_stream(self, key: str, blocks) -> bool:
        # Written in place (``.<name>.partial`` beside the key, then linked): one copy on disk.
        # The partial file's name is the key's, so ``delete`` removes it too (a writer that
        # died, or lost its lease, while writing).
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = _partial(target)
        try:
            with open(partial, "xb") as out:
                for block in blocks:
                    out.write(block)
                out.flush()
                os.fchmod(out.fileno(), 0o666 & ~_umask())
                os.fsync(out.fileno())
            try:
                os.link(partial, target)
            except FileExistsError:
                return False
            return True
        finally:
            partial.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

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

    def public_url(self, key: str) -> None:
        return None  # the API serves local files (GET /public/video/<token>/files/<name>)

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        _partial(path).unlink(missing_ok=True)

    def health(self) -> dict:
        import tempfile

        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".health-"):
            pass  # created and removed: the folder is writable
        return {"kind": "local", "root": str(self.root)}


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

    def put_file(self, key: str, path: Path) -> bool:
        size = Path(path).stat().st_size
        if size <= SINGLE_PUT_MAX:
            with open(path, "rb") as body:
                return self._put_once(key, body)
        # Multipart (a large source video): the exists check leaves a small window, but the
        # only large file is the download, whose content is the same whoever uploads it.
        if self.exists(key):
            return False
        self.client.upload_file(str(path), self.bucket, key)
        return True

    def put_bytes(self, key: str, data: bytes) -> bool:
        return self._put_once(key, data)

    def put_stream(self, key: str, blocks) -> bool:
        """Spooled to one file under ``cache_dir`` (its only local copy), then PUT."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.cache_dir, prefix=".spool-") as spool:
            for block in blocks:
                spool.write(block)
            spool.flush()
            return self.put_file(key, Path(spool.name))

    def free_bytes(self) -> int:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.cache_dir).free

    def _put_once(self, key: str, body) -> bool:
        """A conditional PUT (If-None-Match: *): the store refuses it if the key exists."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise

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

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)
        (self.cache_dir / key).unlink(missing_ok=True)

    def health(self) -> dict:
        self.client.head_bucket(Bucket=self.bucket)  # raises when the bucket is gone or forbidden
        return {"kind": "s3", "bucket": self.bucket}

    def public_url(self, key: str) -> str:
        """Presigned: the client fetches from the bucket directly, until ``url_ttl`` runs out."""
        return self.presigned_url(key)

    def presigned_url(self, key: str) -> str:
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                  ExpiresIn=self.url_ttl)


SINGLE_PUT_MAX = 256 * 1024 * 1024  # files up to this go up in one conditional PUT


def _partial(target: Path) -> Path:
    return target.with_name(f".{target.name}.partial")


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask, read without changing it (os.umask would race other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def build_storage(settings) -> Storage:
    if settings.storage_backend == "local":
        return LocalStorage(Path(settings.data_dir) / "storage")
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise ValueError("CLIPQUEUE_STORAGE=s3 needs CLIPQUEUE_S3_BUCKET")
        return S3Storage(bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint, region=settings.s3_region,
                         cache_dir=Path(settings.data_dir) / "cache")
    raise ValueError(f"unknown storage backend {settings.storage_backend!r}")
