"""Uploads (tus) under faults: a DELETE or a takeover in the middle of a PATCH, a PATCH
that outlives its writer lease, a killed API process, a full disk while a chunk is stored
or while the file is assembled, tiny PATCHes, and NUL bytes. A PATCH never touches stored
bytes it does not own, and a failure keeps nothing behind and holds nothing locked."""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys


from server import create_app
from workers.pipeline.steps import download
from workers.pipeline.storage import LocalStorage
from workers.pipeline.uploads import chunks, store
from workers.queue.context import StepContext, Subject

from .conftest import REPO, wait_for
from .support.contract import assert_conforms
from .test_api import assert_error
from .test_uploads import TUS, live, meta  # noqa: F401 - fixture

OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}
MIN = chunks.MIN_CHUNK


def _create(client, length: int, **metadata) -> str:
    headers = {**TUS, "Upload-Length": str(length), **({"Upload-Metadata": meta(**metadata)} if metadata else {})}
    created = client.post("/public/uploads", headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    return created.headers["Location"]


def _slow_patch(base: str, path: str, *, offset: int, declared: int, first: bytes) -> socket.socket:
    """A PATCH that has sent ``first`` of its ``declared`` bytes and waits."""
    host, port = base.replace("http://", "").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall((f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
                  f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
                  f"Content-Length: {declared}\r\nConnection: close\r\n\r\n").encode() + first)
    return sock


def _finish(sock: socket.socket, rest: bytes) -> int:
    """Send the rest of a slow PATCH; its status code."""
    sock.sendall(rest)
    sock.settimeout(30)
    answer = b""
    while b"\r\n" not in answer:
        part = sock.recv(4096)
        if not part:
            break
        answer += part
    sock.close()
    return int(answer.split(b" ", 2)[1])


def _writer(db, upload_id: str):
    return db.execute("SELECT writer FROM uploads WHERE id = %s", (upload_id,)).fetchone()["writer"]


def _files(root) -> list:
    """Every file under storage's uploads/ folder (partial ones included)."""
    folder = root / chunks.PREFIX
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _assembled(storage, settings, db, token: str, tmp_path) -> bytes:
    """The download step's own assembly of the finished upload: the source it registers."""
    job = db.execute("SELECT q.video_id, v.source_url, q.options FROM video_processing_queue q JOIN videos v "
                     "ON v.id = q.video_id WHERE q.token = %s", (token,)).fetchone()
    video = Subject(job["video_id"], job["source_url"], job["options"], {})
    context = StepContext(step="download", checkpoints={}, options=job["options"],
                          settings=settings.replace(data_dir=tmp_path / "worker"), services={"storage": storage})
    output = download.run(video, context)
    return storage.get_bytes(output["key"])


def test_a_delete_during_a_patch_leaves_no_chunk_behind(live, db):
    client = live["client"]
    path = _create(client, 3 * MIN)
    upload_id = path.rsplit("/", 1)[1]
    slow = _slow_patch(live["url"], path, offset=0, declared=2 * MIN, first=b"a" * MIN)
    wait_for(lambda: _writer(db, upload_id), timeout=10, message="the PATCH to take the writer lease")
    assert client.delete(path, headers=TUS).status_code == 204
    assert _finish(slow, b"a" * MIN) in (404, 409)  # the upload is gone: nothing was published
    wait_for(lambda: _files(live["storage"].root) == [], timeout=10, message="no chunk object left")


def test_a_patch_that_outlived_its_lease_touches_no_bytes_it_does_not_own(live, db, media, tmp_path):
    client = live["client"]
    data = (media / "manifesto.mp4").read_bytes()
    half = len(data) // 2
    path = _create(client, len(data), filename="manifesto.mp4")
    upload_id = path.rsplit("/", 1)[1]
    stale = _slow_patch(live["url"], path, offset=0, declared=half, first=b"x" * MIN)
    wait_for(lambda: _writer(db, upload_id), timeout=10, message="the first PATCH to take the writer lease")
    db.execute("UPDATE uploads SET writer_until = now() - interval '1 second' WHERE id = %s", (upload_id,))
    # A second PATCH takes the lapsed lease and stores the real bytes at offset 0.
    taken = client.patch(path, data=data[:half], headers={**OCTETS, "Upload-Offset": "0"})
    assert taken.status_code == 204 and taken.headers["Upload-Offset"] == str(half)
    stored = sorted(_files(live["storage"].root))
    # The PATCH that lost its lease ends: refused, and the winner's bytes are untouched.
    assert _finish(stale, b"x" * (half - MIN)) == 409
    wait_for(lambda: sorted(_files(live["storage"].root)) == stored, timeout=10, message="the loser's object gone")
    # A PATCH at a stale offset is refused before a byte is stored.
    again = client.patch(path, data=b"y" * half, headers={**OCTETS, "Upload-Offset": "0"})
    assert_error(again, 409, "offset_mismatch")
    assert sorted(_files(live["storage"].root)) == stored
    done = client.patch(path, data=data[half:], headers={**OCTETS, "Upload-Offset": str(half)})
    assert done.status_code == 204
    source = _assembled(live["storage"], live["settings"], db, done.headers["ClipQueue-Token"], tmp_path)
    assert hashlib.sha256(source).hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_killed_api_process_lease_is_taken_over_as_soon_as_it_is_gone(live, db, database_url, tmp_path):
    path = _create(live["client"], 2 * MIN)
    upload_id = path.rsplit("/", 1)[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    program = ("import sys; from server import create_app; from werkzeug.serving import run_simple; "
               "run_simple('127.0.0.1', int(sys.argv[1]), create_app(), threaded=True)")
    env = {**os.environ, "DATABASE_URL": database_url, "CLIPQUEUE_DATA_DIR": str(live["settings"].data_dir),
           "CLIPQUEUE_LOG_LEVEL": "WARNING"}
    api = subprocess.Popen([sys.executable, "-c", program, str(port)], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _connects(port), timeout=60, message="the second API process to listen")
        slow = _slow_patch(f"http://127.0.0.1:{port}", path, offset=0, declared=2 * MIN, first=b"a" * MIN)
        wait_for(lambda: _writer(db, upload_id), timeout=10, message="the PATCH to take the writer lease")
        api.send_signal(signal.SIGKILL)
        api.wait(10)
        slow.close()
    finally:
        if api.poll() is None:
            api.kill()
            api.wait(10)
    # Its process is gone: the next PATCH takes the lease at once (not after the lease runs out).
    resumed = live["client"].patch(path, data=b"b" * 2 * MIN, headers={**OCTETS, "Upload-Offset": "0"})
    assert resumed.status_code == 204, resumed.get_data(as_text=True)
    wait_for(lambda: len(_files(live["storage"].root)) == 1, timeout=10, message="the dead writer's object gone")


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_many_small_patches_do_not_grow_the_upload_row_and_chunks_have_a_minimum(live, db):
    client = live["client"]
    path = _create(client, 12 * MIN + 7)
    upload_id = path.rsplit("/", 1)[1]

    def row_size():
        return db.execute("SELECT pg_column_size(u.*) AS n FROM uploads u WHERE id = %s", (upload_id,)).fetchone()["n"]

    assert client.patch(path, data=b"a" * MIN, headers={**OCTETS, "Upload-Offset": "0"}).status_code == 204
    first = row_size()
    for i in range(1, 12):
        assert client.patch(path, data=b"a" * MIN, headers={**OCTETS, "Upload-Offset": str(i * MIN)}).status_code == 204
    assert row_size() == first  # the chunk list lives beside the row, one row per chunk
    small = client.patch(path, data=b"a" * 6, headers={**OCTETS, "Upload-Offset": str(12 * MIN)})
    assert_error(small, 400, "chunk_too_small")  # not the last chunk: 6 of the 7 bytes left
    assert_conforms("/public/uploads/{upload_id}", "patch", small)
    last = client.patch(path, data=b"a" * 7, headers={**OCTETS, "Upload-Offset": str(12 * MIN)})
    assert last.status_code == 204 and last.headers["Upload-Offset"] == str(12 * MIN + 7)  # the last may be small
    other = _create(client, 3 * MIN)
    assert_error(client.patch(other, data=b"a" * (MIN - 1), headers={**OCTETS, "Upload-Offset": "0"}), 400,
                 "chunk_too_small")
    assert client.patch(other, data=b"a" * MIN, headers={**OCTETS, "Upload-Offset": "0"}).status_code == 204


def test_a_nul_in_upload_metadata_is_400_and_an_upload_id_of_nul_is_404(live):
    client = live["client"]
    for value in ("a\0b", "\0"):
        refused = client.post("/public/uploads", headers={**TUS, "Upload-Length": "10",
                                                          "Upload-Metadata": meta(filename=value)})
        assert_error(refused, 400, "invalid_metadata")
    assert_error(client.patch("/public/uploads/%00", data=b"x", headers={**OCTETS, "Upload-Offset": "0"}), 404,
                 "unknown_upload")
    assert_error(client.delete("/public/uploads/%00", headers=TUS), 404, "unknown_upload")
    assert client.head("/public/uploads/%00", headers=TUS).status_code == 404
    assert client.head("/public/uploads/a%00b", headers=TUS).status_code == 404


def test_hygiene_never_deletes_a_finished_upload_whose_video_is_not_assembled_yet(live, db, media, tmp_path):
    data = (media / "manifesto.mp4").read_bytes()
    path = _create(live["client"], len(data))
    done = live["client"].patch(path, data=data, headers={**OCTETS, "Upload-Offset": "0"})
    token = done.headers["ClipQueue-Token"]
    db.execute("UPDATE uploads SET expires_at = now() - interval '1 day'")
    assert chunks.prune_expired(db, live["storage"]) == 0
    assert db.execute("SELECT count(*) AS n FROM uploads").fetchone()["n"] == 1
    assert _assembled(live["storage"], live["settings"], db, token, tmp_path) == data


class FailingStorage(LocalStorage):
    """Local storage whose chunk writes fail (a storage outage) until ``healthy`` is set."""

    healthy = False

    def put_stream(self, key, blocks):
        if not self.healthy:
            next(iter(blocks))
            raise ConnectionError("the storage endpoint went away")
        return super().put_stream(key, blocks)


def test_a_failed_chunk_store_lets_the_next_patch_in_at_once(database_url, db, settings, tmp_path):
    storage = FailingStorage(tmp_path / "storage")
    app = create_app({"settings": settings.replace(data_dir=tmp_path / "data"), "database_url": database_url,
                      "storage": storage})
    try:
        client = app.test_client()
        path = _create(client, 2 * MIN)
        failed = client.patch(path, data=b"a" * 2 * MIN, headers={**OCTETS, "Upload-Offset": "0"})
        assert_error(failed, 503, "storage_unavailable")
        assert_conforms("/public/uploads/{upload_id}", "patch", failed)
        assert _writer(db, path.rsplit("/", 1)[1]) is None and _files(storage.root) == []
        storage.healthy = True
        assert client.patch(path, data=b"a" * 2 * MIN, headers={**OCTETS, "Upload-Offset": "0"}).status_code == 204
    finally:
        app.extensions["clipqueue"].pool.close()


def test_the_writer_lease_is_renewed_while_bytes_arrive_and_a_lost_one_keeps_nothing(live, db, monkeypatch):
    # a lease of 4 ms: pushed on with every block that arrives
    app_state = live["app"].extensions["clipqueue"]
    monkeypatch.setattr(app_state, "settings", app_state.settings.replace(upload_writer_lease_s=0.004))
    client = live["client"]
    path = _create(client, 3 * MIN)
    upload_id = path.rsplit("/", 1)[1]

    def lease():
        return db.execute("SELECT writer, writer_until FROM uploads WHERE id = %s", (upload_id,)).fetchone()

    slow = _slow_patch(live["url"], path, offset=0, declared=3 * MIN, first=b"a" * 1024)
    wait_for(lambda: lease()["writer"], timeout=10, message="the PATCH to take the writer lease")
    taken = lease()["writer_until"]
    slow.sendall(b"a" * MIN)
    wait_for(lambda: lease()["writer_until"] > taken, timeout=10, message="the lease to be pushed on")
    # Another writer takes the upload over (as after a lapsed lease): the next renewal fails,
    # the PATCH ends with 409 and leaves no object of its own.
    db.execute("UPDATE uploads SET writer = 'elsewhere/1/x', writer_key = NULL WHERE id = %s", (upload_id,))
    assert _finish(slow, b"a" * (2 * MIN - 1024)) == 409
    wait_for(lambda: _files(live["storage"].root) == [], timeout=10, message="the PATCH's own object gone")
    assert lease()["writer"] == "elsewhere/1/x"  # and it did not free the lease it no longer held


def test_eight_patches_at_once_at_one_offset_one_is_stored_and_nothing_else_is_left(live, db):
    from concurrent.futures import ThreadPoolExecutor

    import requests

    path = _create(live["client"], 2 * MIN)
    bodies = [bytes([65 + i]) * 2 * MIN for i in range(8)]

    def send(body):
        return requests.patch(live["url"] + path, data=body, timeout=30,
                              headers={**OCTETS, "Upload-Offset": "0"}).status_code

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, bodies))
    assert sorted(answers) == [204] + [409] * 7, answers
    [name] = _files(live["storage"].root)  # one object: the winner's, whole
    assert live["storage"].get_bytes(f"{chunks.PREFIX}/{name}") in bodies
