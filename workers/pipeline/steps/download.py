"""download: fetch the media into storage, through the guarded fetcher
(``workers.pipeline.fetcher.ytdlp``: SSRF guard at every connection, probe before fetch,
resume, stall deadline, classified errors).

* A local file (``options.local_file``, set by the operator CLI only, never by the API) is
  taken as it is; a finished upload (``options.upload``) is assembled from its chunks in
  storage, then they are dropped. Either way it is probed and registered like a download.
* The file lands in storage under ``videos/<id>/download/source``; size, duration, codecs and
  SHA-256 go into the checkpoint. If that key exists (a crash after the upload), the
  download is not repeated.
* Work files live under ``<data_dir>/work/<id>/download`` (a ``.part`` file resumes a
  retried download); ``discard_work`` removes them once the job has ended for good, and an
  upload's chunks with them; a ``disk_full`` removes them at once (a kept partial file would
  keep the disk full). A full disk while an upload is assembled or stored is ``disk_full``
  (transient), with no partial file left.
"""
from __future__ import annotations

from pathlib import Path

from workers.pipeline.fetcher.ytdlp import check_duration, fetch
from workers.pipeline.media import NOT_MEDIA, NOT_MEDIA_FILE, probe, sha256_file
from workers.pipeline.storage import video_key
from workers.pipeline.uploads import chunks
from workers.queue.errors import PermanentError, TransientError

STEP = "download"


def run(video, ctx) -> dict:
    settings, storage = ctx.settings, ctx.services["storage"]
    key = video_key(video.id, STEP, "source")
    title = None
    if not storage.exists(key):
        local_file = video.options.get("local_file")  # set by the operator CLI only, never by the API
        upload = video.options.get("upload")  # a finished tus upload: its chunks are in storage
        if upload:
            path = chunks.assemble(storage, upload, _work_dir(settings, video.id) / "upload")
            title = video.options.get("filename")
        elif local_file:
            path = Path(local_file)
            if not path.is_file():
                raise PermanentError("not_found", f"no such file: {path}")
        else:
            work = _work_dir(settings, video.id)
            try:
                path, title = fetch(video.source_url, work, settings, ctx)
            except TransientError as exc:
                if exc.cause == "disk_full":  # the disk stays full while a partial download is kept
                    _empty(work)
                raise
        try:
            # not media / truncated -> permanent, before it reaches storage
            info = probe(path, not_media=NOT_MEDIA_FILE if upload or local_file else NOT_MEDIA)
            check_duration(info.duration, settings)
        except PermanentError:
            if upload:  # nothing will use these bytes: do not keep them
                chunks.discard(storage, chunks.keys(upload))
                path.unlink(missing_ok=True)
            raise
        checksum, size = sha256_file(path), path.stat().st_size
        try:
            storage.put_file(key, path)
        except OSError as exc:
            if upload:
                path.unlink(missing_ok=True)  # assembled again from the chunks at the retry
            if chunks.is_disk_full(exc):
                raise TransientError("disk_full", "the server ran out of disk space storing the video; retrying "
                                                  "later", details={"error": str(exc)[:300]}) from None
            raise
        if not local_file:
            path.unlink(missing_ok=True)
        if upload:
            chunks.discard(storage, chunks.keys(upload))  # the source holds the bytes now
    else:
        path = storage.local_path(key)
        info = probe(path)
        checksum, size = sha256_file(path), storage.size(key)
    ctx.report_progress(1.0)
    return {"key": key, "size": size, "sha256": checksum, "title": title, **info.as_dict(),
            "storage_keys": [key]}


def _work_dir(settings, video_id: int) -> Path:
    path = Path(settings.data_dir) / "work" / str(video_id) / STEP
    path.mkdir(parents=True, exist_ok=True)
    return path


def _empty(work: Path) -> None:
    """Drop the partial download: at the first ``disk_full``, not after the last retry."""
    import shutil

    for item in work.iterdir():
        shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(missing_ok=True)


def discard_work(settings, video_id: int, storage=None, video=None) -> None:
    """Remove a video's work files (a partial download): its job failed for good or was
    cancelled, so nothing will resume them. Kept across transient failures (resume). An
    upload's chunks go too when the download step never assembled them (``video``: the job's
    view, with its options and checkpoints)."""
    import shutil

    shutil.rmtree(Path(settings.data_dir) / "work" / str(int(video_id)), ignore_errors=True)
    upload = video.options.get("upload") if video is not None else None
    if upload and storage is not None and STEP not in video.checkpoints:
        chunks.discard(storage, chunks.keys(upload))
