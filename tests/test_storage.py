"""Storage backends: local directory and S3 protocol (moto's standalone server on 127.0.0.1)."""
from __future__ import annotations

import os
import socket
import urllib.request

import pytest

from server import create_app
from workers.queue import jobs as queue
from workers.queue.retry import RetryPolicy
from workers.queue.worker import Worker
from workers.pipeline.table import STEPS, default_step_table
from workers.pipeline.storage import LocalStorage, S3Storage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, tmp_path):
    import uuid

    storage = S3Storage(bucket=f"clips-{uuid.uuid4().hex[:8]}", endpoint_url=s3_endpoint, cache_dir=tmp_path / "cache")
    storage.client.create_bucket(Bucket=storage.bucket)
    return storage


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "storage")
    return request.getfixturevalue("s3")


def test_bytes_and_files_round_trip(storage, tmp_path):
    storage.put_bytes("videos/1/transcript/t.json", b'{"a": 1}')
    assert storage.exists("videos/1/transcript/t.json") and storage.get_bytes("videos/1/transcript/t.json") == b'{"a": 1}'
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # past the multipart threshold of S3 uploads
    storage.put_file("videos/1/download/source", big)
    assert storage.size("videos/1/download/source") == big.stat().st_size
    assert storage.local_path("videos/1/download/source").read_bytes() == big.read_bytes()


def test_missing_keys_are_reported(storage):
    assert not storage.exists("videos/9/none")
    with pytest.raises(FileNotFoundError):
        storage.local_path("videos/9/none")


def test_local_keys_cannot_escape_the_root(tmp_path):
    with pytest.raises(ValueError):
        LocalStorage(tmp_path / "s").put_bytes("../outside", b"x")


def test_presigned_urls_fetch_the_object(s3):
    s3.put_bytes("videos/1/clip_generation/c.srt", b"1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    with urllib.request.urlopen(s3.presigned_url("videos/1/clip_generation/c.srt"), timeout=10) as response:
        assert response.read().endswith(b"hi\n")


def test_the_pipeline_runs_on_s3_and_the_status_hands_out_presigned_urls(database_url, db, settings, s3, media, tmp_path):
    source = media / "jfk.flac"
    token = queue.enqueue(db, source_url=source.as_uri(), normalized_url=source.as_uri(),
                          options={"local_file": str(source), "clip_min_seconds": 5, "clip_max_seconds": 12}).token
    from workers.pipeline.llm.local import LocalLLM

    Worker(database_url, default_step_table(), steps=STEPS, burst=True, settings=settings.replace(data_dir=tmp_path),
           services={"storage": s3, "llm": LocalLLM()}, policy=RetryPolicy(base=0.05)).run()
    assert queue.job_by_token(db, token)["status"] == "done"
    assert s3.exists("videos/1/download/source") and s3.exists("videos/1/transcript/transcript.json")
    app = create_app({"settings": settings, "database_url": database_url, "storage": s3})
    try:
        view = app.test_client().get(f"/public/video/status?token={token}").get_json()
    finally:
        app.extensions["clipqueue"].pool.close()
    url = view["result"]["clips"][0]["urls"]["media"]
    assert url.startswith(s3.client.meta.endpoint_url) and "Signature" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read(8)[4:8] == b"ftyp"  # an MP4-family file (m4a)


def test_a_published_key_is_never_replaced(storage, tmp_path):
    # A stale attempt (a paused worker that lost its lease) publishing the same key later
    # must not replace what the live attempt published.
    assert storage.put_bytes("videos/1/clip_generation/a.vtt", b"live attempt") is True
    assert storage.put_bytes("videos/1/clip_generation/a.vtt", b"stale attempt") is False
    assert storage.get_bytes("videos/1/clip_generation/a.vtt") == b"live attempt"
    stale = tmp_path / "stale.mp4"
    stale.write_bytes(b"stale render")
    assert storage.put_file("videos/1/clip_generation/a.vtt", stale) is False
    assert storage.get_bytes("videos/1/clip_generation/a.vtt") == b"live attempt"


def test_local_files_respect_the_umask(tmp_path):
    import stat

    storage = LocalStorage(tmp_path / "storage")
    storage.put_bytes("videos/1/download/x", b"data")
    mode = stat.S_IMODE(storage.local_path("videos/1/download/x").stat().st_mode)
    umask = os.umask(0o022)
    os.umask(umask)
    assert mode == 0o666 & ~umask and mode & 0o044  # readable by group and others with 022
