"""Upload throughput and the API's memory during a big upload (tus, loopback); or the cost
of many small PATCHes.

    .venv/bin/python -m bench.uploads [--mb 2048] [--chunk-mb 8]
    .venv/bin/python -m bench.uploads --patches 6000 [--patch-bytes 65536]

Starts the API under gunicorn (the repo's gunicorn.py, one worker process) on the embedded
Postgres (or DATABASE_URL), then uploads ``--mb`` megabytes of random bytes with the real
tuspy client in ``--chunk-mb`` chunks, sampling the gunicorn worker's resident memory
(psutil) while it runs. Prints MB/s next to a reference measured in the same run: a plain
loopback copy of the same bytes through a socket (what the machine can move at all), and
the memory at the start, the peak and the end (flat: it does not grow with the file).

With ``--patches N`` it sends one upload as N PATCHes of ``--patch-bytes`` each, one after
another on one keep-alive connection, and prints the time per PATCH over the first and the
last tenth (a PATCH that costs more as the upload grows shows as a ratio above 1) and the
size of the upload's row and of the uploads tables at the end. A PATCH the server refuses
(a chunk under its minimum) ends the run with its status.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


class RandomFile(io.RawIOBase):
    """``size`` bytes of one random MB, repeated: no disk, no memory growth on the client."""

    def __init__(self, size: int):
        self.size, self.pos, self.block = size, 0, os.urandom(1024 * 1024)

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        self.pos = offset if whence == 0 else (self.pos + offset if whence == 1 else self.size + offset)
        return self.pos

    def tell(self):
        return self.pos

    def readinto(self, buffer):
        n = min(len(buffer), self.size - self.pos)
        start = self.pos % len(self.block)
        for i in range(0, n, len(self.block)):
            part = self.block[start:][: n - i] if i == 0 else self.block[: n - i]
            buffer[i:i + len(part)] = part
        self.pos += n
        return n


def loopback_reference(size: int) -> float:
    """MB/s of pushing ``size`` bytes through a loopback TCP socket to a reader that drops them."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def drain():
        conn, _ = server.accept()
        while conn.recv(1 << 20):
            pass
        conn.close()

    thread = threading.Thread(target=drain)
    thread.start()
    block = os.urandom(1 << 20)
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(size >> 20):
            sock.sendall(block)
    thread.join()
    server.close()
    return (size / 1e6) / (time.perf_counter() - started)


def small_patches(port: int, database_url: str, count: int, each: int) -> None:
    """N PATCHes of ``each`` bytes, timed one by one; then the row and table sizes."""
    import http.client
    import statistics

    import psycopg

    tus = {"Tus-Resumable": "1.0.0"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/public/uploads", headers={**tus, "Upload-Length": str(count * each)})
    created = conn.getresponse()
    created.read()
    path = created.getheader("Location")
    body, times, refused = b"x" * each, [], None
    for i in range(count):
        started = time.perf_counter()
        conn.request("PATCH", path, body=body, headers={**tus, "Upload-Offset": str(i * each),
                                                        "Content-Type": "application/offset+octet-stream"})
        answer = conn.getresponse()
        text = answer.read()
        times.append(time.perf_counter() - started)
        if answer.status != 204:
            refused = f"PATCH {i + 1} answered {answer.status}: {text.decode(errors='replace')[:200]}"
            break
    conn.close()
    with psycopg.connect(database_url) as db:
        row = db.execute("SELECT pg_column_size(u.*) FROM uploads u WHERE id = %s", (path.rsplit("/", 1)[1],)).fetchone()
        tables = db.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                            "WHERE c.relname IN ('uploads', 'upload_chunks') AND c.relkind = 'r'").fetchone()
    tenth = max(1, len(times) // 10)
    first, last = statistics.median(times[:tenth]) * 1e3, statistics.median(times[-tenth:]) * 1e3
    print(f"{len(times)} PATCHes of {each} bytes ({sum(times):.1f} s): median {first:.2f} ms over the first tenth, "
          f"{last:.2f} ms over the last (last / first = {last / first:.2f})")
    print(f"the upload's row: {row[0]:,} bytes; the uploads tables: {int(tables[0]):,} bytes")
    if refused:
        print(refused)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=2048)
    parser.add_argument("--chunk-mb", type=int, default=8)
    parser.add_argument("--patches", type=int, default=0, help="send N small PATCHes instead (see above)")
    parser.add_argument("--patch-bytes", type=int, default=65536)
    args = parser.parse_args(argv)
    size = args.mb * 1024 * 1024
    if args.patches:
        args.mb = max(args.mb, (args.patches * args.patch_bytes >> 20) + 1)
    from tusclient import client as tus

    work = Path(tempfile.mkdtemp(prefix="clipqueue-upload-bench-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CLIPQUEUE_DATA_DIR": str(work / "data"), "CLIPQUEUE_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "1", "CLIPQUEUE_MAX_FILESIZE_MB": str(args.mb + 1), "CLIPQUEUE_LOG_LEVEL": "WARNING",
           "CLIPQUEUE_ACCESS_LOG": str(work / "access.log"), "TMPDIR": str(work)}
    api = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.py"], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=open(work / "api.log", "wb"))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or api.poll() is not None:
                    raise RuntimeError((work / "api.log").read_text()[-2000:])
                time.sleep(0.2)
        if args.patches:
            from workers.queue.embedded import embedded_database_url

            small_patches(port, os.environ.get("DATABASE_URL") or embedded_database_url(work / "data"), args.patches,
                          args.patch_bytes)
            return 0
        worker = next(iter(psutil.Process(api.pid).children()))
        reference = loopback_reference(min(size, 1 << 30))
        start_rss = worker.memory_info().rss
        samples, done = [start_rss], threading.Event()

        def sample():
            while not done.wait(0.05):
                samples.append(worker.memory_info().rss)

        sampler = threading.Thread(target=sample)
        sampler.start()
        uploader = tus.TusClient(f"http://127.0.0.1:{port}/public/uploads").uploader(
            file_stream=RandomFile(size), chunk_size=args.chunk_mb * 1024 * 1024,
            metadata={"filename": "bench.bin"})
        started = time.perf_counter()
        uploader.upload()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        end_rss = worker.memory_info().rss
    finally:
        api.terminate()
        api.wait(30)
        from workers.queue.embedded import stop_embedded

        if not os.environ.get("DATABASE_URL"):
            stop_embedded(work / "data")
        shutil.rmtree(work, ignore_errors=True)  # the chunks of a 2 GB upload
    rate = (size / 1e6) / seconds
    mb = 1024 * 1024
    print(f"upload: {args.mb} MB in {args.chunk_mb} MB chunks, {seconds:.1f} s: {rate:.0f} MB/s "
          f"(target >= 100 MB/s: {'met' if rate >= 100 else 'NOT met'})")
    print(f"reference: a plain loopback socket moves {reference:.0f} MB/s here; upload / reference = "
          f"{rate / reference:.2f}")
    print(f"API worker memory (RSS): start {start_rss / mb:.0f} MB, peak {max(samples) / mb:.0f} MB, "
          f"end {end_rss / mb:.0f} MB ({len(samples)} samples); peak - start = {(max(samples) - start_rss) / mb:.0f} MB "
          f"for a {args.mb} MB file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
