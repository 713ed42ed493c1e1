"""Resumable uploads, tus 1.0 (core; creation, termination, expiration), with the real
``tuspy`` client against the app on a real HTTP server: a dropped connection resumes from
the bytes that arrived, concurrent PATCHes never corrupt an upload, the size cap holds
before a byte is stored, and a finished upload becomes a video the real pipeline clips."""
from __future__ import annotations

import base64
import socket
import threading

import pytest
from tusclient import client as tus
from werkzeug.serving import make_server

from server import create_app
from workers.pipeline.storage import LocalStorage
from workers.pipeline.table import STEPS, default_step_table
from workers.pipeline.services import build_services
from workers.pipeline.uploads import chunks, store
from workers.queue import jobs as queue
from workers.queue.worker import Worker

from .conftest import wait_for
from .test_api import assert_error
from .test_storage import s3, s3_endpoint  # noqa: F401 - fixtures: moto's S3 on 127.0.0.1

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def live(database_url, db, settings, tmp_path):
    run_settings = settings.replace(data_dir=tmp_path / "data", max_filesize_mb=8, lease_seconds=30, max_retries=0)
    storage = LocalStorage(run_settings.data_dir / "storage")
    app = create_app({"settings": run_settings, "database_url": database_url, "storage": storage})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app, "client": app.test_client(),
           "storage": storage, "settings": run_settings}
    server.shutdown()
    app.extensions["clipqueue"].pool.close()


def meta(**values) -> str:
    return ",".join(f"{k} {base64.b64encode(str(v).encode()).decode()}" for k, v in values.items())


def test_options_say_what_the_server_speaks(live):
    response = live["client"].options("/public/uploads")
    assert response.status_code == 204 and response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {"creation", "termination", "expiration"}
    assert int(response.headers["Tus-Max-Size"]) == 8 * 1024 * 1024


def test_a_tuspy_upload_resumes_after_a_dropped_connection_and_becomes_a_video(live, media, database_url):
    data = (media / "manifesto.mp4").read_bytes()
    uploader = tus.TusClient(live["url"] + "/public/uploads").uploader(
        file_path=str(media / "manifesto.mp4"), chunk_size=256 * 1024,
        metadata={"filename": "manifesto.mp4", "max_clips": "2"})
    uploader.upload_chunk()  # the first 256 KB
    # Then the connection drops in the middle of a PATCH: half of a 200 KB chunk arrives.
    sent = 100 * 1024
    _raw_patch(live["url"], uploader.url, offset=256 * 1024, declared=200 * 1024,
               body=data[256 * 1024: 256 * 1024 + sent])
    head = live["client"].head(uploader.url.replace(live["url"], ""), headers=TUS)
    assert int(head.headers["Upload-Offset"]) == 256 * 1024 + sent  # the bytes that arrived were kept
    resumed = tus.TusClient(live["url"] + "/public/uploads").uploader(
        file_path=str(media / "manifesto.mp4"), url=uploader.url, chunk_size=256 * 1024)
    assert resumed.offset == 256 * 1024 + sent
    resumed.upload()
    done = live["client"].head(uploader.url.replace(live["url"], ""), headers=TUS)
    assert int(done.headers["Upload-Offset"]) == len(data)
    token = done.headers["ClipQueue-Token"]
    # The download step assembles the chunks and registers the file; the pipeline clips it.
    services = {**build_services(live["settings"]), "storage": live["storage"]}
    Worker(database_url, default_step_table(), steps=STEPS, settings=live["settings"], services=services,
           burst=True).run()
    status = live["client"].get(f"/public/video/status?token={token}").get_json()
    assert status["status"] == "done", status
    assert 1 <= len(status["result"]["clips"]) <= 2  # the clip options from Upload-Metadata
    source = live["storage"].local_path("videos/1/download/source").read_bytes()
    assert source == data  # byte for byte
    assert not list((live["storage"].root / chunks.PREFIX).rglob("0*"))  # the chunks were dropped


def _raw_patch(base: str, url: str, *, offset: int, declared: int, body: bytes) -> None:
    """A PATCH that promises ``declared`` bytes, sends ``body`` and hangs up."""
    host, port = base.replace("http://", "").split(":")
    path = url.replace(base, "")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall((f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
                      f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
                      f"Content-Length: {declared}\r\n\r\n").encode() + body)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        try:
            sock.recv(4096)  # the server noticed the end and answered (or closed)
        except OSError:
            pass


def stored(db, upload_id: str) -> list[str]:
    """The object keys of an upload's stored chunks, in order (the database's truth)."""
    with_rows = store.chunk_list(db, upload_id)
    return [chunks.key(upload_id, start, attempt) for start, attempt in with_rows]


def test_concurrent_patches_at_one_offset_one_wins_the_other_gets_409(live, db):
    client = live["client"]
    created = client.post("/public/uploads", headers={**TUS, "Upload-Length": "1000"})
    path = created.headers["Location"]
    # A slow PATCH holds the writer lease while its body trickles in ...
    host, port = live["url"].replace("http://", "").split(":")
    slow = socket.create_connection((host, int(port)))
    slow.sendall((f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
                  "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                  "Content-Length: 1000\r\n\r\n").encode() + b"a" * 100)
    wait_for(lambda: live["app"].extensions["clipqueue"].pool.connection().__enter__().execute(
        "SELECT writer FROM uploads").fetchone()["writer"] is not None, timeout=10, message="the slow PATCH to start")
    # ... so a second one at the same offset is refused, and writes nothing.
    second = client.patch(path, data=b"b" * 1000, headers={**TUS, "Upload-Offset": "0",
                                                          "Content-Type": "application/offset+octet-stream"})
    assert_error(second, 409, "offset_mismatch")
    slow.sendall(b"a" * 900)
    slow.settimeout(10)
    assert b"204" in slow.recv(4096).split(b"\r\n")[0]
    slow.close()
    head = client.head(path, headers=TUS)
    assert head.headers["Upload-Offset"] == "1000"
    [key] = stored(db, path.rsplit("/", 1)[1])
    assert live["storage"].get_bytes(key) == b"a" * 1000  # the winner's bytes, untouched by the loser
    assert len(list((live["storage"].root / chunks.PREFIX).rglob("*.*"))) == 1  # and nothing of the loser's


def test_the_size_cap_holds_before_a_byte_is_stored(live):
    client = live["client"]
    too_big = client.post("/public/uploads", headers={**TUS, "Upload-Length": str(9 * 1024 * 1024)})
    assert_error(too_big, 413, "upload_too_large")
    created = client.post("/public/uploads", headers={**TUS, "Upload-Length": "10"})
    path = created.headers["Location"]
    over = client.patch(path, data=b"x" * 11, headers={**TUS, "Upload-Offset": "0",
                                                       "Content-Type": "application/offset+octet-stream"})
    assert_error(over, 413, "upload_too_large")
    assert client.head(path, headers=TUS).headers["Upload-Offset"] == "0"


def test_bad_requests_get_clear_json_errors(live):
    client = live["client"]
    assert_error(client.post("/public/uploads", headers={"Upload-Length": "10"}), 400, "missing_tus_resumable")
    assert_error(client.post("/public/uploads", headers={"Tus-Resumable": "0.2.2", "Upload-Length": "10"}), 412,
                 "unsupported_tus_version")
    assert_error(client.post("/public/uploads", headers=TUS), 400, "missing_upload_length")
    assert_error(client.post("/public/uploads", headers={**TUS, "Upload-Length": "-5"}), 400,
                 "invalid_upload_length")
    assert_error(client.post("/public/uploads", headers={**TUS, "Upload-Length": "10",
                                                          "Upload-Metadata": meta(colour="red")}), 400,
                 "unknown_metadata")
    assert_error(client.post("/public/uploads", headers={**TUS, "Upload-Length": "10",
                                                          "Upload-Metadata": "filename !!!"}), 400, "invalid_metadata")
    assert_error(client.post("/public/uploads", headers={**TUS, "Upload-Length": "10",
                                                          "Upload-Metadata": meta(max_clips=99)}), 400,
                 "invalid_max_clips")
    path = client.post("/public/uploads", headers={**TUS, "Upload-Length": "10"}).headers["Location"]
    assert_error(client.patch(path, data=b"x", headers={**TUS, "Upload-Offset": "0"}), 415, "unsupported_media_type")
    assert_error(client.patch(path, data=b"x", headers={**TUS, "Content-Type": "application/offset+octet-stream"}),
                 400, "missing_upload_offset")
    assert_error(client.patch(path, data=b"x", headers={**TUS, "Upload-Offset": "5",
                                                        "Content-Type": "application/offset+octet-stream"}),
                 409, "offset_mismatch")
    assert client.head("/public/uploads/nope", headers=TUS).status_code == 404  # HEAD answers carry no body
    assert_error(client.delete("/public/uploads/nope", headers=TUS), 404, "unknown_upload")


def test_termination_and_expiry(live, db):
    client = live["client"]
    path = client.post("/public/uploads", headers={**TUS, "Upload-Length": str(chunks.MIN_CHUNK + 10)}).headers["Location"]
    client.patch(path, data=b"1" * chunks.MIN_CHUNK, headers={**TUS, "Upload-Offset": "0",
                                                               "Content-Type": "application/offset+octet-stream"})
    upload_id = path.rsplit("/", 1)[1]
    [key] = stored(db, upload_id)
    assert live["storage"].exists(key)
    assert client.delete(path, headers=TUS).status_code == 204
    assert client.head(path, headers=TUS).status_code == 404 and not live["storage"].exists(key)
    # An upload left alone expires: HEAD says 410, and the hygiene drops it and its chunks.
    other = client.post("/public/uploads", headers={**TUS, "Upload-Length": str(chunks.MIN_CHUNK + 10)})
    assert "Upload-Expires" in other.headers
    path = other.headers["Location"]
    client.patch(path, data=b"1" * chunks.MIN_CHUNK, headers={**TUS, "Upload-Offset": "0",
                                                               "Content-Type": "application/offset+octet-stream"})
    [key] = stored(db, path.rsplit("/", 1)[1])
    db.execute("UPDATE uploads SET expires_at = now() - interval '1 minute'")
    assert client.head(path, headers=TUS).status_code == 410
    assert chunks.prune_expired(db, live["storage"]) == 1
    assert db.execute("SELECT count(*) AS n FROM uploads").fetchone()["n"] == 0
    assert not live["storage"].exists(key)
    assert queue.pending_work(db, STEPS) == 0  # no video was made of either


def test_an_upload_whose_last_patch_died_before_making_the_video_gets_it_at_the_next_head(live, db):
    client = live["client"]
    path = client.post("/public/uploads", headers={**TUS, "Upload-Length": "4"}).headers["Location"]
    upload_id = path.rsplit("/", 1)[1]
    # What a crash between storing the last chunk and enqueueing leaves: every byte, no video
    # (here a chunk stored before chunk keys had an attempt suffix).
    live["storage"].put_bytes(chunks.key(upload_id, 0), b"abcd")
    db.execute("UPDATE uploads SET received = 4 WHERE id = %s", (upload_id,))
    db.execute("INSERT INTO upload_chunks (upload_id, start, size, attempt) VALUES (%s, 0, 4, '')", (upload_id,))
    head = client.head(path, headers=TUS)
    token = head.headers["ClipQueue-Token"]
    assert client.head(path, headers=TUS).headers["ClipQueue-Token"] == token  # made once
    assert queue.job_by_token(db, token)["status"] == "queued"


def test_two_api_machines_take_parts_of_one_upload_on_s3(database_url, db, settings, s3, media, tmp_path):  # noqa: F811
    """Two API processes that share only Postgres and the S3 bucket: each takes a part."""
    run_settings = settings.replace(data_dir=tmp_path / "data", max_filesize_mb=8, lease_seconds=30, max_retries=0)
    apps = [create_app({"settings": run_settings, "database_url": database_url, "storage": s3}) for _ in range(2)]
    try:
        first, second = (app.test_client() for app in apps)
        data = (media / "manifesto.mp4").read_bytes()
        half = len(data) // 2
        path = first.post("/public/uploads", headers={**TUS, "Upload-Length": str(len(data)),
                                                      "Upload-Metadata": meta(max_clips=1)}).headers["Location"]
        octets = {**TUS, "Content-Type": "application/offset+octet-stream"}
        assert first.patch(path, data=data[:half], headers={**octets, "Upload-Offset": "0"}).status_code == 204
        done = second.patch(path, data=data[half:], headers={**octets, "Upload-Offset": str(half)})
        assert done.status_code == 204 and done.headers["Upload-Offset"] == str(len(data))
        token = done.headers["ClipQueue-Token"]
        keys = stored(db, path.rsplit("/", 1)[1])
        assert all(s3.exists(k) for k in keys)
        services = {**build_services(run_settings), "storage": s3}
        Worker(database_url, default_step_table(), steps=STEPS, settings=run_settings, services=services,
               burst=True).run()
        assert queue.job_by_token(db, token)["status"] == "done"
        assert s3.get_bytes("videos/1/download/source") == data
        assert len(keys) == 2 and not any(s3.exists(k) for k in keys)  # the chunks were dropped
    finally:
        for app in apps:
            app.extensions["clipqueue"].pool.close()



def test_a_writer_that_died_on_another_machine_frees_the_upload_within_the_lease(database_url, db, settings,
                                                                                  tmp_path):
    """The writer lease is CLIPQUEUE_UPLOAD_WRITER_LEASE_S (here 1 s): a PATCH takes it for that
    long, and a PATCH on another machine that died mid-body (its lease taken, never pushed on
    nor given back) leaves the upload free for a PATCH through another API host within it."""
    run_settings = settings.replace(data_dir=tmp_path / "data", max_filesize_mb=8, upload_writer_lease_s=1.0)
    app = create_app({"settings": run_settings, "database_url": database_url,
                      "storage": LocalStorage(run_settings.data_dir / "storage")})
    try:
        client = app.test_client()
        octets = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
        other = client.post("/public/uploads", headers={**TUS, "Upload-Length": "10"}).headers["Location"]
        upload_id = other.rsplit("/", 1)[1]
        assert store.take_writer(db, upload_id, offset=0, writer="elsewhere/1/x", key="k", lease_seconds=1.0)
        assert_error(client.patch(other, data=b"c" * 10, headers=octets), 409, "offset_mismatch")
        resumed = wait_for(lambda: client.patch(other, data=b"c" * 10, headers=octets).status_code == 204,
                           timeout=15, interval=0.2, message="the dead PATCH's lease to lapse")
        assert resumed and client.head(other, headers=TUS).headers["Upload-Offset"] == "10"
        assert db.execute("SELECT writer FROM uploads WHERE id = %s", (upload_id,)).fetchone()["writer"] is None
    finally:
        app.extensions["clipqueue"].pool.close()
