"""Uploads (tus) on a full disk, on a real small filesystem (a tmpfs): a PATCH is refused
with 507 when the disk lacks CLIPQUEUE_MIN_FREE_MB plus its length, needs at most its own
size on disk, keeps nothing and frees its writer lease when the disk fills under it; the
download step's assembly on a full disk is ``disk_full``, and the final failure drops the
chunks."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from server import create_app
from workers.pipeline.storage import LocalStorage
from workers.pipeline.uploads import chunks
from workers.queue import jobs as queue

from .conftest import wait_for
from .support.contract import assert_conforms
from .support.disks import fill, small_disk
from .test_api import assert_error
from .test_upload_faults import MIN, OCTETS, _create, _files, _finish, _slow_patch, _writer
from .test_uploads import TUS


@pytest.fixture
def tiny_disk(database_url, db, settings, tmp_path, monkeypatch):
    """The API with its storage (and TMPDIR) on a 4 MiB tmpfs."""
    with small_disk(tmp_path / "disk", 4 * 1024 * 1024) as disk:
        monkeypatch.setenv("TMPDIR", str(disk))
        run_settings = settings.replace(data_dir=tmp_path / "data", max_filesize_mb=16, min_free_mb=0.25)
        storage = LocalStorage(disk / "storage")
        app = create_app({"settings": run_settings, "database_url": database_url, "storage": storage})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield {"url": f"http://127.0.0.1:{server.server_port}", "client": app.test_client(), "disk": disk,
                   "storage": storage}
        finally:
            server.shutdown()
            app.extensions["clipqueue"].pool.close()


def test_a_full_disk_in_the_middle_of_a_patch_is_507_keeps_nothing_and_frees_the_lease(tiny_disk, db):
    client, disk = tiny_disk["client"], tiny_disk["disk"]
    path = _create(client, 2 * MIN)
    upload_id = path.rsplit("/", 1)[1]
    slow = _slow_patch(tiny_disk["url"], path, offset=0, declared=2 * MIN, first=b"a" * 1024)
    wait_for(lambda: _writer(db, upload_id), timeout=10, message="the PATCH to take the writer lease")
    filler = fill(disk)  # the disk fills up while the chunk streams in
    assert _finish(slow, b"a" * (2 * MIN - 1024)) == 507
    assert _files(tiny_disk["storage"].root) == []  # no partial object
    assert _writer(db, upload_id) is None  # the lease was released at once ...
    filler.unlink()
    retried = client.patch(path, data=b"b" * 2 * MIN, headers={**OCTETS, "Upload-Offset": "0"})
    assert retried.status_code == 204, retried.get_data(as_text=True)  # ... so the retry gets in


def test_a_patch_is_refused_with_507_when_the_disk_lacks_min_free_plus_its_length(tiny_disk, db):
    client, disk = tiny_disk["client"], tiny_disk["disk"]
    path = _create(client, 4 * MIN)
    fill(disk, leave=MIN + 256 * 1024)  # MIN plus CLIPQUEUE_MIN_FREE_MB (0.25 MB) free, give or take a page
    refused = client.patch(path, data=b"a" * 2 * MIN, headers={**OCTETS, "Upload-Offset": "0"})
    assert_error(refused, 507, "insufficient_storage")
    assert "disk space" in refused.get_json()["error"]["message"]
    assert_conforms("/public/uploads/{upload_id}", "patch", refused)
    assert _files(tiny_disk["storage"].root) == []
    assert client.head(path, headers=TUS).headers["Upload-Offset"] == "0"
    # The boundary, to the byte: free == min free + length passes; one byte short is refused.
    assert chunks.has_room(free=10 + 5, min_free=10, length=5)
    assert not chunks.has_room(free=10 + 5 - 1, min_free=10, length=5)


def test_a_patch_needs_at_most_its_own_size_on_disk(tiny_disk, db):
    client, disk = tiny_disk["client"], tiny_disk["disk"]
    size = 1024 * 1024
    path = _create(client, size)
    fill(disk, leave=size + 256 * 1024 + 64 * 1024)  # room for the chunk once (and the minimum), not twice
    done = client.patch(path, data=b"a" * size, headers={**OCTETS, "Upload-Offset": "0"})
    assert done.status_code == 204, done.get_data(as_text=True)


def test_assembling_on_a_full_disk_is_disk_full_and_the_final_failure_drops_the_chunks(database_url, db, settings,
                                                                                       tmp_path, media):
    from workers.pipeline.services import build_services
    from workers.pipeline.table import STEPS, default_step_table
    from workers.queue.worker import Worker

    data = (media / "manifesto.mp4").read_bytes()
    # The data folder (storage and work files) on a disk with room for the upload once, not twice.
    with small_disk(tmp_path / "disk", len(data) + 320 * 1024) as disk:
        run_settings = settings.replace(data_dir=disk, max_filesize_mb=8, min_free_mb=0.125, max_retries=0)
        app = create_app({"settings": run_settings, "database_url": database_url})
        try:
            client = app.test_client()
            path = _create(client, len(data))
            done = client.patch(path, data=data, headers={**OCTETS, "Upload-Offset": "0"})
            assert done.status_code == 204, done.get_data(as_text=True)
        finally:
            app.extensions["clipqueue"].pool.close()
        token = done.headers["ClipQueue-Token"]
        assert len(_files(disk / "storage")) == 1
        Worker(database_url, default_step_table(), steps=STEPS, settings=run_settings,
               services=build_services(run_settings), burst=True).run()
        job = queue.job_by_token(db, token)
        assert (job["status"], job["failure_cause"]) == ("failed", "disk_full"), job["failure_details"]
        assert not [p for p in (disk / "work").rglob("*") if p.is_file()]  # no partial file left
        assert _files(disk / "storage") == []  # the final failure dropped the chunks
