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
from workers.pipeline.uploads import chunks
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


def test_concurrent_patches_at_one_offset_one_wins_the_other_gets_409(live):
    client = live["client"]
    created = client.post("/public/uploads", headers={**TUS, "Upload-Length": "1000"})
    path = created.headers["Location"]
    # A slow PATCH holds the writer lease while its body trickles in ...
    host, port = live["url"].replace("http://", "").split(":")
    slow = socket.create_connection((host, int(port)))
    slow.sendall((f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
                  "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                  "Content-Length: 600\r\n\r\n").encode() + b"a" * 100)
    wait_for(lambda: live["app"].extensions["clipqueue"].pool.connection().__enter__().execute(
        "SELECT writer FROM uploads").fetchone()["writer"] is not None, timeout=10, message="the slow PATCH to start")
    # ... so a second one at the same offset is refused, and writes nothing.
    second = client.patch(path, data=b"b" * 600, headers={**TUS, "Upload-Offset": "0",
                                                          "Content-Type": "application/offset+octet-stream"})
    assert_error(second, 409, "offset_mismatch")
    slow.sendall(b"a" * 500)
    slow.settimeout(10)
    assert b"204" in slow.recv(4096).split(b"\r\n")[0]
    slow.close()
    head = client.head(path, headers=TUS)
    assert head.headers["Upload-Offset"] == "600"
    stored = live["storage"].local_path(chunks.key(path.rsplit("/", 1)[1], 0)).read_bytes()
    assert stored == b"a" * 600  # the winner's bytes, untouched by the loser


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
    path = client.post("/public/uploads", headers={**TUS, "Upload-Length": "10"}).headers["Location"]
    client.patch(path, data=b"12345", headers={**TUS, "Upload-Offset": "0",
                                               "Content-Type": "application/offset+octet-stream"})
    upload_id = path.rsplit("/", 1)[1]
    assert live["storage"].exists(chunks.key(upload_id, 0))
    assert client.delete(path, headers=TUS).status_code == 204
    assert client.head(path, headers=TUS).status_code == 404 and not live["storage"].exists(chunks.key(upload_id, 0))
    # An upload left alone expires: HEAD says 410, and the hygiene drops it and its chunks.
    other = client.post("/public/uploads", headers={**TUS, "Upload-Length": "10"})
    assert "Upload-Expires" in other.headers
    path = other.headers["Location"]
    client.patch(path, data=b"123", headers={**TUS, "Upload-Offset": "0",
                                             "Content-Type": "application/offset+octet-stream"})
    db.execute("UPDATE uploads SET expires_at = now() - interval '1 minute'")
    assert client.head(path, headers=TUS).status_code == 410
    assert chunks.prune_expired(db, live["storage"]) == 1
    assert db.execute("SELECT count(*) AS n FROM uploads").fetchone()["n"] == 0
    assert not live["storage"].exists(chunks.key(path.rsplit("/", 1)[1], 0))
    assert queue.pending_work(db, STEPS) == 0  # no video was made of either


def test_an_upload_whose_last_patch_died_before_making_the_video_gets_it_at_the_next_head(live, db):
    client = live["client"]
    path = client.post("/public/uploads", headers={**TUS, "Upload-Length": "4"}).headers["Location"]
    upload_id = path.rsplit("/", 1)[1]
    # What a crash between storing the last chunk and enqueueing leaves: every byte, no video.
    live["storage"].put_bytes(chunks.key(upload_id, 0), b"abcd")
    db.execute("UPDATE uploads SET received = 4, chunks = '{0}' WHERE id = %s", (upload_id,))
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
        services = {**build_services(run_settings), "storage": s3}
        Worker(database_url, default_step_table(), steps=STEPS, settings=run_settings, services=services,
               burst=True).run()
        assert queue.job_by_token(db, token)["status"] == "done"
        assert s3.get_bytes("videos/1/download/source") == data
        assert not s3.exists(chunks.key(path.rsplit("/", 1)[1], 0))  # the chunks were dropped
    finally:
        for app in apps:
            app.extensions["clipqueue"].pool.close()



def test_a_patch_renews_its_writer_lease_and_a_dead_patch_frees_the_upload_within_it(database_url, db, settings,
                                                                                      tmp_path):
    """The writer lease is CLIPQUEUE_UPLOAD_WRITER_LEASE_S (here 1 s), renewed while a PATCH
    runs: a PATCH that outlives it keeps the upload; one whose process died (its lease taken,
    never renewed) leaves it free for a PATCH through another API process within it."""
    run_settings = settings.replace(data_dir=tmp_path / "data", max_filesize_mb=8, upload_writer_lease_s=1.0)
    app = create_app({"settings": run_settings, "database_url": database_url,
                      "storage": LocalStorage(run_settings.data_dir / "storage")})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = app.test_client()
        octets = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
        path = client.post("/public/uploads", headers={**TUS, "Upload-Length": "600"}).headers["Location"]
        slow = socket.create_connection(("127.0.0.1", server.server_port))
        slow.sendall((f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                      "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                      "Content-Length: 600\r\n\r\n").encode() + b"a" * 100)
        lease = "SELECT writer, writer_until, writer_until - now() <= interval '1 second' AS short FROM uploads"
        first = wait_for(lambda: db.execute(lease).fetchone()["writer"] and db.execute(lease).fetchone(),
                         timeout=10, message="the slow PATCH to take the lease")
        assert first["short"]  # the setting's lease, not a fixed long one
        # Renewed past its first term while the body trickles in: a second PATCH is still refused.
        wait_for(lambda: db.execute("SELECT now() > %s + interval '1 second' AS past FROM uploads",
                                    (first["writer_until"],)).fetchone()["past"], timeout=10, message="one lease")
        assert db.execute(lease).fetchone()["writer"] == first["writer"]
        assert_error(client.patch(path, data=b"b" * 600, headers=octets), 409, "offset_mismatch")
        slow.sendall(b"a" * 500)
        slow.settimeout(10)
        assert b"204" in slow.recv(4096).split(b"\r\n")[0]
        slow.close()
        # A PATCH whose process died mid-body: its lease taken, never renewed nor released.
        other = client.post("/public/uploads", headers={**TUS, "Upload-Length": "10"}).headers["Location"]
        from workers.pipeline.uploads import store

        assert store.take_writer(db, other.rsplit("/", 1)[1], offset=0, writer="dead/1", lease_seconds=1.0)
        resumed = wait_for(lambda: client.patch(other, data=b"c" * 10, headers=octets).status_code == 204,
                           timeout=15, interval=0.2, message="the dead PATCH's lease to lapse")
        assert resumed and client.head(other, headers=TUS).headers["Upload-Offset"] == "10"
    finally:
        server.shutdown()
        app.extensions["clipqueue"].pool.close()
